"""Predictions over bouts: each bout's profile is one value per split, summarised with an
interval; profile-then-verify measures every split whose predicted interval overlaps the
predicted best, not just the point winner."""

from __future__ import annotations

import math
from pathlib import Path

from splitbench.cutplan import plan_cuts
from splitbench.graph import load_graph
from splitbench.network import NetworkConfig
from splitbench.predict import Prediction
from splitbench.stats.predicted import predicted_parts
from splitbench.sweep_plan import best_predicted_splits

# A link so fast the network hardly matters: the verdict is the parts' times.
LAN = NetworkConfig("lan", uplink_mbps=100_000.0, downlink_mbps=100_000.0, rtt_ms=0.0)


def _bouts(heads: list[list[float]], tails: list[list[float]]) -> list[Prediction]:
    return [Prediction(list(h), list(t), source="test") for h, t in zip(heads, tails, strict=True)]


def test_predicted_parts_summarise_bouts_with_an_interval() -> None:
    # 3 operators, split k's head over 5 bouts; the tail predicted alike.
    heads = [[0.0, 1.0 + b * 0.1, 2.0, 3.0] for b in range(5)]
    tails = [[3.0, 2.0, 1.0, 0.0] for _ in range(5)]
    parts = predicted_parts(_bouts(heads, tails), "client", 3)
    assert parts[0] is not None and parts[0].estimate == 0.0  # split 0 has no head
    one = parts[1]
    assert one is not None and math.isclose(one.estimate, 1.2)  # the median over bouts
    assert one.lo < one.estimate < one.hi and one.n_bouts == 5
    assert parts[2] is not None and parts[2].lo == parts[2].hi == 2.0  # the same every bout


def test_profile_then_verify_takes_every_split_inside_the_best_interval(
    chain_tflite: Path,
) -> None:
    graph = load_graph(chain_tflite)
    n = graph.num_operators
    assert n >= 3
    cuts = plan_cuts(graph)
    # End to end (client + server) per split: split 1 best by its point (10.0), split 2 within
    # its noise (10.1, bouts spread ±1), the rest far above.
    totals = [30.0, 10.0, 10.1] + [40.0] * (n - 2)
    spread = [0.0, -1.0, 1.0, -0.5, 0.5, 0.0]
    heads, tails = [], []
    for d in spread:
        head = [0.0] + [totals[k] / 2 + (d if k in (1, 2) else 0.0) for k in range(1, n + 1)]
        head[n] = totals[n]
        tail = [totals[k] - head[k] if k < n else 0.0 for k in range(n + 1)]
        tail[0] = totals[0]
        heads.append(head)
        tails.append(tail)
    client = _bouts(heads, tails)
    chosen = best_predicted_splits(graph, cuts, [client], client, [LAN])
    assert chosen == [1, 2], chosen
    # Without bout-to-bout noise the same points leave only the winner.
    quiet = _bouts([heads[0]] * 6, [tails[0]] * 6)
    assert best_predicted_splits(graph, cuts, [quiet], quiet, [LAN]) == [1]
