"""Predicted split times from ONNX Runtime's profile, on a model it really fuses across node
boundaries (profiled by the real ONNX Runtime): no prediction through a fused kernel, and the
whole model calibrated to its direct measurement."""

from __future__ import annotations

from pathlib import Path

import onnx
import pandas as pd
import pytest
from onnx_models import fused_block_model, matmul_add_model
from splitbench.formats.onnx.runner import measure_file
from splitbench.graph import load_graph
from splitbench.measure.types import PartMeasurement, RunSettings
from splitbench.predict import NoPrediction, Prediction, predict_from_measurement
from splitbench.report.predicted_columns import add_predicted_columns

SETTINGS = RunSettings(warmup_runs=2, warmup_min_secs=0, num_runs=5, min_secs=0)


@pytest.fixture(scope="module")
def fused(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, PartMeasurement]:
    folder = tmp_path_factory.mktemp("fused")
    model = fused_block_model(folder / "block.onnx")
    whole = measure_file(model, SETTINGS, profile_dir=folder / "evidence")
    assert whole.ok
    return model, whole


def test_a_cut_through_a_fused_kernel_has_no_prediction_and_says_which(
    fused: tuple[Path, PartMeasurement],
) -> None:
    model, whole = fused
    graph = load_graph(model)
    pred = predict_from_measurement(graph, whole, model.parent)
    assert isinstance(pred, Prediction)
    # conv_a + relu_a run as one Conv kernel: split 1 (head = conv_a alone) cannot be predicted
    assert pred.head_ms[1] is None and pred.tail_ms[1] is None
    assert (
        "kernel " in pred.split_notes[1] and "computes nodes conv_a, relu_a" in pred.split_notes[1]
    )
    # conv_b, add_b and relu_b are one kernel (a fused Sum and Relu): splits 3 and 4
    for k in (3, 4):
        assert pred.head_ms[k] is None and pred.tail_ms[k] is None
        assert "conv_b, add_b, relu_b" in pred.split_notes[k]
    # ONNX Runtime folds the Shape into a constant and drops the Expand to the same shape: the
    # Flatten kernel is all that runs of the three, so no cut between them can be predicted
    for k in (7, 8):
        assert "computes nodes shape, expand, flatten" in pred.split_notes[k]
    # every other split is predicted, with the fused kernels' time on the right side
    assert set(pred.split_notes) == {1, 3, 4, 7, 8}
    for k in (0, 2, 5, 6, 9, 10):
        assert pred.head_ms[k] is not None and pred.tail_ms[k] is not None
    assert pred.head_ms[2] > 0  # the head after relu_a holds the fused conv_a kernel
    table = add_predicted_columns(
        pd.DataFrame({"split": range(11), "client_ms": 1.0, "server_ms": 1.0}), [pred], [pred], 10
    )
    assert "conv_a, relu_a" in table["no_prediction"][1]
    assert table["no_prediction"][2] == ""


def test_predicted_whole_model_equals_the_measured_whole_model(
    fused: tuple[Path, PartMeasurement],
) -> None:
    model, whole = fused
    pred = predict_from_measurement(load_graph(model), whole, model.parent)
    assert isinstance(pred, Prediction)
    measured = whole.steady_mean_ms
    assert measured is not None
    assert pred.head_ms[10] == pytest.approx(measured, rel=1e-9)
    assert pred.tail_ms[0] == pytest.approx(measured, rel=1e-9)
    assert "calibrated to the measured whole model" in pred.note and " us per kernel" in pred.note


def test_a_profile_without_its_optimised_graph_gives_a_reason(
    fused: tuple[Path, PartMeasurement],
) -> None:
    model, whole = fused
    older = PartMeasurement(
        method=whole.method,
        runtime=whole.runtime,
        settings=whole.settings,
        steady_ms=whole.steady_ms,
        evidence=[p for p in whole.evidence if p.endswith(".ortprofile.json")],
    )
    pred = predict_from_measurement(load_graph(model), older, model.parent)
    assert isinstance(pred, NoPrediction) and "optimised graph" in pred.reason


def test_a_profile_that_cannot_be_written_leaves_the_timing_and_a_reason(tmp_path: Path) -> None:
    model = fused_block_model(tmp_path / "block.onnx")
    blocked = tmp_path / "evidence"
    blocked.write_text("a file where the evidence folder should be")
    whole = measure_file(model, SETTINGS, profile_dir=blocked)
    assert whole.ok and whole.steady_ms and not whole.evidence
    pred = predict_from_measurement(load_graph(model), whole, tmp_path)
    assert isinstance(pred, NoPrediction) and "could not be profiled" in pred.reason


def test_kernels_joined_by_made_up_tensors_are_read_as_one_group(tmp_path: Path) -> None:
    # ONNX Runtime runs mm + bias as Reshape → Gemm → Reshape with tensors of its own between
    # them: the three kernels are placed together, over the two nodes they compute
    model = matmul_add_model(tmp_path / "mm.onnx")
    whole = measure_file(model, SETTINGS, profile_dir=tmp_path / "evidence")
    pred = predict_from_measurement(load_graph(model), whole, tmp_path)
    assert isinstance(pred, Prediction)
    assert set(pred.split_notes) == {1}
    note = pred.split_notes[1]
    assert "MatMulAddFusion" in note and " + " in note and note.endswith("computes nodes mm, bias")
    assert all(pred.head_ms[k] is not None for k in (0, 2, 3, 4))


def test_unnamed_nodes_are_found_by_the_names_the_profile_gives_them(tmp_path: Path) -> None:
    # ONNX Runtime's profile calls an unnamed node <op type>_<index in the file>
    model = fused_block_model(tmp_path / "block.onnx")
    proto = onnx.load(str(model))
    for node in proto.graph.node:
        node.name = ""
    onnx.save(proto, str(model))
    whole = measure_file(model, SETTINGS, profile_dir=tmp_path / "evidence")
    pred = predict_from_measurement(load_graph(model), whole, tmp_path)
    assert isinstance(pred, Prediction), getattr(pred, "reason", "")
    assert set(pred.split_notes) == {1, 3, 4, 7, 8}
    assert "computes nodes #0, #1" in pred.split_notes[1]
    assert all(pred.head_ms[k] is not None for k in (0, 2, 5, 6, 9, 10))
