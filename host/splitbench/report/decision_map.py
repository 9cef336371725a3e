"""The decision map: which split wins for every uplink bandwidth and every client speed at once.

A run measures one client. The question a deployment asks (the Neurosurgeon question: where to
cut for *this* phone on *this* link) has a different answer for a phone ten times slower or a
link a hundred times faster. The map answers it for all of them as a what-if on the measured
data: for an uplink rate ``u`` and a client ``s`` times slower than the measured one,

    e2e(k) = s * client(k) + RTT + intermediate(k) / u + server(k) + output / downlink

(no network term at split N), with the server's times as measured and the network by the ideal
arithmetic of :func:`splitbench.network.ideal.e2e_ms`, using one profile's downlink and RTT.
The best split is the lowest e2e, ties to the lowest split (as
:func:`splitbench.report.split_table.best_splits`); the margin is the runner-up's e2e minus the
best's. A split whose client or server part was not measured is left out, never guessed.

Scaling every client time by one factor assumes the slower phone is uniformly slower; a real
phone can be slower on some operators than on others. The map says so in its label.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from splitbench.network import NetworkConfig, e2e_ms, transfer_ms

# 0.1 Mbit/s (a poor 2G/EDGE or NB-IoT link) to 10 Gbit/s (a wired 10 GbE server room): every
# link a phone or an edge device can be on.
UPLINK_RANGE_MBPS = (0.1, 10_000.0)
UPLINKS_PER_DECADE = 8
SLOWDOWN_RANGE = (1.0, 30.0)
SLOWDOWN_POINTS = 25

WHAT_IF = (
    "What-if on measured data: the best split if the client were s times slower than the "
    "measured one (every client time multiplied by s), with the server's measured times and "
    "the ideal network arithmetic at uplink u and {network}'s downlink "
    "({downlink:g} Mbit/s) and RTT ({rtt:g} ms)."
)


@dataclass(frozen=True)
class DecisionMap:
    """Arrays indexed ``[slowdown, uplink]``; ``best`` and ``runner_up`` are split indices
    (-1 where no split is known), the times in ms (NaN where unknown)."""

    network: str
    uplinks: np.ndarray
    slowdowns: np.ndarray
    best: np.ndarray
    best_ms: np.ndarray
    runner_up: np.ndarray
    margin_ms: np.ndarray
    num_operators: int
    what_if: str


def default_uplinks(lo: float | None = None, hi: float | None = None) -> np.ndarray:
    """Log-spaced uplink rates over whole decades covering ``UPLINK_RANGE_MBPS`` (and ``lo`` /
    ``hi`` when given, e.g. a configured network outside it)."""
    low = min(UPLINK_RANGE_MBPS[0], lo if lo is not None else np.inf)
    high = max(UPLINK_RANGE_MBPS[1], hi if hi is not None else 0.0)
    a, b = int(np.floor(np.log10(low))), int(np.ceil(np.log10(high)))
    return np.logspace(a, b, (b - a) * UPLINKS_PER_DECADE + 1)


def default_slowdowns() -> np.ndarray:
    return np.geomspace(*SLOWDOWN_RANGE, SLOWDOWN_POINTS)


def decision_map(
    table: pd.DataFrame,
    cfg: NetworkConfig,
    *,
    uplinks: np.ndarray | None = None,
    slowdowns: np.ndarray | None = None,
) -> DecisionMap:
    """The best split, its end to end and its margin to the runner-up for every (client
    slowdown, uplink rate), from a split table (``split``, ``on_client``, ``on_server``,
    ``client_ms``, ``server_ms``, ``intermediate_bytes``, ``output_bytes``) and the downlink and
    RTT of ``cfg``."""
    uplinks = default_uplinks() if uplinks is None else np.asarray(uplinks, dtype=float)
    slowdowns = default_slowdowns() if slowdowns is None else np.asarray(slowdowns, dtype=float)
    if (uplinks <= 0).any() or (slowdowns <= 0).any():
        raise ValueError("uplink rates and client slowdowns must be > 0")
    n = int(table["on_client"].iloc[0]) + int(table["on_server"].iloc[0])

    def col(name: str) -> np.ndarray:
        return pd.to_numeric(table[name], errors="coerce").to_numpy(dtype=float)

    splits = table["split"].astype(int).to_numpy()
    client, server = col("client_ms"), col("server_ms")
    inter, output = col("intermediate_bytes"), col("output_bytes")
    # e2e_ms is linear in the client time and in 1/uplink: the split's fixed part (RTT, server,
    # downlink; nothing at split N) comes from e2e_ms with no client time and no cut data, the
    # cut's transfer_ms per uplink is added where the split uses the network, and s * client
    # for every slowdown s.
    fixed = np.array(
        [
            e2e_ms(0.0, server[j], 0.0, output[j], cfg, split=int(k), num_operators=n)
            for j, k in enumerate(splits)
        ]
    )
    networked = splits != n
    sent = np.array([transfer_ms(inter, float(u)) for u in uplinks]).reshape(len(uplinks), -1)
    rest = fixed[None, :] + np.where(networked[None, :], sent, 0.0)
    e2e = slowdowns[:, None, None] * client[None, None, :] + rest[None, :, :]
    e2e = np.where(np.isnan(e2e), np.inf, e2e)
    # Stable sort on (e2e, split): ties go to the lowest split.
    order = np.argsort(splits, kind="stable")
    e2e, ordered = e2e[:, :, order], splits[order]
    rank = np.argsort(e2e, axis=2, kind="stable")
    first = np.take_along_axis(e2e, rank[:, :, :1], axis=2)[:, :, 0]
    best = np.where(np.isfinite(first), ordered[rank[:, :, 0]], -1)
    if len(splits) > 1:
        second = np.take_along_axis(e2e, rank[:, :, 1:2], axis=2)[:, :, 0]
        runner = np.where(np.isfinite(second), ordered[rank[:, :, 1]], -1)
    else:
        second = np.full_like(first, np.inf)
        runner = np.full(first.shape, -1)
    first = np.where(np.isfinite(first), first, np.nan)
    margin = np.where(np.isfinite(second), second - first, np.nan)
    return DecisionMap(
        cfg.name, uplinks, slowdowns, best, first, runner, margin, n, what_if_label(cfg)
    )


def what_if_label(cfg: NetworkConfig) -> str:
    """The sentence every map carries: what was measured and what is assumed."""
    return WHAT_IF.format(network=cfg.name, downlink=cfg.downlink_mbps, rtt=cfg.rtt_ms)
