"""Make ``docs/transport.png``: transfer time against bytes on the 4G profile, the ideal
arithmetic beside TCP simulated with ns-3 (new and warm connection, lossless, and a new
connection with 1 % loss: the median and the 10th-90th percentile band of 20 draws).

Run: ``python docs/transport_figure.py`` (about half a minute; results go to the user cache).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from splitbench.network import NetworkConfig, uplink_ms
from splitbench.network.tcp import simulate, transfers

OUT = Path(__file__).with_name("transport.png")
UP, RTT = 6.3, 55.25  # the built-in 4G profile's uplink and RTT


def main() -> None:
    sizes = np.unique(np.geomspace(2_000, 4_000_000, 16).astype(int))
    new = NetworkConfig("new", UP, UP, RTT, transport="tcp")
    warm = NetworkConfig("warm", UP, UP, RTT, transport="tcp", connection="warm")
    lossy = NetworkConfig("lossy", UP, UP, RTT, transport="tcp", loss=0.01, draws=20)
    plan = {(c.name, int(n)): transfers(c, "up", int(n)) for c in (new, warm, lossy) for n in sizes}
    done = simulate(t for ts in plan.values() for t in ts)

    def curve(name: str, q: float) -> np.ndarray:
        return np.array([np.percentile([done[t] for t in plan[(name, int(n))]], q) for n in sizes])

    kb = sizes / 1024
    fig, ax = plt.subplots(figsize=(7.5, 4.6), dpi=110)
    ax.plot(kb, [uplink_ms(n, new) for n in sizes], "k--", label="ideal: RTT + bytes / rate")
    ax.plot(kb, curve("new", 50), "-o", ms=3, label="TCP, new connection (handshake, slow start)")
    ax.plot(kb, curve("warm", 50), "-o", ms=3, label="TCP, warm connection (window open)")
    ax.plot(kb, curve("lossy", 50), "-o", ms=3, color="C3", label="TCP, new, 1 % loss: median")
    ax.fill_between(
        kb,
        curve("lossy", 10),
        curve("lossy", 90),
        color="C3",
        alpha=0.2,
        label="TCP, new, 1 % loss: 10th-90th percentile of 20 draws",
    )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("bytes sent (KB)")
    ax.set_ylabel("transfer time (ms)")
    ax.set_title(f"Uplink of the built-in 4G profile ({UP} Mbit/s, RTT {RTT} ms), ns-3 3.44")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    fig.savefig(OUT)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
