"""The decision map on a constructed split table whose crossovers are worked out by hand.

Two operators, no output (downlink 0 ms), RTT 10 ms; at uplink u Mbit/s:

* split 0: client 0, server 20, 10,000 B up: e2e = 30 + 80/u
* split 1: client 10 s, server 10, 1,000 B up: e2e = 20 + 10 s + 8/u
* split 2: client 40 s, nothing crosses: e2e = 40 s

For a client as measured (s = 1), split 1 beats all on the client above 0.8 Mbit/s and split 0
never wins. For a client three times slower, split 1 wins from 8/70 = 0.114 Mbit/s and all on
the server (split 0) from 3.6 Mbit/s (72/u < 20).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from splitbench.network import NetworkConfig, e2e_ms
from splitbench.report.decision_map import decision_map, default_uplinks

NET = NetworkConfig("lab", uplink_mbps=5.0, downlink_mbps=100.0, rtt_ms=10.0)


def _table(server_1: float = 10.0) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "split": [0, 1, 2],
            "on_client": [0, 1, 2],
            "on_server": [2, 1, 0],
            "client_ms": [0.0, 10.0, 40.0],
            "server_ms": [20.0, server_1, 0.0],
            "intermediate_bytes": [10_000, 1_000, 0],
            "output_bytes": [0, 0, 0],
        }
    )


def test_known_crossovers() -> None:
    uplinks = np.array([0.1, 0.5, 0.79, 0.81, 2.0, 3.5, 3.7, 100.0])
    m = decision_map(_table(), NET, uplinks=uplinks, slowdowns=np.array([1.0, 3.0]))
    assert m.best.tolist() == [
        [2, 2, 2, 1, 1, 1, 1, 1],  # as measured: all on the client below 0.8 Mbit/s
        [2, 1, 1, 1, 1, 1, 0, 0],  # 3x slower: split 1 from 0.114, all on server from 3.6
    ]
    # At 100 Mbit/s, as measured: split 1 (30.08 ms) ahead of split 0 (30.8 ms).
    assert m.best_ms[0, -1] == pytest.approx(30.08)
    assert m.runner_up[0, -1] == 0
    assert m.margin_ms[0, -1] == pytest.approx(0.72)
    # At 0.1 Mbit/s, 3x slower: all on the client (120 ms), split 1 (130 ms) the runner-up.
    assert (m.best_ms[1, 0], m.runner_up[1, 0], m.margin_ms[1, 0]) == pytest.approx(
        (120.0, 1, 10.0)
    )
    # Every best time is the ideal arithmetic's e2e of that split with the client scaled.
    at = NetworkConfig("lab", uplink_mbps=3.7, downlink_mbps=100.0, rtt_ms=10.0)
    expected = e2e_ms(0.0, 20.0, 10_000, 0, at, split=0, num_operators=2)
    assert m.best_ms[1, 6] == pytest.approx(expected)
    assert m.what_if.startswith("What-if on measured data") and "lab" in m.what_if


def test_unmeasured_split_is_left_out() -> None:
    m = decision_map(
        _table(server_1=math.nan), NET, uplinks=np.array([100.0]), slowdowns=np.array([1.0])
    )
    assert m.best.tolist() == [[0]] and m.runner_up.tolist() == [[2]]
    assert m.best_ms[0, 0] == pytest.approx(30.8)


def test_nothing_measured_has_no_best() -> None:
    table = _table().assign(client_ms=math.nan)
    m = decision_map(table, NET, uplinks=np.array([1.0]), slowdowns=np.array([1.0]))
    assert m.best.tolist() == [[-1]] and math.isnan(m.best_ms[0, 0])
    assert math.isnan(m.margin_ms[0, 0])


def test_default_axes_start_at_a_meaningful_rate() -> None:
    u = default_uplinks()
    assert u[0] == pytest.approx(0.1) and u[-1] == pytest.approx(10_000.0)
    # A configured network outside the range widens it to whole decades.
    assert default_uplinks(0.03, 50_000)[[0, -1]] == pytest.approx([0.01, 100_000.0])
    m = decision_map(_table(), NET)
    assert m.best.shape == (25, len(u))
    assert m.slowdowns[0] == pytest.approx(1.0) and m.slowdowns[-1] == pytest.approx(30.0)
