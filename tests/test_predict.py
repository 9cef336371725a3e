"""The predicted timing method, on a real published op profile from a real phone.

The profile (benchmark_csv/poco_x3_mnv3_seg_float_cpu_stdout.txt) and the operator list of the
model it was made with (benchmark_csv/mnv3_seg_float.graph.json) are published data; the graph
carries tensor names only, so every tensor is given one float32 element here — which is what the
cut-size arithmetic below assumes, nothing more.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from published_graph import DATA, graph_from_json
from splitbench.cutplan import plan_cuts
from splitbench.errors import SplitbenchError
from splitbench.graph import ModelGraph
from splitbench.measure.types import PartMeasurement, RunSettings
from splitbench.network import NetworkConfig, e2e_ms
from splitbench.predict import (
    NoPrediction,
    Prediction,
    calibrate,
    from_unit_groups,
    predict_from_measurement,
)
from splitbench.sweep_plan import best_predicted_splits
from splitbench_collect.op_profile import parse_run_order

CPU_STDOUT = DATA / "poco_x3_mnv3_seg_float_cpu_stdout.txt"


@pytest.fixture(scope="module")
def graph() -> ModelGraph:
    return graph_from_json(DATA / "mnv3_seg_float.graph.json")


def _whole(evidence: list[str], method: str = "benchmark_model") -> PartMeasurement:
    return PartMeasurement(method=method, runtime="r", settings=RunSettings(), evidence=evidence)


def test_prediction_sums_run_order_rows_by_operator_index(graph: ModelGraph) -> None:
    pred = predict_from_measurement(graph, _whole([str(CPU_STDOUT)]), DATA)
    assert isinstance(pred, Prediction)
    n = graph.num_operators
    assert n == 77
    rows = [r for r in parse_run_order(CPU_STDOUT.read_text()) if r.op_indices]
    per_op = {r.op_indices[0]: r.per_run_ms for r in rows}
    assert pred.head_ms[0] == 0.0
    assert pred.head_ms[1] == pytest.approx(1.502)  # CONV_2D :0 avg ms in the published table
    assert pred.head_ms[10] == pytest.approx(sum(per_op[i] for i in range(10)))
    total = sum(per_op.values())
    for k in (0, 10, 40, n):
        assert pred.head_ms[k] + pred.tail_ms[k] == pytest.approx(total)


def test_runner_without_profile_gives_a_reason_not_a_number(graph: ModelGraph, tmp_path) -> None:
    stdout = tmp_path / "kit.stdout"
    stdout.write_text("INFO: Initialized session in 1.2ms.\ncount=5 first=10 curr=9 min=9\n")
    pred = predict_from_measurement(graph, _whole([str(stdout)], "litert-interpreter"), tmp_path)
    assert isinstance(pred, NoPrediction)
    assert "per-operator profile" in pred.reason and "--benchmark-binary" in pred.reason


def test_failed_whole_run_gives_its_error(graph: ModelGraph) -> None:
    whole = _whole([str(CPU_STDOUT)])
    whole.error = "unresolved custom operator X"
    pred = predict_from_measurement(graph, whole, DATA)
    assert isinstance(pred, NoPrediction) and "unresolved custom operator X" in pred.reason


def test_profile_then_verify_picks_the_predicted_best_split_per_network(graph: ModelGraph) -> None:
    pred = predict_from_measurement(graph, _whole([str(CPU_STDOUT)]), DATA)
    assert isinstance(pred, Prediction)
    cuts = plan_cuts(graph)
    n = graph.num_operators
    # a server ten times faster than the phone: the same profile scaled is a stand-in server
    server = Prediction(
        head_ms=[None if v is None else v / 10 for v in pred.head_ms],
        tail_ms=[None if v is None else v / 10 for v in pred.tail_ms],
        source="scaled",
    )
    slow = NetworkConfig("slow", uplink_mbps=0.001, downlink_mbps=0.001, rtt_ms=500.0)
    fast = NetworkConfig("fast", uplink_mbps=1000.0, downlink_mbps=1000.0, rtt_ms=0.0)
    chosen = best_predicted_splits(graph, cuts, [[pred]], [server], [slow, fast])  # one bout

    def total(k: int, cfg: NetworkConfig) -> float:
        head = 0.0 if k == 0 else pred.head_ms[k]
        tail = 0.0 if k == n else server.tail_ms[k]
        return e2e_ms(
            head, tail, cuts[k].nbytes, 4 * len(graph.outputs), cfg, split=k, num_operators=n
        )

    expected = {min(range(n + 1), key=lambda k, c=cfg: total(k, c)) for cfg in (slow, fast)}
    assert chosen == sorted(expected)
    assert n in chosen  # on a 1 kbit/s link with 500 ms RTT nothing beats staying on the phone
    assert 0 in chosen  # on a free link the 10x server wins with everything


def test_profile_then_verify_needs_networks(graph: ModelGraph) -> None:
    pred = predict_from_measurement(graph, _whole([str(CPU_STDOUT)]), DATA)
    assert isinstance(pred, Prediction)
    with pytest.raises(SplitbenchError, match="network"):
        best_predicted_splits(graph, plan_cuts(graph), [pred], pred, [])


def test_calibration_removes_a_per_kernel_profiling_cost_from_a_tiny_tail() -> None:
    # 40 kernels; profiling adds 20 us to each. The whole model really takes the true sum.
    true = [1.0] * 37 + [0.004, 0.003, 0.003]  # a tiny tail of three kernels: 0.010 ms
    profiled = [t + 0.020 for t in true]
    groups = [((i,), ms, f"k{i}") for i, ms in enumerate(profiled)]
    raw = from_unit_groups(groups, 40, Path("p"), "")
    assert raw.tail_ms[37] == pytest.approx(0.070)  # 7x the true tail
    pred = from_unit_groups(groups, 40, Path("p"), "", measured_ms=sum(true))
    assert pred.tail_ms[37] == pytest.approx(0.010)
    assert pred.head_ms[40] == pytest.approx(sum(true))
    assert "-20.0 us per kernel" in pred.note


def test_a_profile_far_above_the_measurement_is_scaled_beyond_the_cheapest_kernel() -> None:
    # The whole model measured at half the profile: a per-kernel constant of -2 ms would take
    # the 0.01 ms kernel below nothing. It stops at -0.01 ms; the rest is a scale factor.
    times = [5.0, 0.01, 0.02, 3.0]
    cal = calibrate(times, measured_ms=4.0)
    assert cal is not None and cal.per_kernel_ms == pytest.approx(-0.01)
    corrected = [cal.apply(t) for t in times]
    assert corrected[1] == 0.0 and corrected[2] > 0 and sum(corrected) == pytest.approx(4.0)
    assert corrected[0] / corrected[3] == pytest.approx(4.99 / 2.99)
    assert "then x" in cal.note
    assert calibrate([1.0], None) is None and calibrate([], 3.0) is None


def test_benchmark_model_run_order_is_calibrated_to_the_measured_average(
    graph: ModelGraph,
) -> None:
    evidence = [str(DATA / "poco_x3_mnv3_seg_float_cpu_stdout.txt")]
    whole = PartMeasurement(
        method="benchmark_model",
        runtime="r",
        settings=RunSettings(),
        evidence=evidence,
        steady_ms=[20.0, 22.0],
    )
    pred = predict_from_measurement(graph, whole, DATA)
    assert isinstance(pred, Prediction)
    n = graph.num_operators
    assert pred.head_ms[n] == pytest.approx(21.0) and pred.tail_ms[0] == pytest.approx(21.0)
    assert "calibrated to the measured whole model, 21.000 ms" in pred.note


def test_a_delegate_partition_is_calibrated_and_named_where_it_spans_the_cut(
    graph: ModelGraph,
) -> None:
    whole = PartMeasurement(
        method="benchmark_model",
        runtime="r",
        settings=RunSettings(),
        evidence=[str(DATA / "poco_x3_mnv3_seg_float_gpu_stdout.txt")],
        steady_ms=[8.0],
    )
    pred = predict_from_measurement(graph, whole, DATA)
    assert isinstance(pred, Prediction)
    n = graph.num_operators
    assert pred.head_ms[n] == pytest.approx(8.0) and pred.tail_ms[0] == pytest.approx(8.0)
    assert pred.head_ms[40] is None
    assert "[Identity]:77 runs operators 0-76" in pred.split_notes[40]


def test_a_profile_missing_an_operator_is_not_calibrated(graph: ModelGraph, tmp_path: Path) -> None:
    # the published profile without operator 1's row: the sum no longer covers the whole run,
    # so spreading the whole model's time over the rows left would inflate them
    lines = CPU_STDOUT.read_text().splitlines()
    kept = [line for line in lines if not line.rstrip().endswith("/Pad]:1")]
    assert len(kept) < len(lines)
    profile = tmp_path / "missing_stdout.txt"
    profile.write_text("\n".join(kept) + "\n")
    whole = PartMeasurement(
        method="benchmark_model",
        runtime="r",
        settings=RunSettings(),
        evidence=[str(profile)],
        steady_ms=[21.0],
    )
    pred = predict_from_measurement(graph, whole, tmp_path)
    assert isinstance(pred, Prediction)
    assert "calibrated" not in pred.note and "have no row of their own" in pred.note
    assert pred.head_ms[1] == pytest.approx(1.502)  # operator 0 as profiled
