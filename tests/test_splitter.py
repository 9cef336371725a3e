"""The splitter on real models: parts that load, run, equal the whole model, and carry only
their own weights."""

from __future__ import annotations

import random
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import split_models
from ai_edge_litert import schema_py_generated as schema
from ai_edge_litert.interpreter import Interpreter
from splitbench.errors import SplitPointError
from splitbench.formats.tflite.graph import parsed_model
from splitbench.graph import ModelGraph, load_graph
from splitbench.splitter import ModelSplitter, PartFiles


def assert_lossless(
    whole: Path, files: PartFiles, feeds: dict[str, np.ndarray], atol: float = 1e-5
) -> float:
    """Run the whole model and head→tail on the same inputs; every output must match."""
    expected = split_models.run(whole, feeds)
    got = split_models.run_split(files.head_path, files.tail_path, feeds)
    worst = 0.0
    for name, value in expected.items():
        assert got[name].shape == value.shape and got[name].dtype == value.dtype
        diff = float(np.max(np.abs(got[name].astype(np.float64) - value.astype(np.float64))))
        worst = max(worst, diff)
    assert worst <= atol, f"split {files.split}: max abs diff {worst}"
    return worst


def constants_of(graph: ModelGraph, ops: range) -> dict[str, int]:
    """Constant tensors (name -> bytes) read by the operators ``ops`` of ``graph``."""
    out = {}
    for op in graph.operators[ops.start : ops.stop]:
        for t in op.inputs:
            if t >= 0 and graph.tensors[t].is_constant:
                out[graph.tensors[t].name] = graph.tensors[t].nbytes or 0
    return out


def part_constants(path: Path) -> dict[str, int]:
    graph = load_graph(path)
    return {t.name: t.nbytes or 0 for t in graph.tensors if t.is_constant}


def weight_payload(path: Path, ops: range | None = None) -> int:
    """Bytes of the distinct weight buffers read by ``ops`` (all operators when None), read
    straight from the flatbuffer, so unreferenced buffers left in a file would count."""
    from ai_edge_litert.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model_from_bytearray(path.read_bytes())
    subgraph = model.subgraphs[0]
    if ops is None:
        metadata = {int(m.buffer) for m in model.metadata or []}
        return sum(
            len(b.data)
            for i, b in enumerate(model.buffers)
            if b.data is not None and i not in metadata
        )
    used = {
        int(subgraph.tensors[t].buffer)
        for op in subgraph.operators[ops.start : ops.stop]
        for t in op.inputs
        if t >= 0
    }
    return sum(len(model.buffers[b].data) for b in used if model.buffers[b].data is not None)


# --- every split of the small models -----------------------------------------------------------


@pytest.mark.parametrize("fixture", ["chain_tflite", "branchy_tflite", "two_input_tflite"])
def test_every_split_runs_and_equals_the_whole_model(
    fixture: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    path: Path = request.getfixturevalue(fixture)
    splitter = ModelSplitter(path)
    feeds = split_models.random_inputs(path, seed=1)
    n = splitter.graph.num_operators
    assert splitter.num_splits == n + 1
    for files in splitter.write_all(tmp_path):
        assert (files.head_path is None) == (files.split == 0)
        assert (files.tail_path is None) == (files.split == n)
        assert_lossless(path, files, feeds)


@pytest.mark.parametrize("order", ["forward", "shuffled"])
def test_write_all_writes_the_bytes_of_one_split_at_a_time(
    order: str, branchy_tflite: Path, tmp_path: Path
) -> None:
    """write_all writes one part while it packs the next; the files must be exactly those of
    write_parts, split by split, in any order of splits. (The two-process way, which forks only
    from a process without other threads, is tested through the command in a fresh process.)"""
    splits = list(range(ModelSplitter(branchy_tflite).num_splits))
    if order == "shuffled":
        random.Random(5).shuffle(splits)
    piped = list(ModelSplitter(branchy_tflite).write_all(tmp_path / "piped", splits))
    assert [f.split for f in piped] == splits
    one_by_one = ModelSplitter(branchy_tflite)
    for files in piped:
        alone = one_by_one.write_parts(files.split, tmp_path / "alone")
        for ours, reference in (
            (files.head_path, alone.head_path),
            (files.tail_path, alone.tail_path),
        ):
            assert (ours is None) == (reference is None)
            if ours is not None:
                assert ours.read_bytes() == reference.read_bytes()
        assert (files.head_bytes, files.tail_bytes) == (alone.head_bytes, alone.tail_bytes)
    assert not list((tmp_path / "piped").rglob("*.partial"))


def test_part_interfaces_follow_the_cut(branchy_tflite: Path, tmp_path: Path) -> None:
    splitter = ModelSplitter(branchy_tflite)
    graph = splitter.graph
    for k in range(1, graph.num_operators):
        files = splitter.write_parts(k, tmp_path)
        cut = files.cut
        head = Interpreter(model_path=str(files.head_path))
        tail = Interpreter(model_path=str(files.tail_path))
        head_out = [d["name"] for d in head.get_output_details()]
        tail_in = [d["name"] for d in tail.get_input_details()]
        assert head_out == list(graph.tensor_names(cut.head_outputs))
        # The tail reads cut tensors by their names, and only those it needs.
        assert set(tail_in) <= set(cut.names)
        consumed_later = {t for op in graph.operators[k:] for t in op.inputs}
        assert set(tail_in) == {graph.tensors[t].name for t in cut.tensors if t in consumed_later}
        assert [d["name"] for d in head.get_input_details()] == ["serving_default_image:0"]
        assert files.head_io is not None and files.tail_io is not None
        assert files.head_io.output_names == tuple(head_out)
        assert files.tail_io.input_names == tuple(tail_in)


def test_early_model_output_comes_from_the_head(branchy_tflite: Path, tmp_path: Path) -> None:
    splitter = ModelSplitter(branchy_tflite)
    k = splitter.graph.num_operators - 1  # one output is made before the last operator
    cut = splitter.cut(k)
    assert cut.outputs
    files = splitter.write_parts(k, tmp_path)
    assert files.tail_io is not None and files.head_io is not None
    early = splitter.graph.tensor_names(cut.outputs)
    assert set(early) <= set(files.head_io.output_names)
    assert not set(early) & set(files.tail_io.output_names)


def test_input_used_late_is_a_tail_input_not_a_head_input(
    two_input_tflite: Path, tmp_path: Path
) -> None:
    splitter = ModelSplitter(two_input_tflite)
    files = splitter.write_parts(1, tmp_path)
    assert files.head_io is not None and files.tail_io is not None
    assert files.head_io.input_names == ("serving_default_image:0",)
    assert "serving_default_side:0" in files.tail_io.input_names
    assert "serving_default_side:0" in files.cut.names


# --- sizes -------------------------------------------------------------------------------------


@pytest.mark.parametrize("fixture", ["chain_tflite", "branchy_tflite"])
def test_each_part_carries_only_its_own_weights(
    fixture: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    path: Path = request.getfixturevalue(fixture)
    splitter = ModelSplitter(path)
    graph = splitter.graph
    n = graph.num_operators
    whole_constants = sum(constants_of(graph, range(n)).values())
    previous_head = 0
    for files in splitter.write_all(tmp_path):
        k = files.split
        if files.head_path:
            assert part_constants(files.head_path) == constants_of(graph, range(k))
            assert weight_payload(files.head_path) == weight_payload(path, range(k))
            assert files.head_bytes == files.head_path.stat().st_size
            assert files.head_bytes > previous_head  # every operator adds weights
            previous_head = files.head_bytes
        if files.tail_path:
            assert part_constants(files.tail_path) == constants_of(graph, range(k, n))
            assert weight_payload(files.tail_path) == weight_payload(path, range(k, n))
        # Overhead per file (tables, names, metadata) is small next to the weights they share.
        pair = files.head_bytes + files.tail_bytes
        shared = sum(
            v
            for name, v in constants_of(graph, range(k)).items()
            if name in constants_of(graph, range(k, n))
        )
        assert pair - graph.file_bytes <= shared + 4096
    assert whole_constants > 0


def test_whole_model_part_is_about_the_original_size(chain_tflite: Path) -> None:
    splitter = ModelSplitter(chain_tflite)
    n = splitter.graph.num_operators
    head = splitter.head(n)
    tail = splitter.tail(0)
    assert head is not None and tail is not None
    size = chain_tflite.stat().st_size
    for part in (head, tail):
        assert abs(len(part) - size) <= 512
    assert splitter.head(0) is None and splitter.tail(n) is None


def test_weights_are_16_byte_aligned(branchy_tflite: Path) -> None:
    """As the converter writes them (the schema's force_align), so runtimes may map them."""
    splitter = ModelSplitter(branchy_tflite)
    for data in (splitter.head(3), splitter.tail(3)):
        assert data is not None
        base = np.frombuffer(data, np.uint8).ctypes.data
        model = schema.Model.GetRootAs(data, 0)
        checked = 0
        for i in range(model.BuffersLength()):
            buffer = model.Buffers(i)
            if buffer is not None and buffer.DataLength() > 0:
                assert (buffer.DataAsNumpy().ctypes.data - base) % 16 == 0
                checked += 1
        assert checked >= 2


@pytest.mark.parametrize("fixture", ["branchy_tflite", "two_input_tflite"])
def test_parts_are_byte_identical_in_any_order(
    fixture: str, request: pytest.FixtureRequest
) -> None:
    """Parts are packed incrementally with rewinds; a part must not depend on what was packed
    before it. A fresh splitter per part is the reference."""
    path: Path = request.getfixturevalue(fixture)
    n = ModelSplitter(path).graph.num_operators
    reference = {}
    for k in range(n + 1):
        reference[("head", k)] = ModelSplitter(path).head(k)
        reference[("tail", k)] = ModelSplitter(path).tail(k)
    wanted = list(reference)
    random.Random(1).shuffle(wanted)
    shared = ModelSplitter(path)
    for role, k in wanted + wanted[::-1]:
        got = shared.head(k) if role == "head" else shared.tail(k)
        assert got == reference[(role, k)], (role, k)


# --- files -------------------------------------------------------------------------------------


def test_write_parts_layout(chain_tflite: Path, tmp_path: Path) -> None:
    splitter = ModelSplitter(chain_tflite)
    first = splitter.write_parts(0, tmp_path)
    assert first.split_dir == tmp_path / "split_000"
    assert first.head_path is None and first.head_bytes == 0
    assert first.tail_path == tmp_path / "split_000" / "tail.tflite"
    assert sorted(p.name for p in first.split_dir.iterdir()) == ["tail.tflite"]
    last = splitter.write_parts(4, tmp_path)
    assert last.tail_path is None and last.tail_bytes == 0
    assert sorted(p.name for p in (tmp_path / "split_004").iterdir()) == ["head.tflite"]
    again = splitter.write_parts(4, tmp_path)
    assert again == last
    with pytest.raises(SplitPointError, match="split 5 is out of range"):
        splitter.write_parts(5, tmp_path)
    with pytest.raises(SplitPointError):
        splitter.head(-1)


def test_splitter_reuses_the_parse_of_a_loaded_graph(chain_tflite: Path) -> None:
    graph = load_graph(chain_tflite)
    splitter = ModelSplitter(graph)
    assert splitter.graph is graph
    assert splitter._maker._model is parsed_model(graph).model  # type: ignore[attr-defined]
    assert ModelSplitter(str(chain_tflite)).head(2) == splitter.head(2)


def test_signature_and_metadata_of_parts(branchy_tflite: Path) -> None:
    from ai_edge_litert.tools import flatbuffer_utils

    splitter = ModelSplitter(branchy_tflite)
    whole = Interpreter(model_path=str(branchy_tflite)).get_signature_list()
    (key,) = whole
    head, tail = splitter.head(2), splitter.tail(2)
    assert head is not None and tail is not None
    head_sig = Interpreter(model_content=head).get_signature_list()
    tail_sig = Interpreter(model_content=tail).get_signature_list()
    assert list(head_sig) == list(tail_sig) == [key]
    assert head_sig[key]["inputs"] == whole[key]["inputs"]  # the original signature names
    assert set(tail_sig[key]["outputs"]) == set(whole[key]["outputs"])
    assert set(tail_sig[key]["inputs"]) == set(splitter.cut(2).names)
    # And the signature runner works on a part.
    runner = Interpreter(model_content=head).get_signature_runner(key)
    (name,) = head_sig[key]["inputs"]
    result = runner(**{name: np.zeros((1, 16, 16, 3), np.float32)})
    assert len(result) == len(splitter.cut(2).head_outputs)
    for data in (head, tail):
        names = {m.name for m in flatbuffer_utils.read_model_from_bytearray(data).metadata}
        assert b"min_runtime_version" in names


# --- dtypes, shapes, special operators ---------------------------------------------------------


def test_int8_parts_are_bit_exact_and_keep_quantization(tmp_path: Path) -> None:
    path = split_models.write(tmp_path, "int8", split_models.int8_model())
    splitter = ModelSplitter(path)
    whole = {d["name"]: d for d in Interpreter(model_path=str(path)).get_tensor_details()}
    feeds = split_models.random_inputs(path, seed=2)
    for files in splitter.write_all(tmp_path / "parts"):
        assert assert_lossless(path, files, feeds, atol=0.0) == 0.0
        for part in (files.head_path, files.tail_path):
            if part is None:
                continue
            for d in Interpreter(model_path=str(part)).get_tensor_details():
                original = whole[d["name"]]
                assert d["dtype"] == original["dtype"]
                assert d["quantization"] == original["quantization"]
                params, before = d["quantization_parameters"], original["quantization_parameters"]
                assert np.array_equal(params["scales"], before["scales"])
                assert np.array_equal(params["zero_points"], before["zero_points"])
        assert files.cut.nbytes == sum(
            int(np.prod(splitter.graph.tensors[t].shape)) for t in files.cut.tensors
        )


def test_dynamic_model_parts_run_at_the_given_shape(tmp_path: Path) -> None:
    path = split_models.write(tmp_path, "dynamic", split_models.dynamic_batch_model())
    splitter = ModelSplitter(path, {"image": (3, 8, 8, 3)})
    assert splitter.cut(1).nbytes == 3 * 8 * 8 * 4 * 4
    feeds = {"serving_default_image:0": np.random.default_rng(4).random((3, 8, 8, 3), np.float32)}
    for files in splitter.write_all(tmp_path / "parts"):
        for part in (files.head_path, files.tail_path):
            if part is not None:
                for d in Interpreter(model_path=str(part)).get_input_details():
                    assert d["shape"][0] == 3 and list(d["shape_signature"]) == list(d["shape"])
        assert_lossless(path, files, feeds)


def test_custom_operator_model_still_splits_and_sizes(chain_tflite: Path, tmp_path: Path) -> None:
    """A CUSTOM op no runtime resolves: every split is made and sized; parts without the op
    run, and equal the original model's parts; parts with it fail to load, naming it."""
    data = split_models.with_custom_op(chain_tflite.read_bytes(), "DEPTHWISE_CONV_2D", "NoSuchOp")
    custom = split_models.write(tmp_path, "custom", data)
    splitter = ModelSplitter(custom)
    original = ModelSplitter(chain_tflite)
    assert [c.nbytes for c in splitter.cuts] == [c.nbytes for c in original.cuts]
    feeds = split_models.random_inputs(chain_tflite, seed=3)
    expected = split_models.run(chain_tflite, feeds)
    custom_at = [op.index for op in splitter.graph.operators if op.opcode == "CUSTOM:NoSuchOp"]
    assert custom_at == [1]
    for files in splitter.write_all(tmp_path / "parts"):
        k = files.split
        assert files.head_bytes + files.tail_bytes > 0
        with_op = files.head_path if k > 1 else files.tail_path
        assert with_op is not None
        with pytest.raises(RuntimeError, match="NoSuchOp"):
            Interpreter(model_path=str(with_op)).allocate_tensors()
        if k >= 2:  # the tail is free of the custom op: feed it the original head's outputs
            head = original.write_parts(k, tmp_path / "original")
            values = split_models.run_split(head.head_path, None, feeds)
            got = split_models.run_split(None, files.tail_path, values)
            for name, value in expected.items():
                np.testing.assert_allclose(got[name], value, atol=1e-5)


def test_control_flow_model_splits_around_while(tmp_path: Path) -> None:
    path = split_models.write(tmp_path, "loop", split_models.while_loop_model())
    splitter = ModelSplitter(path)
    feeds = split_models.random_inputs(path, seed=5)
    for files in splitter.write_all(tmp_path / "parts"):
        assert_lossless(path, files, feeds)
        for part in (files.head_path, files.tail_path):
            if part is not None:
                assert load_graph(part).num_subgraphs == 3  # bodies kept for WHILE


def test_weight_only_operators_go_with_their_readers(tmp_path: Path) -> None:
    """float16 weights + DEQUANTIZE: each part dequantizes its own weights, so parts run under
    the default runtime (XNNPACK included) and equal the whole model at every split."""
    path = split_models.write(tmp_path, "fp16", split_models.float16_weights_model())
    splitter = ModelSplitter(path)
    graph = splitter.graph
    dequantize = {op.index for op in graph.operators if op.opcode == "DEQUANTIZE"}
    first_working = min(set(range(graph.num_operators)) - dequantize)
    feeds = split_models.random_inputs(path, seed=7)
    for files in splitter.write_all(tmp_path / "parts"):
        k = files.split
        # Until an operator reads the image, the client has nothing to run.
        assert (files.head_path is None) == (k <= first_working)
        assert_lossless(path, files, feeds)
        for io, part, span in (
            (files.head_io, files.head_path, range(0, k)),
            (files.tail_io, files.tail_path, range(k, graph.num_operators)),
        ):
            if io is None or part is None:
                continue
            working = [i for i in io.operators if i not in dequantize]
            assert working == [i for i in span if i not in dequantize]
            read = {t for i in working for t in graph.operators[i].inputs}
            for i in set(io.operators) & dequantize:  # only the DEQUANTIZE ops this part reads
                assert graph.operators[i].outputs[0] in read
            for i in dequantize:
                if graph.operators[i].outputs[0] in read:
                    assert i in io.operators
            assert load_graph(part).num_operators == len(io.operators)


# --- mediapipe: trained models from the real wheel ---------------------------------------------


@pytest.mark.slow
def test_mediapipe_pose_landmark_full_every_split(tmp_path: Path) -> None:
    """332 operators (192 of them DEQUANTIZE), 333 splits, memory that does not grow."""
    from splitbench_models.mediapipe_wheel import mediapipe_model_path

    path = mediapipe_model_path("pose_landmark_full")
    splitter = ModelSplitter(path)
    graph = splitter.graph
    assert graph.num_operators == 332 and splitter.num_splits == 333
    dequantized = {t for op in graph.operators if op.opcode == "DEQUANTIZE" for t in op.outputs}
    assert all(not set(c.tensors) & dequantized for c in splitter.cuts)
    sizes = []
    tracemalloc.start()
    try:
        for files in splitter.write_all(tmp_path):
            sizes.append((files.head_bytes, files.tail_bytes))
            for part in (files.head_path, files.tail_path):
                if part is not None:
                    part.unlink()  # keep the disk use of the test small
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(sizes) == 333
    assert peak < 2.5 * graph.file_bytes
    feeds = split_models.random_inputs(path, seed=8)
    for k in (0, 40, 120, 200, 290, 331, 332):
        files = splitter.write_parts(k, tmp_path / "check")
        assert assert_lossless(path, files, feeds, atol=1e-4) <= 1e-4


@pytest.mark.slow
@pytest.mark.parametrize("name", ["hand_landmark_full", "selfie_segmentation"])
def test_mediapipe_models_split_losslessly(name: str, tmp_path: Path) -> None:
    from splitbench_models.mediapipe_wheel import mediapipe_model_path

    path = mediapipe_model_path(name)
    splitter = ModelSplitter(path)
    feeds = split_models.random_inputs(path, seed=9)
    n = splitter.graph.num_operators
    for k in sorted({0, n // 5, n // 2, (4 * n) // 5, n - 1, n}):
        files = splitter.write_parts(k, tmp_path)
        assert files.head_bytes + files.tail_bytes >= splitter.graph.file_bytes // 2
        assert_lossless(path, files, feeds, atol=1e-4)


# --- PoseNet: the seed's model, full size ------------------------------------------------------


@pytest.fixture(scope="module")
def posenet_tflite() -> Path:
    from splitbench_models.posenet import build_posenet_tflite

    return build_posenet_tflite()


@pytest.mark.slow
def test_posenet_all_splits_with_memory_that_does_not_grow(
    posenet_tflite: Path, tmp_path: Path
) -> None:
    splitter = ModelSplitter(posenet_tflite)
    graph = splitter.graph
    assert graph.num_operators == 31
    size = graph.file_bytes
    tracemalloc.start()
    try:
        files = list(splitter.write_all(tmp_path))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(files) == 32
    # One part at a time: the peak is the two builders (heads, tails), each about the model's
    # size, not 62 parts.
    assert peak < 2.5 * size, f"peak {peak} bytes for a {size}-byte model"
    assert abs(files[31].head_bytes - size) < 0.001 * size
    assert abs(files[0].tail_bytes - size) < 0.001 * size
    for f in files[1:31]:
        assert f.head_bytes + f.tail_bytes < size * 1.002 + 4096
    feeds = split_models.random_inputs(posenet_tflite, seed=6)
    for k in (1, 16, 27, 30):
        assert_lossless(posenet_tflite, files[k], feeds, atol=1e-3)
