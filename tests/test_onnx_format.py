"""The ONNX format: graph, cuts (against an independent computation), minimal parts, the
lossless check and ONNX Runtime's runner, on real .onnx files."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx_models import independent_cuts, side_input_model, with_unknown_operator
from splitbench.cutplan import plan_cuts, weight_only_operators
from splitbench.errors import ModelError
from splitbench.formats import format_of_file
from splitbench.formats.base import PartFailure
from splitbench.formats.onnx.graph import load_graph as load_onnx_graph
from splitbench.formats.onnx.graph import with_static_inputs
from splitbench.formats.onnx.runner import OrtSession, measure_file, profile_groups
from splitbench.graph import load_graph
from splitbench.measure.inputs import make_inputs
from splitbench.measure.types import RunSettings
from splitbench.splitter import ModelSplitter
from splitbench.verify import verify_parts


@pytest.fixture(scope="module")
def side_onnx(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return side_input_model(tmp_path_factory.mktemp("onnx") / "side.onnx")


def test_graph_units_weights_and_dtypes(side_onnx: Path) -> None:
    graph = load_graph(side_onnx)
    assert format_of_file(side_onnx).name == "onnx" and graph.format == "onnx"
    assert graph.num_operators == 11
    assert [op.opcode for op in graph.operators][:3] == ["Constant", "Conv", "Relu"]
    # The Constant node and the node scaling W2 by it compute from weights alone.
    assert weight_only_operators(graph) == frozenset({0, 3})
    by_name = {t.name: t for t in graph.tensors}
    assert by_name["W1"].is_constant and by_name["c0"].is_constant
    assert (by_name["e_shape"].dtype, by_name["e_shape"].nbytes) == ("int64", 32)
    assert (by_name["positive"].dtype, by_name["positive"].nbytes) == ("bool", 4)
    assert (by_name["b"].shape, by_name["b"].nbytes) == ((1, 8, 8, 8), 2048)


def test_every_cut_matches_an_independent_computation(side_onnx: Path) -> None:
    feeds = {k: v for k, v in make_inputs(side_onnx, inputs_dir=None, count=1, seed=0)[0].items()}
    expected = independent_cuts(side_onnx, feeds)
    cuts = plan_cuts(load_graph(side_onnx))
    assert len(cuts) == len(expected) == 12
    for cut, (names, nbytes) in zip(cuts, expected, strict=True):
        assert set(cut.names) == names, cut.split
        assert cut.nbytes == nbytes, cut.split
    # The residual connection: between conv2 and the Add, b and d cross, and the side input.
    assert set(cuts[5].names) == {"b", "d", "side"}
    assert cuts[5].nbytes == 2048 + 2048 + 16


def test_parts_are_minimal_valid_models_and_lossless(side_onnx: Path, tmp_path: Path) -> None:
    splitter = ModelSplitter(side_onnx)
    sets = make_inputs(side_onnx, inputs_dir=None, count=2, seed=1)
    for k in range(splitter.num_splits):
        files = splitter.write_parts(k, tmp_path)
        for path in (files.head_path, files.tail_path):
            if path is None:
                continue
            assert path.suffix == ".onnx" and path.stat().st_size == (
                files.head_bytes if path == files.head_path else files.tail_bytes
            )
            model = onnx.load(str(path))
            onnx.checker.check_model(model, full_check=True)
            used = {i for n in model.graph.node for i in n.input}
            assert {t.name for t in model.graph.initializer} <= used  # only what it reads
            assert [o.domain for o in model.opset_import] == [""]
        result = verify_parts(side_onnx, files.head_path, files.tail_path, sets)
        assert result.error is None and result.bit_exact, (k, result)
    # Weight-only nodes travel with their consumer: the tail of split 4 holds the Mul.
    tail = onnx.load(str(splitter.write_parts(4, tmp_path).tail_path))
    assert [n.name for n in tail.graph.node][:2] == ["const_scale", "scale_weights"]
    assert {i.name for i in tail.graph.input} == {"b", "side"}
    assert splitter.head_io(1) is None  # only the Constant before split 1: nothing to run


def test_parts_equal_what_onnx_extract_model_cuts(side_onnx: Path, tmp_path: Path) -> None:
    import onnx.utils

    splitter = ModelSplitter(side_onnx)
    for k in (2, 5, 8):
        ours = onnx.load(str(splitter.write_parts(k, tmp_path).head_path))
        io = splitter.head_io(k)
        assert io is not None
        reference = tmp_path / f"ref{k}.onnx"
        onnx.utils.extract_model(
            str(side_onnx), str(reference), list(io.input_names), list(io.output_names)
        )
        ref = onnx.load(str(reference))
        assert sorted(n.name for n in ours.graph.node) == sorted(n.name for n in ref.graph.node)
        assert {t.name for t in ours.graph.initializer} == {t.name for t in ref.graph.initializer}


def test_symbolic_dimensions_need_an_input_shape(tmp_path: Path) -> None:
    path = side_input_model(tmp_path / "dyn.onnx", symbolic_batch=True)
    with pytest.raises(ModelError) as info:
        load_graph(path)
    assert "symbolic dimensions ['N', 3, 8, 8]: pass --input-shape x:1,3,8,8" in str(info.value)
    with pytest.raises(ModelError, match="has 2 inputs"):
        load_graph(path, {"": (1, 3, 8, 8)})
    fixed = with_static_inputs(path, {"x": (2, 3, 8, 8), "side": (2, 4)}, tmp_path)
    graph = load_graph(fixed)
    assert {t.name: t.shape for t in graph.tensors}["b"] == (2, 8, 8, 8)
    assert with_static_inputs(path, {"x": (2, 3, 8, 8), "side": (2, 4)}, tmp_path) == fixed


def test_corrupt_and_truncated_files_are_one_line(side_onnx: Path, tmp_path: Path) -> None:
    data = side_onnx.read_bytes()
    for name, content in (("cut.onnx", data[: len(data) // 2]), ("junk.onnx", b"\x08\x07junk")):
        bad = tmp_path / name
        bad.write_bytes(content)
        with pytest.raises(ModelError) as info:
            load_graph(bad)
        assert "\n" not in str(info.value) and name in str(info.value)


def test_external_data_models_give_self_contained_parts(side_onnx: Path, tmp_path: Path) -> None:
    model = onnx.load(str(side_onnx))
    external = tmp_path / "ext" / "model.onnx"
    external.parent.mkdir()
    onnx.save(
        model, str(external), save_as_external_data=True, location="weights.bin", size_threshold=0
    )
    assert (external.parent / "weights.bin").is_file()
    splitter = ModelSplitter(external)
    files = splitter.write_parts(5, tmp_path / "parts")
    sets = make_inputs(external, inputs_dir=None, count=1, seed=0)
    assert verify_parts(external, files.head_path, files.tail_path, sets).bit_exact
    assert not list((tmp_path / "parts").rglob("*.bin"))  # weights are inside the parts


def test_onnx_runtime_runner_keeps_kpis_samples_and_a_node_profile(
    side_onnx: Path, tmp_path: Path
) -> None:
    settings = RunSettings(warmup_runs=2, warmup_min_secs=0, num_runs=7, min_secs=0)
    m = measure_file(side_onnx, settings, profile_dir=tmp_path / "evidence")
    assert m.ok and m.method == "onnxruntime" and m.runtime.startswith("onnxruntime ")
    assert len(m.steady_ms) >= 7 and m.first_ms and m.init_ms and m.mem_overall_mb is not None
    trace, optimized = (Path(p) for p in m.evidence)
    assert trace.name.endswith(".ortprofile.json") and optimized.name.endswith(".ortgraph.onnx")
    assert not list(optimized.parent.glob("*.weights"))  # the graph is kept, its weights not
    graph = load_onnx_graph(side_onnx)
    groups, note = profile_groups(graph, trace, optimized)
    assert sum(ms for _, ms, _ in groups) > 0
    # ONNX Runtime fuses conv1 with relu1 into one kernel (b_nchwc on x86), and conv2 with the
    # residual Add (a fused Sum): each kernel covers both nodes.
    covers = [nodes for nodes, _, label in groups if "counted at" not in label]
    assert (1, 2) in covers and (4, 5) in covers
    assert "10 runs" in note


def test_an_operator_onnx_runtime_cannot_run_is_named(tmp_path: Path) -> None:
    path = with_unknown_operator(tmp_path / "mystery.onnx")
    with pytest.raises(PartFailure) as info:
        OrtSession(path)
    assert "Mystery" in info.value.reason and "\n" not in info.value.reason
    m = measure_file(path, RunSettings(num_runs=2, min_secs=0, warmup_min_secs=0))
    assert not m.ok and "Mystery" in (m.error or "") and not m.steady_ms
    splitter = ModelSplitter(path)
    files = splitter.write_parts(2, tmp_path)  # head: Relu, Mystery; tail: Relu, Sigmoid
    assert files.tail_path is not None
    ok = measure_file(files.tail_path, RunSettings(num_runs=2, min_secs=0, warmup_min_secs=0))
    assert ok.ok and ok.steady_ms
    assert math.isnan(
        verify_parts(
            path, files.head_path, files.tail_path, [{"x": np.zeros((1, 4), np.float32)}]
        ).max_abs_diff
    )
