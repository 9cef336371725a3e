"""The TFLite format's graph: a ``.tflite`` file as operators in execution order.

Only the primary subgraph (index 0) is split; operators are in the order the TFLite interpreter
executes them, which is the order of ``subgraphs[0].operators`` in the flatbuffer. Models with
control flow (WHILE/IF/CALL_ONCE bodies in further subgraphs) are accepted: their operators in
subgraph 0 are split like any other, and the splitter copies the other subgraphs whole into each
part, because an operator of subgraph 0 may name them by index.

The flatbuffer is read with ``ai_edge_litert.tools.flatbuffer_utils`` (the object API of the
generated schema). The parsed object tree is kept in a private cache beside the returned
:class:`ModelGraph` so that the splitter re-uses it instead of parsing the file once per split.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from splitbench.errors import ModelError
from splitbench.formats.base import ParsedCache
from splitbench.graph import ModelGraph, OperatorInfo, TensorInfo

_FILE_IDENTIFIER = b"TFL3"


@dataclass(frozen=True)
class ParsedModel:
    """The parsed flatbuffer behind a :class:`ModelGraph`, kept so it is parsed once.

    ``data`` is the file content: the weight arrays in ``model.buffers`` are numpy views into it,
    so it must live as long as the model. ``static_shapes`` is set when shapes were resolved
    from ``input_shapes``: the splitter writes them into the parts so that each part runs at the
    shapes the user asked for.
    """

    data: bytes
    model: Any  # schema_py_generated.ModelT (the generated module has no type stubs)
    static_shapes: dict[int, tuple[int, ...]] | None


# ModelGraph -> ParsedModel, dropped when the graph is garbage-collected.
_PARSED: ParsedCache[ParsedModel] = ParsedCache(lambda path, shapes: load_parsed(path, shapes))


def load_graph(path: Path, input_shapes: Mapping[str, tuple[int, ...]] | None = None) -> ModelGraph:
    """Read a ``.tflite`` file into a :class:`ModelGraph` (subgraph 0, execution order).

    ``input_shapes`` maps an input (tensor name or signature input name) to a static shape; it is
    required for inputs whose ``shape_signature`` has a dynamic (-1) dimension, because cut sizes
    and measurements need static shapes. Every bad file raises a one-line :class:`ModelError`.
    """
    graph, _ = load_parsed(path, input_shapes)
    return graph


def load_parsed(
    path: Path, input_shapes: Mapping[str, tuple[int, ...]] | None = None
) -> tuple[ModelGraph, ParsedModel]:
    """Like :func:`load_graph`, also returning the parsed model (for the splitter)."""
    path = Path(path)
    data = _read_file(path)
    model = _parse(path, data)
    if not model.subgraphs:
        raise ModelError(f"{path} has no subgraph: it is not a runnable TFLite model")
    static_shapes, write_shapes = _resolve_shapes(path, data, model, input_shapes)
    graph = _build_graph(path, data, model, static_shapes)
    parsed = ParsedModel(
        data=data, model=model, static_shapes=static_shapes if write_shapes else None
    )
    _PARSED.put(graph, parsed)
    return graph, parsed


def parsed_model(graph: ModelGraph) -> ParsedModel:
    """The parsed model behind ``graph``, from the cache or by re-reading ``graph.path``."""
    return _PARSED.get(graph)


# --- reading and validating --------------------------------------------------------------------


def _read_file(path: Path) -> bytes:
    if not path.exists():
        raise ModelError(f"model file not found: {path}")
    if path.is_dir():
        raise ModelError(f"{path} is a directory, not a .tflite file")
    data = path.read_bytes()
    if not data:
        raise ModelError(f"{path} is empty (0 bytes): not a TFLite model")
    if len(data) < 8 or data[4:8] != _FILE_IDENTIFIER:
        raise ModelError(f"{path} is not a TFLite model (no TFL3 file identifier)")
    return data


def _parse(path: Path, data: bytes) -> Any:
    """Parse with flatbuffer_utils; any failure of a reader means the file is cut off or corrupt.

    The Python flatbuffers reader raises when a read goes past the end of the data, so a file
    cut anywhere inside its flatbuffer fails here. Buffers stored *after* the flatbuffer (the
    offset/size layout of models over 2 GB) are checked against the file length first, because
    the library slices them silently.
    """
    import numpy as np
    from ai_edge_litert.tools import flatbuffer_utils

    try:
        _check_external_extents(data)
        model = flatbuffer_utils.read_model_from_bytearray(data)
    except ModelError as exc:
        raise ModelError(f"{path} is truncated or corrupt: {exc}") from None
    except Exception as exc:  # any reader failure: struct.error, IndexError, ValueError, ...
        raise ModelError(
            f"{path} is truncated or corrupt ({len(data)} bytes): its flatbuffer cannot be read"
            f" ({type(exc).__name__})"
        ) from None
    for buffer in model.buffers or []:
        # Offset-stored buffers come back as bytes slices; the packer needs numpy arrays to copy
        # them in one go instead of byte by byte.
        if buffer.data is not None and not isinstance(buffer.data, np.ndarray):
            buffer.data = np.frombuffer(buffer.data, dtype=np.uint8)
    return model


def _check_external_extents(data: bytes) -> None:
    """Raise if a buffer or large custom option stored by offset reaches past the file end."""
    from ai_edge_litert import schema_py_generated as schema

    root = schema.Model.GetRootAs(data, 0)
    size = len(data)
    for i in range(root.BuffersLength()):
        buffer = root.Buffers(i)
        if buffer is not None and buffer.Offset() > 1 and buffer.Offset() + buffer.Size() > size:
            raise ModelError(
                f"buffer {i} ends at byte {buffer.Offset() + buffer.Size()}"
                f" but the file has {size} bytes"
            )
    for s in range(root.SubgraphsLength()):
        subgraph = root.Subgraphs(s)
        for o in range(subgraph.OperatorsLength()):
            op = subgraph.Operators(o)
            end = op.LargeCustomOptionsOffset() + op.LargeCustomOptionsSize()
            if op.LargeCustomOptionsOffset() > 1 and end > size:
                raise ModelError(
                    f"custom options of operator {o} end at byte {end}"
                    f" but the file has {size} bytes"
                )


# --- names and types ---------------------------------------------------------------------------


def _enum_names(enum_class: type) -> dict[int, str]:
    return {
        v: k for k, v in vars(enum_class).items() if not k.startswith("_") and isinstance(v, int)
    }


def _dtype_names() -> dict[int, str]:
    from ai_edge_litert import schema_py_generated as schema

    return {code: name.lower() for code, name in _enum_names(schema.TensorType).items()}


def _opcode_names(model: Any) -> list[str]:
    """One display name per operator code: the builtin name, or ``CUSTOM:<custom_code>``."""
    from ai_edge_litert import schema_py_generated as schema
    from ai_edge_litert.tools import flatbuffer_utils

    builtin = _enum_names(schema.BuiltinOperator)
    names = []
    for code in model.operatorCodes or []:
        # Codes >= 127 live only in builtin_code; older files only fill the deprecated field.
        number = flatbuffer_utils.get_builtin_code_from_operator_code(code)
        if number == schema.BuiltinOperator.CUSTOM:
            custom = code.customCode
            names.append(f"CUSTOM:{_text(custom) if custom is not None else '?'}")
        else:
            names.append(builtin.get(number, f"BUILTIN_{number}"))
    return names


def _text(value: bytes | str | None) -> str:
    if value is None:
        return ""
    return value.decode("utf-8", errors="replace") if isinstance(value, bytes) else value


def _is_constant(model: Any, tensor: Any) -> bool:
    if getattr(tensor, "externalBuffer", 0):
        return True
    if not tensor.buffer:
        return False
    buffer = model.buffers[tensor.buffer]
    return (buffer.data is not None and len(buffer.data) > 0) or bool(buffer.size)


# --- dynamic shapes ----------------------------------------------------------------------------


def _resolve_shapes(
    path: Path,
    data: bytes,
    model: Any,
    input_shapes: Mapping[str, tuple[int, ...]] | None,
) -> tuple[dict[int, tuple[int, ...]] | None, bool]:
    """Static shapes for every tensor of subgraph 0 when the model or the user needs them.

    Returns ``(shapes, write_to_parts)``. Needed when a ``shape_signature`` has -1: for a dynamic
    *input* without ``input_shapes`` this is a user error. The shapes are computed by the runtime
    itself (resize the inputs in an interpreter, allocate, read every tensor's shape) rather than
    by re-implementing shape inference. When only intermediate tensors are dynamic (shapes that
    depend on data, e.g. after NON_MAX_SUPPRESSION) the runtime's planned shapes size the cuts, but
    the parts keep the file's shapes, and a runtime failure (say, an unresolvable custom operator)
    leaves those tensors unsized instead of refusing the model.
    """
    subgraph = model.subgraphs[0]
    tensors = subgraph.tensors or []
    dynamic = [i for i, t in enumerate(tensors) if _is_dynamic(t)]
    if not dynamic and not input_shapes:
        return None, False
    wanted = _match_input_shapes(path, model, input_shapes or {})
    for i in subgraph.inputs or []:
        if i not in wanted and _is_dynamic(tensors[i]):
            signature = list(tensors[i].shapeSignature)
            example = ",".join(
                str(d) if d >= 0 else ("1" if axis == 0 else f"D{axis}")
                for axis, d in enumerate(signature)
            )
            name = _text(tensors[i].name)
            short = _signature_input_names(model).get(i, name)  # "image" reads better
            raise ModelError(
                f"input '{name}' of {path.name} has a dynamic shape {signature}:"
                f" pass --input-shape {short}:{example} with sizes for the dynamic dimensions"
            )
    if wanted:
        return _shapes_from_runtime(path, data, wanted), True
    try:
        return _shapes_from_runtime(path, data, wanted), False
    except ModelError:
        return None, False


def _is_dynamic(tensor: Any) -> bool:
    return tensor.shapeSignature is not None and any(d < 0 for d in tensor.shapeSignature)


def _signature_input_names(model: Any) -> dict[int, str]:
    """Input tensor index -> its name in the SignatureDef of subgraph 0 (e.g. ``image``)."""
    names: dict[int, str] = {}
    for signature in model.signatureDefs or []:
        if signature.subgraphIndex == 0:
            for entry in signature.inputs or []:
                names.setdefault(int(entry.tensorIndex), _text(entry.name))
    return names


def _match_input_shapes(
    path: Path, model: Any, input_shapes: Mapping[str, tuple[int, ...]]
) -> dict[int, tuple[int, ...]]:
    """Map user-given names (tensor names or signature input names) to input tensor indices."""
    subgraph = model.subgraphs[0]
    by_name: dict[str, int] = {_text(subgraph.tensors[i].name): i for i in subgraph.inputs or []}
    for index, name in _signature_input_names(model).items():
        by_name.setdefault(name, index)
    if "" in input_shapes and len(subgraph.inputs or []) == 1:  # --input-shape 1,224,224,3
        by_name[""] = subgraph.inputs[0]
    wanted: dict[int, tuple[int, ...]] = {}
    for name, shape in input_shapes.items():
        if name == "" and name not in by_name:
            raise ModelError(
                f"{path.name} has {len(subgraph.inputs or [])} inputs: name the one each"
                " --input-shape is for, NAME:1,224,224,3"
            )
        if name not in by_name:
            known = ", ".join(sorted(by_name))
            raise ModelError(
                f"--input-shape names '{name}', which is not an input of {path.name}"
                f" (inputs: {known})"
            )
        index = by_name[name]
        tensor = subgraph.tensors[index]
        rank = len(
            tensor.shapeSignature if tensor.shapeSignature is not None else tensor.shape or []
        )
        if len(shape) != rank or any(d <= 0 for d in shape):
            raise ModelError(
                f"--input-shape for '{name}' must give {rank} positive dimensions,"
                f" got {list(shape)}"
            )
        wanted[index] = tuple(int(d) for d in shape)
    return wanted


def _shapes_from_runtime(
    path: Path, data: bytes, wanted: Mapping[int, tuple[int, ...]]
) -> dict[int, tuple[int, ...]]:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    try:
        # Without default delegates, so that every builtin kernel's Prepare computes its output
        # shape (a delegate kernel would not write shapes back to tensors inside it).
        interpreter = Interpreter(
            model_content=data,
            experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
        )
        for index, shape in wanted.items():
            interpreter.resize_tensor_input(index, list(shape), strict=False)
        interpreter.allocate_tensors()
    except (RuntimeError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelError(f"cannot resolve the tensor shapes of {path.name}: {first}") from None
    return {d["index"]: tuple(int(x) for x in d["shape"]) for d in interpreter.get_tensor_details()}


# --- the graph record --------------------------------------------------------------------------


def _build_graph(
    path: Path, data: bytes, model: Any, static_shapes: dict[int, tuple[int, ...]] | None
) -> ModelGraph:
    subgraph = model.subgraphs[0]
    dtypes = _dtype_names()
    tensors = []
    for index, t in enumerate(subgraph.tensors or []):
        if static_shapes is not None and index in static_shapes:
            shape = static_shapes[index]
        elif t.shapeSignature is not None and len(t.shapeSignature) == len(t.shape or []):
            shape = tuple(int(d) for d in t.shapeSignature)
        else:
            shape = tuple(int(d) for d in t.shape or [])
        tensors.append(
            TensorInfo(
                index=index,
                name=_text(t.name),
                shape=shape,
                dtype=dtypes.get(t.type, f"type{t.type}"),
                is_constant=_is_constant(model, t),
                is_variable=bool(t.isVariable),
            )
        )
    names = _opcode_names(model)
    operators = tuple(
        OperatorInfo(
            index=i,
            opcode=names[op.opcodeIndex]
            if op.opcodeIndex < len(names)
            else f"OPCODE_{op.opcodeIndex}",
            inputs=tuple(int(x) for x in op.inputs or []),
            outputs=tuple(int(x) for x in op.outputs or []),
            module=_module_path(tensors, op.outputs),
        )
        for i, op in enumerate(subgraph.operators or [])
    )
    return ModelGraph(
        path=path,
        sha256=hashlib.sha256(data).hexdigest(),
        file_bytes=len(data),
        operators=operators,
        tensors=tuple(tensors),
        inputs=tuple(int(i) for i in subgraph.inputs or []),
        outputs=tuple(int(i) for i in subgraph.outputs or []),
        num_subgraphs=len(model.subgraphs),
    )


def _module_path(tensors: list[TensorInfo], outputs: Any) -> str:
    """The PyTorch module of an operator converted by litert-torch (its first output's name)."""
    from splitbench.module_paths import from_litert_name

    for t in outputs if outputs is not None else []:
        if 0 <= int(t) < len(tensors):
            return from_litert_name(tensors[int(t)].name)
    return ""
