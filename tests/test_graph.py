"""load_graph on real TFLite files: operators, tensors, dtypes, sizes, bad files, dynamic shapes."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import split_models
from ai_edge_litert.interpreter import Interpreter
from splitbench.errors import ModelError, SplitbenchError
from splitbench.formats.tflite.graph import load_parsed, parsed_model
from splitbench.graph import ModelGraph, TensorInfo, load_graph


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("graph_models")


def _one_line_model_error(path: Path, **kwargs: object) -> str:
    with pytest.raises(ModelError) as info:
        load_graph(path, **kwargs)  # type: ignore[arg-type]
    message = str(info.value)
    assert "\n" not in message and message
    assert isinstance(info.value, SplitbenchError)
    return message


# --- structure ---------------------------------------------------------------------------------


def test_chain_operators_in_execution_order(chain_tflite: Path) -> None:
    graph = load_graph(chain_tflite)
    assert [op.opcode for op in graph.operators] == [
        "CONV_2D",
        "DEPTHWISE_CONV_2D",
        "CONV_2D",
        "CONV_2D",
    ]
    assert [op.index for op in graph.operators] == [0, 1, 2, 3]
    # A chain: each operator reads the activation the previous one wrote.
    for before, after in zip(graph.operators, graph.operators[1:], strict=False):
        assert before.outputs[0] == after.inputs[0]
    image = graph.tensors[graph.inputs[0]]
    assert (image.shape, image.dtype, image.nbytes) == ((1, 16, 16, 3), "float32", 16 * 16 * 3 * 4)
    out = graph.tensors[graph.outputs[0]]
    assert (out.shape, out.nbytes) == ((1, 8, 8, 4), 8 * 8 * 4 * 4)
    assert graph.num_subgraphs == 1
    assert graph.file_bytes == chain_tflite.stat().st_size
    assert len(graph.sha256) == 64


def test_tensors_agree_with_the_runtime(branchy_tflite: Path, two_input_tflite: Path) -> None:
    """Names, shapes and dtypes as the TFLite interpreter itself reports them."""
    for path in (branchy_tflite, two_input_tflite):
        graph = load_graph(path)
        interpreter = Interpreter(model_path=str(path))
        details = interpreter.get_tensor_details()
        assert details
        for detail in details:
            tensor = graph.tensors[detail["index"]]
            assert tensor.name == detail["name"]
            assert tensor.shape == tuple(detail["shape"])
            assert tensor.dtype == np.dtype(detail["dtype"]).name
        runtime_inputs = sorted(d["index"] for d in interpreter.get_input_details())
        assert sorted(graph.inputs) == runtime_inputs


def test_every_operator_input_is_ready_before_it_runs(branchy_tflite: Path) -> None:
    graph = load_graph(branchy_tflite)
    ready = set(graph.inputs)
    for op in graph.operators:
        for t in op.inputs:
            assert t < 0 or graph.tensors[t].is_constant or t in ready
        ready.update(op.outputs)
    assert set(graph.outputs) <= ready


def test_weights_are_constants_and_activations_are_not(chain_tflite: Path) -> None:
    graph = load_graph(chain_tflite)
    for op in graph.operators:
        data, weights, bias = op.inputs
        assert not graph.tensors[data].is_constant
        assert graph.tensors[weights].is_constant and graph.tensors[bias].is_constant
        assert not any(graph.tensors[t].is_constant for t in op.outputs)


def test_int8_model_sizes_are_dtype_aware(models_dir: Path) -> None:
    graph = load_graph(split_models.write(models_dir, "int8", split_models.int8_model()))
    image = graph.tensors[graph.inputs[0]]
    assert (image.dtype, image.nbytes) == ("int8", 12 * 12 * 3)
    activations = [graph.tensors[t] for op in graph.operators for t in op.outputs]
    assert {t.dtype for t in activations} == {"int8"}
    assert all(t.nbytes == int(np.prod(t.shape)) for t in activations)
    biases = [graph.tensors[op.inputs[2]] for op in graph.operators if op.opcode == "CONV_2D"]
    assert {t.dtype for t in biases} == {"int32"}


def test_nbytes_per_dtype() -> None:
    def size(dtype: str, shape: tuple[int, ...]) -> int | None:
        return TensorInfo(0, "t", shape, dtype, False).nbytes

    assert size("float32", (2, 3)) == 24
    assert size("float16", (2, 3)) == 12
    assert size("int16", (5,)) == 10
    assert size("int64", (5,)) == 40
    assert size("uint8", (7,)) == 7
    assert size("bool", (7,)) == 7
    assert size("int4", (7,)) == 4  # packed, rounded up
    assert size("float32", ()) == 4  # scalar
    assert size("float32", (-1, 3)) is None  # dynamic
    assert size("string", (3,)) is None  # no fixed element size


# --- operator codes ----------------------------------------------------------------------------


def test_custom_operator_is_named_by_its_custom_code(chain_tflite: Path, models_dir: Path) -> None:
    data = split_models.with_custom_op(chain_tflite.read_bytes(), "DEPTHWISE_CONV_2D", "MyDwConv")
    graph = load_graph(split_models.write(models_dir, "custom", data))
    assert [op.opcode for op in graph.operators] == [
        "CONV_2D",
        "CUSTOM:MyDwConv",
        "CONV_2D",
        "CONV_2D",
    ]


def test_builtin_code_read_from_either_field(chain_tflite: Path, models_dir: Path) -> None:
    """Old files fill only ``deprecated_builtin_code``; codes >= 127 live in ``builtin_code``."""
    from ai_edge_litert import schema_py_generated as schema
    from ai_edge_litert.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model_from_bytearray(bytearray(chain_tflite.read_bytes()))
    ops = schema.BuiltinOperator
    for code in model.operatorCodes:
        if code.builtinCode == ops.CONV_2D:
            code.builtinCode = 0  # as written before the extended field existed
        else:  # pretend DEPTHWISE_CONV_2D were an extended code (> 127)
            code.deprecatedBuiltinCode = ops.PLACEHOLDER_FOR_GREATER_OP_CODES
            code.builtinCode = ops.BROADCAST_TO
    data = bytes(flatbuffer_utils.convert_object_to_bytearray(model))
    graph = load_graph(split_models.write(models_dir, "codes", data))
    assert [op.opcode for op in graph.operators] == [
        "CONV_2D",
        "BROADCAST_TO",
        "CONV_2D",
        "CONV_2D",
    ]


def test_control_flow_model_splits_subgraph_zero(models_dir: Path) -> None:
    graph = load_graph(split_models.write(models_dir, "loop", split_models.while_loop_model()))
    assert graph.num_subgraphs == 3
    assert "WHILE" in [op.opcode for op in graph.operators]


# --- bad files ---------------------------------------------------------------------------------


def test_missing_empty_and_directory(tmp_path: Path) -> None:
    assert "not found" in _one_line_model_error(tmp_path / "nope.tflite")
    empty = tmp_path / "empty.tflite"
    empty.write_bytes(b"")
    assert "empty" in _one_line_model_error(empty)
    assert "directory" in _one_line_model_error(tmp_path)


def test_not_a_tflite_model(tmp_path: Path) -> None:
    text = tmp_path / "notes.tflite"
    text.write_text("this is a text file, not a model\n" * 20)
    assert "not a TFLite model" in _one_line_model_error(text)
    tiny = tmp_path / "tiny.tflite"
    tiny.write_bytes(b"TFL")
    assert "not a TFLite model" in _one_line_model_error(tiny)


def test_identifier_with_garbage_is_corrupt(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.tflite"
    rng = np.random.default_rng(5)
    garbage.write_bytes(b"\xff\xff\x00\x00TFL3" + rng.integers(0, 256, 200, np.uint8).tobytes())
    assert "truncated or corrupt" in _one_line_model_error(garbage)


@pytest.mark.parametrize("fraction", [0.1, 0.5, 0.9, 0.99])
def test_truncated_model(branchy_tflite: Path, tmp_path: Path, fraction: float) -> None:
    data = branchy_tflite.read_bytes()
    cut = tmp_path / "cut.tflite"
    cut.write_bytes(data[: int(len(data) * fraction)])
    message = _one_line_model_error(cut)
    assert "truncated or corrupt" in message and str(cut) in message


def test_every_truncation_point_is_detected(chain_tflite: Path, tmp_path: Path) -> None:
    """Not only round fractions: a file missing even its last byte is refused."""
    data = chain_tflite.read_bytes()
    cut = tmp_path / "cut.tflite"
    for end in [*range(8, len(data), 97), len(data) - 1]:
        cut.write_bytes(data[:end])
        with pytest.raises(ModelError):
            load_graph(cut)


# --- dynamic shapes ----------------------------------------------------------------------------


def test_dynamic_input_without_shapes_names_the_input(models_dir: Path) -> None:
    path = split_models.write(models_dir, "dynamic", split_models.dynamic_batch_model())
    message = _one_line_model_error(path)
    assert "serving_default_image:0" in message
    assert "--input-shape image:1,8,8,3" in message


@pytest.mark.parametrize("name", ["image", "serving_default_image:0"])
def test_dynamic_input_with_shapes_resolves_every_tensor(models_dir: Path, name: str) -> None:
    path = split_models.write(models_dir, "dynamic", split_models.dynamic_batch_model())
    graph = load_graph(path, {name: (3, 8, 8, 3)})
    assert graph.tensors[graph.inputs[0]].shape == (3, 8, 8, 3)
    for op in graph.operators:
        for t in op.outputs:
            assert graph.tensors[t].shape[0] == 3
            assert graph.tensors[t].nbytes is not None
    assert graph.tensors[graph.outputs[0]].shape == (3, 8, 8, 2)


def test_bad_input_shapes(models_dir: Path) -> None:
    path = split_models.write(models_dir, "dynamic", split_models.dynamic_batch_model())
    assert "not an input" in _one_line_model_error(path, input_shapes={"nope": (1, 8, 8, 3)})
    message = _one_line_model_error(path, input_shapes={"image": (1, 8, 8)})
    assert "4 positive dimensions" in message


# --- the parse is kept -------------------------------------------------------------------------


def test_parsed_model_is_reused_and_checked(chain_tflite: Path, tmp_path: Path) -> None:
    graph, parsed = load_parsed(chain_tflite)
    assert parsed_model(graph) is parsed
    # A record not made by load_graph (here: another digest) is re-read and checked.
    copy = tmp_path / "copy.tflite"
    copy.write_bytes(chain_tflite.read_bytes())
    stranger: ModelGraph = dataclasses.replace(graph, path=copy, sha256="0" * 64)
    with pytest.raises(ModelError, match="changed since"):
        parsed_model(stranger)
    same = dataclasses.replace(graph, path=copy, sha256=graph.sha256)
    assert parsed_model(same).model is not None
