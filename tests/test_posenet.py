"""PoseNet as the seed describes it (clause 10.2), checked on the real built files."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import numpy as np
import pytest
from ai_edge_litert import schema_py_generated as schema
from ai_edge_litert.interpreter import Interpreter
from splitbench.convert import convert_frozen_graph
from splitbench.model_source import resolve_model
from splitbench_models import posenet

pytestmark = pytest.mark.slow

EXPECTED_OPS = ["CONV_2D"] + ["DEPTHWISE_CONV_2D", "CONV_2D"] * 13 + ["CONV_2D"] * 4
# Pinned: a change means every user's PoseNet changes; bump posenet.BUILD_VERSION with it.
WEIGHTS_SHA256 = "309ff87f8eed3df599dcdab137d7f6bb41ce15319941f7d4b9f9f70b54967e7f"

_OPCODE_NAMES = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}


def _model(path: Path) -> schema.Model:
    return schema.Model.GetRootAs(path.read_bytes(), 0)


def _opcodes(path: Path) -> list[str]:
    model = _model(path)
    graph = model.Subgraphs(0)
    names = []
    for i in range(graph.OperatorsLength()):
        code = model.OperatorCodes(graph.Operators(i).OpcodeIndex())
        builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
        names.append(_OPCODE_NAMES[builtin])
    return names


def _tensor_names(path: Path) -> list[str]:
    graph = _model(path).Subgraphs(0)
    return [graph.Tensors(i).Name().decode() for i in range(graph.TensorsLength())]


def _seeded_image() -> np.ndarray:
    return np.random.default_rng(5).uniform(-1, 1, posenet.INPUT_SHAPE).astype(np.float32)


def _run_tflite(path: Path, image: np.ndarray) -> dict[str, np.ndarray]:
    interp = Interpreter(model_path=str(path))
    interp.allocate_tensors()
    interp.set_tensor(interp.get_input_details()[0]["index"], image)
    interp.invoke()
    return {d["name"]: interp.get_tensor(d["index"]) for d in interp.get_output_details()}


@pytest.fixture(scope="session")
def posenet_tflite() -> Path:
    """The user-cache build, shared with every other test (built once per machine)."""
    return posenet.build_posenet_tflite()


@pytest.fixture(scope="session")
def posenet_graph(tmp_path_factory: pytest.TempPathFactory) -> posenet.FrozenGraph:
    return posenet.export_posenet_frozen_graph(tmp_path_factory.mktemp("posenet_pb"))


def test_31_operators_in_seed_order_without_space_to_batch(posenet_tflite: Path) -> None:
    ops = _opcodes(posenet_tflite)
    assert ops == EXPECTED_OPS
    assert len(ops) == posenet.NUM_OPERATORS == 31
    assert "SPACE_TO_BATCH_ND" not in ops and "BATCH_TO_SPACE_ND" not in ops


def test_output_stride_16_makes_only_the_last_depthwise_dilated(posenet_tflite: Path) -> None:
    model = _model(posenet_tflite)
    graph = model.Subgraphs(0)
    strides, dilations, shapes = [], [], []
    for i in range(graph.OperatorsLength()):
        op = graph.Operators(i)
        shapes.append(tuple(graph.Tensors(op.Outputs(0)).ShapeAsNumpy()))
        if _opcodes(posenet_tflite)[i] != "DEPTHWISE_CONV_2D":
            continue
        table = op.BuiltinOptions()
        options = schema.DepthwiseConv2DOptions()
        options.Init(table.Bytes, table.Pos)
        strides.append(options.StrideH())
        dilations.append(options.DilationHFactor())
    # blocks 2, 4, 6 stride; block 12 would but keeps stride 1 at output stride 16; block 13
    # then dilates by 2 (PoseNet's toOutputStridedLayers rule).
    assert strides == [1, 2, 1, 2, 1, 2, 1, 1, 1, 1, 1, 1, 1]
    assert dilations == [1] * 12 + [2]
    assert shapes[0] == (1, 129, 129, 32)
    assert shapes[26] == (1, 17, 17, 1024)
    assert {s[1:3] for s in shapes[11:]} == {(17, 17)}


def test_inputs_outputs_and_values(posenet_tflite: Path) -> None:
    interp = Interpreter(model_path=str(posenet_tflite))
    (inp,) = interp.get_input_details()
    assert inp["name"] == "image"
    assert tuple(inp["shape"]) == (1, 257, 257, 3) and inp["dtype"] == np.float32
    outputs = _run_tflite(posenet_tflite, _seeded_image())
    assert {k: v.shape for k, v in outputs.items()} == {
        "heatmap": (1, 17, 17, 17),
        "offsets": (1, 17, 17, 34),
        "displacement_fwd": (1, 17, 17, 32),
        "displacement_bwd": (1, 17, 17, 32),
    }
    for value in outputs.values():
        # Real signal through all 27 layers: neither vanished nor blown up.
        assert np.isfinite(value).all()
        assert 0.1 < float(value.std()) < 10.0


def test_file_size_and_parameter_count(posenet_tflite: Path) -> None:
    size = posenet_tflite.stat().st_size
    assert 13.0e6 <= size <= 13.4e6, size
    model = _model(posenet_tflite)
    graph = model.Subgraphs(0)
    constant_values = 0
    for i in range(graph.TensorsLength()):
        tensor = graph.Tensors(i)
        if model.Buffers(tensor.Buffer()).DataLength() > 0:
            constant_values += int(np.prod(tensor.ShapeAsNumpy()))
    assert constant_values == posenet.posenet_parameter_count() == 3_313_907
    assert 4 * constant_values <= size <= 4 * constant_values + 40_000  # weights are the file


def test_tensor_names_are_readable_and_match_the_frozen_graph(
    posenet_tflite: Path, posenet_graph: posenet.FrozenGraph
) -> None:
    names = _tensor_names(posenet_tflite)
    assert len(names) == len(set(names))
    assert not [n for n in names if ";" in n]
    model = _model(posenet_tflite)
    graph = model.Subgraphs(0)
    activations = [names[graph.Operators(i).Outputs(0)] for i in range(graph.OperatorsLength())]
    assert activations[:27] == posenet_graph.layer_output_names
    assert activations[0] == "MobilenetV1/Conv2d_0/Relu6"
    assert activations[25] == "MobilenetV1/Conv2d_13_depthwise/Relu6"
    assert sorted(activations[27:]) == sorted(posenet.OUTPUT_NAMES)
    assert "MobilenetV1/Conv2d_0/biases" in names


def test_build_is_repeatable(posenet_tflite: Path, tmp_path: Path) -> None:
    assert posenet.posenet_weights_sha256() == WEIGHTS_SHA256
    fresh = posenet.build_posenet_tflite(tmp_path / "fresh.tflite")
    assert fresh.read_bytes() == posenet_tflite.read_bytes()
    sidecar = fresh.with_name(fresh.name + ".sha256")
    digest, stamp = sidecar.read_text().splitlines()
    assert digest == hashlib.sha256(fresh.read_bytes()).hexdigest()
    st = fresh.stat()  # stamped when the new file was verified
    assert stamp == f"{st.st_ino} {st.st_size} {st.st_mtime_ns} {st.st_ctime_ns}"


def test_corrupt_or_unverified_file_is_rebuilt(posenet_tflite: Path, tmp_path: Path) -> None:
    target = tmp_path / "p.tflite"
    posenet.build_posenet_tflite(target)
    good = target.read_bytes()
    stamp = target.stat().st_mtime_ns
    assert posenet.build_posenet_tflite(target) == target
    assert target.stat().st_mtime_ns == stamp  # a verified file is reused, not rebuilt

    target.write_bytes(good[: len(good) // 2])  # truncated
    posenet.build_posenet_tflite(target)
    assert target.read_bytes() == good

    target.with_name(target.name + ".sha256").unlink()  # no sidecar: cannot be trusted
    target.write_bytes(b"garbage")
    posenet.build_posenet_tflite(target)
    assert target.read_bytes() == good


def test_a_stamped_file_changed_in_place_is_rebuilt(posenet_tflite: Path, tmp_path: Path) -> None:
    """The stamp lets a run skip hashing the file. A byte changed in place, with the size and
    the modification time put back, still changes the file's change time: it is hashed again,
    found wrong and rebuilt."""
    target = tmp_path / "p.tflite"
    posenet.build_posenet_tflite(target)
    good = target.read_bytes()
    before = target.stat()
    time.sleep(0.05)  # past the file system's timestamp granularity
    with target.open("r+b") as handle:
        handle.seek(len(good) // 2)
        handle.write(bytes([good[len(good) // 2] ^ 0xFF]))
    os.utime(target, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = target.stat()
    assert (after.st_size, after.st_mtime_ns) == (before.st_size, before.st_mtime_ns)
    assert posenet.build_posenet_tflite(target) == target
    assert target.read_bytes() == good


def test_keras_model_is_the_same_network(posenet_tflite: Path) -> None:
    model = posenet.build_posenet_keras()
    assert model.count_params() == posenet.posenet_parameter_count()
    assert list(model.output_names) == list(posenet.OUTPUT_NAMES)
    image = _seeded_image()
    keras_out = dict(zip(posenet.OUTPUT_NAMES, model(image, training=False), strict=True))
    tflite_out = _run_tflite(posenet_tflite, image)
    for name in posenet.OUTPUT_NAMES:
        np.testing.assert_allclose(np.asarray(keras_out[name]), tflite_out[name], atol=1e-4)


def test_frozen_graph_converts_back_to_the_same_operators(
    posenet_tflite: Path, posenet_graph: posenet.FrozenGraph, tmp_path: Path
) -> None:
    assert posenet_graph.path.suffix == ".pb"
    assert posenet_graph.input_names == ["image"]
    assert posenet_graph.output_names == list(posenet.OUTPUT_NAMES)
    resolved = resolve_model(
        str(posenet_graph.path),
        workdir=tmp_path,
        input_names=posenet_graph.input_names,
        output_names=posenet_graph.output_names,
    )
    assert resolved.kind == "frozen_graph"
    assert _opcodes(resolved.path) == _opcodes(posenet_tflite)
    image = _seeded_image()
    again, built = _run_tflite(resolved.path, image), _run_tflite(posenet_tflite, image)
    for name in posenet.OUTPUT_NAMES:
        np.testing.assert_array_equal(again[name], built[name])


def test_reference_style_single_tensor_cut_of_the_frozen_graph(
    posenet_graph: posenet.FrozenGraph, tmp_path: Path
) -> None:
    """The seed's scripts convert the graph up to one named tensor; the names must work."""
    head = convert_frozen_graph(
        posenet_graph.path,
        workdir=tmp_path,
        input_names=posenet_graph.input_names,
        output_names=[posenet_graph.layer_output_names[11]],
    )
    assert _opcodes(head) == EXPECTED_OPS[:12]


def test_posenet_is_a_builtin_model(posenet_tflite: Path, tmp_path: Path) -> None:
    resolved = resolve_model("posenet", workdir=tmp_path)
    assert (resolved.kind, resolved.name, resolved.source) == ("builtin", "posenet", "posenet")
    assert resolved.path == posenet_tflite
