"""Network profiles and the latency model that turns measured times and sizes into end-to-end
latency per split.

* :mod:`.config`: profiles read from TOML and checked (rates, RTT, loss, transport);
* :mod:`.ideal`: the arithmetic (``transport = "ideal"``), what these re-exports compute;
* :mod:`.tcp`: TCP transfers simulated with ns-3 (``transport = "tcp"``), cached per size;
* :mod:`.ns3_child`: the simulation itself, in a child process.

Callers that do not know about TCP keep using :func:`e2e_ms`, :func:`transfer_ms`,
:func:`delivery_ms` and :func:`load_network_configs` as before.
"""

from splitbench.network.config import (
    DEFAULT_NETWORKS_FILE,
    NetworkConfig,
    Quantiles,
    default_networks_path,
    load_network_configs,
)
from splitbench.network.ideal import delivery_ms, downlink_ms, e2e_ms, transfer_ms, uplink_ms

__all__ = [
    "DEFAULT_NETWORKS_FILE",
    "NetworkConfig",
    "Quantiles",
    "default_networks_path",
    "delivery_ms",
    "downlink_ms",
    "e2e_ms",
    "load_network_configs",
    "transfer_ms",
    "uplink_ms",
]
