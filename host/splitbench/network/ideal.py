"""The ideal transport: end-to-end latency as arithmetic on the measured times and sizes.

    e2e(k) = client(k) + RTT + intermediate(k) / uplink + server(k) + output / downlink

with one exception: at split k = N every operator runs on the phone, nothing crosses the
network, and e2e(N) = client(N). (At k = 0 the "intermediate" data is the model input, which
the phone uploads — the seeds' anchor "all on the network" includes that upload.)

This is what every profile with ``transport = "ideal"`` uses, and the ``e2e_ideal_ms_<network>``
comparison column of a ``tcp`` profile. Rates are the profile's medians.
"""

from __future__ import annotations

from splitbench.network.config import NetworkConfig


def transfer_ms(nbytes: float, mbps: float) -> float:
    """Milliseconds to send ``nbytes`` at ``mbps`` Mbit/s (1 Mbit = 10^6 bit), no overhead."""
    if mbps <= 0:
        raise ValueError(f"rate must be > 0 Mbit/s, got {mbps}")
    return nbytes * 8.0 / (mbps * 1e6) * 1e3


def e2e_ms(
    client_ms: float,
    server_ms: float,
    intermediate_bytes: float,
    output_bytes: float,
    cfg: NetworkConfig,
    *,
    split: int,
    num_operators: int,
) -> float:
    """End-to-end latency of one inference cut at ``split``, by the ideal arithmetic.

    client + RTT + intermediate/uplink + server + output/downlink; at ``split == num_operators``
    (all on the phone) there is no network term and the result is ``client_ms``. NaN inputs
    (a part that could not be measured) propagate to NaN: an unknown is never a zero.
    """
    if not 0 <= split <= num_operators:
        raise ValueError(f"split {split} outside 0..{num_operators}")
    if split == num_operators:
        return float(client_ms)
    return (
        float(client_ms)
        + uplink_ms(intermediate_bytes, cfg)
        + float(server_ms)
        + downlink_ms(output_bytes, cfg)
    )


def uplink_ms(intermediate_bytes: float, cfg: NetworkConfig) -> float:
    """The uplink leg of a split inference: RTT + intermediate/uplink (the RTT is charged once,
    here, for the request/response exchange). Not charged at split N — see :func:`e2e_ms`."""
    return cfg.rtt_ms + transfer_ms(intermediate_bytes, cfg.uplink_mbps)


def downlink_ms(output_bytes: float, cfg: NetworkConfig) -> float:
    """The result's way back: output/downlink. Not charged at split N — see :func:`e2e_ms`."""
    return transfer_ms(output_bytes, cfg.downlink_mbps)


def delivery_ms(head_bytes: float, cfg: NetworkConfig) -> float:
    """Time for the server to deliver the head model to the phone: RTT + head/downlink.

    An empty head (split 0) needs no delivery at all, so it costs 0, not one RTT.
    """
    if head_bytes == 0:
        return 0.0
    return cfg.rtt_ms + transfer_ms(head_bytes, cfg.downlink_mbps)
