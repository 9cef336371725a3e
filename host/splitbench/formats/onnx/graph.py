"""The ONNX format's graph: an ``.onnx`` file as nodes in topological order.

Split units are the main graph's nodes, in the file's order when it is already topological
(the ONNX standard requires it; exporters write it), else in a stable topological order.
Tensors are every value name the graph mentions; initializers and the outputs of ``Constant``
nodes are weights (``is_constant``), so constants and nodes that depend only on initializers
become weight-only units (:func:`splitbench.cutplan.weight_only_operators`): they keep their
index but travel with their consumers and never cross a cut.

Shapes: ``--input-shape`` fixes input dimensions (required where a dimension is symbolic),
then ONNX's own shape inference (with data propagation) sizes every tensor. A tensor it cannot
size keeps -1 and is counted as unsized, never guessed. Nodes with subgraphs (If, Loop, Scan)
are one unit each; the outer-scope values their bodies read count as their inputs.

The parsed ``ModelProto`` (with its external data loaded) is kept beside the returned graph for
the splitter, as the TFLite format does with its flatbuffer.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from splitbench.errors import ModelError
from splitbench.formats.base import ParsedCache
from splitbench.graph import ModelGraph, OperatorInfo, TensorInfo

_MAX_PROTO_BYTES = (1 << 31) - 1
MIN_OPSET = 7  # the oldest ai.onnx opset ONNX Runtime guarantees (see check_opset)


@dataclass(frozen=True)
class ParsedOnnx:
    model: Any  # onnx.ModelProto with inferred value_info and static input shapes
    names: tuple[str, ...]  # tensor index -> value name
    order: tuple[int, ...]  # node indices of model.graph.node in execution order


_PARSED: ParsedCache[ParsedOnnx] = ParsedCache(lambda path, shapes: load_parsed(path, shapes))


def load_graph(path: Path, input_shapes: Mapping[str, tuple[int, ...]] | None = None) -> ModelGraph:
    graph, _ = load_parsed(path, input_shapes)
    return graph


def parsed_model(graph: ModelGraph) -> ParsedOnnx:
    """The parsed model behind ``graph``, from the cache or by re-reading ``graph.path``."""
    return _PARSED.get(graph)


def load_parsed(
    path: Path, input_shapes: Mapping[str, tuple[int, ...]] | None = None
) -> tuple[ModelGraph, ParsedOnnx]:
    import onnx

    path = Path(path)
    data = _read(path)
    model = onnx.ModelProto()
    try:
        model.ParseFromString(data)
    except Exception:  # google.protobuf.message.DecodeError and friends
        raise ModelError(
            f"{path} is truncated or corrupt ({len(data)} bytes): its ONNX protobuf cannot be read"
        ) from None
    if not model.HasField("graph") or not model.graph.node:
        raise ModelError(f"{path} has no graph nodes: it is not a runnable ONNX model")
    check_opset(path, model)
    _load_external(model, path)
    initializers = {t.name for t in model.graph.initializer}
    inputs = [v for v in model.graph.input if v.name not in initializers]
    _fix_input_shapes(path, model, inputs, input_shapes or {})
    model = _infer_shapes(path, model)
    order = _topological_order(path, model.graph)
    graph, names = _build(path, data, model, order)
    parsed = ParsedOnnx(model=model, names=names, order=tuple(order))
    _PARSED.put(graph, parsed)
    return graph, parsed


# --- reading -----------------------------------------------------------------------------------


def _read(path: Path) -> bytes:
    if not path.exists():
        raise ModelError(f"model file not found: {path}")
    if path.is_dir():
        raise ModelError(f"{path} is a directory, not an .onnx file")
    data = path.read_bytes()
    if not data:
        raise ModelError(f"{path} is empty (0 bytes): not an ONNX model")
    return data


def check_opset(path: Path, model: Any) -> None:
    """Refuse an ai.onnx opset outside what the kit splits and runs, before any measurement.

    The floor is ONNX Runtime's: it guarantees opset 7 and newer and has no kernels for many
    older operator versions. The ceiling is the installed ``onnx`` package's newest opset, the
    one its shape inference (which sizes every cut tensor) knows."""
    import onnx

    newest = onnx.defs.onnx_opset_version()
    for opset in model.opset_import:
        if opset.domain in ("", "ai.onnx") and not MIN_OPSET <= opset.version <= newest:
            raise ModelError(
                f"{path} uses ONNX opset {opset.version}; splitbench supports opset "
                f"{MIN_OPSET} to {newest}: convert it first (onnx.version_converter)"
            )


def _load_external(model: Any, path: Path) -> None:
    """Bring external initializer data into memory so that parts are self-contained files."""
    from onnx.external_data_helper import load_external_data_for_model, uses_external_data

    if not any(uses_external_data(t) for t in model.graph.initializer):
        return
    try:
        load_external_data_for_model(model, str(path.parent))
    except (OSError, ValueError) as exc:
        raise ModelError(f"external data of {path.name} cannot be read: {exc}") from None


# --- shapes ------------------------------------------------------------------------------------


def _dims(value_info: Any) -> list[int | str]:
    tensor = value_info.type.tensor_type
    if not tensor.HasField("shape"):
        return []
    out: list[int | str] = []
    for d in tensor.shape.dim:
        if d.HasField("dim_value") and d.dim_value > 0:
            out.append(int(d.dim_value))
        else:
            out.append(d.dim_param or "?")
    return out


def _fix_input_shapes(
    path: Path, model: Any, inputs: list[Any], input_shapes: Mapping[str, tuple[int, ...]]
) -> None:
    by_name = {v.name: v for v in inputs}
    if "" in input_shapes:
        if len(inputs) != 1:
            raise ModelError(
                f"{path.name} has {len(inputs)} inputs ({', '.join(by_name)}): name the one"
                " each --input-shape is for, NAME:1,3,224,224"
            )
        input_shapes = {inputs[0].name: input_shapes[""]}
    for name, shape in input_shapes.items():
        value = by_name.get(name)
        if value is None:
            raise ModelError(
                f"--input-shape names '{name}', which is not an input of {path.name}"
                f" (inputs: {', '.join(by_name)})"
            )
        dims = _dims(value)
        if len(dims) != len(shape):
            raise ModelError(
                f"--input-shape for '{name}' must give {len(dims)} dimensions, got {list(shape)}"
            )
        for axis, (have, want) in enumerate(zip(dims, shape, strict=True)):
            if isinstance(have, int) and have != want:
                raise ModelError(
                    f"--input-shape for '{name}': dimension {axis} is fixed to {have} in"
                    f" {path.name}, not {want}"
                )
        tensor_shape = value.type.tensor_type.shape
        for d, want in zip(tensor_shape.dim, shape, strict=True):
            d.Clear()
            d.dim_value = int(want)
    for value in inputs:
        dims = _dims(value)
        if any(not isinstance(d, int) for d in dims) or not value.type.tensor_type.HasField(
            "shape"
        ):
            example = ",".join(
                str(d) if isinstance(d, int) else ("1" if a == 0 else f"<{d}>")
                for a, d in enumerate(dims)
            )
            raise ModelError(
                f"input '{value.name}' of {path.name} has symbolic dimensions {dims}:"
                f" pass --input-shape {value.name}:{example} with sizes for them"
            )


def _infer_shapes(path: Path, model: Any) -> Any:
    import onnx

    # A model ONNX's shape inference fails on is still usable: its shapes stay as the file
    # gives them, and the ones it does not give count as unsized.
    with contextlib.suppress(Exception):
        if model.ByteSize() < _MAX_PROTO_BYTES:
            return onnx.shape_inference.infer_shapes(model, data_prop=True)
    return model  # shapes stay as the file gives them; unknown ones count as unsized


# --- order and the graph record ----------------------------------------------------------------


def _subgraph_reads(node: Any) -> list[str]:
    """Outer-scope names read inside a node's subgraphs (If/Loop/Scan bodies)."""
    import onnx

    reads: list[str] = []
    for attr in node.attribute:
        bodies = []
        if attr.type == onnx.AttributeProto.GRAPH:
            bodies = [attr.g]
        elif attr.type == onnx.AttributeProto.GRAPHS:
            bodies = list(attr.graphs)
        for body in bodies:
            local = {v.name for v in body.input} | {t.name for t in body.initializer}
            for inner in body.node:
                local.update(inner.output)
            for inner in body.node:
                reads += [n for n in inner.input if n and n not in local]
                reads += [n for n in _subgraph_reads(inner) if n not in local]
            reads += [v.name for v in body.output if v.name not in local]
    return list(dict.fromkeys(reads))


def _node_inputs(node: Any) -> list[str]:
    return [*node.input, *_subgraph_reads(node)]


def _topological_order(path: Path, graph: Any) -> list[int]:
    produced_by: dict[str, int] = {}
    for i, node in enumerate(graph.node):
        for name in node.output:
            if name:
                produced_by[name] = i
    deps = [
        sorted(
            {produced_by[n] for n in _node_inputs(node) if n in produced_by and produced_by[n] != i}
        )
        for i, node in enumerate(graph.node)
    ]
    if all(all(d < i for d in ds) for i, ds in enumerate(deps)):
        return list(range(len(graph.node)))
    import heapq

    waiting = [len(ds) for ds in deps]
    users: list[list[int]] = [[] for _ in graph.node]
    for i, ds in enumerate(deps):
        for d in ds:
            users[d].append(i)
    ready = [i for i, w in enumerate(waiting) if w == 0]
    heapq.heapify(ready)
    order: list[int] = []
    while ready:
        i = heapq.heappop(ready)  # smallest file index first: stable
        order.append(i)
        for u in users[i]:
            waiting[u] -= 1
            if waiting[u] == 0:
                heapq.heappush(ready, u)
    if len(order) != len(graph.node):
        raise ModelError(f"{path.name} has a cycle in its graph: it is not a valid ONNX model")
    return order


def _dtype_name(elem_type: int) -> str:
    import onnx

    if elem_type == onnx.TensorProto.BFLOAT16:
        return "bfloat16"
    if elem_type == onnx.TensorProto.STRING:
        return "string"
    try:
        import numpy as np

        return np.dtype(onnx.helper.tensor_dtype_to_np_dtype(elem_type)).name
    except (KeyError, TypeError, ValueError):
        return onnx.TensorProto.DataType.Name(elem_type).lower()


def _build(
    path: Path, data: bytes, model: Any, order: list[int]
) -> tuple[ModelGraph, tuple[str, ...]]:
    g = model.graph
    infos: dict[str, tuple[tuple[int, ...], str]] = {}
    for value in [*g.input, *g.value_info, *g.output]:
        tensor = value.type.tensor_type
        if not value.type.HasField("tensor_type"):
            continue
        dims = _dims(value)
        shape = tuple(d if isinstance(d, int) else -1 for d in dims)
        if not tensor.HasField("shape"):
            shape = (-1,)
        infos[value.name] = (shape, _dtype_name(tensor.elem_type))
    constants: set[str] = {t.name for t in g.initializer}
    for t in g.initializer:
        infos[t.name] = (tuple(int(d) for d in t.dims), _dtype_name(t.data_type))
    for node in g.node:
        if node.op_type == "Constant" and node.domain in ("", "ai.onnx"):
            constants.update(o for o in node.output if o)

    index: dict[str, int] = {}
    names: list[str] = []

    def tensor_id(name: str) -> int:
        if not name:
            return -1
        found = index.get(name)
        if found is None:
            found = index[name] = len(names)
            names.append(name)
        return found

    initializer_names = {t.name for t in g.initializer}
    inputs = tuple(tensor_id(v.name) for v in g.input if v.name not in initializer_names)
    operators = []
    for position, i in enumerate(order):
        node = g.node[i]
        op = node.op_type if node.domain in ("", "ai.onnx") else f"{node.domain}:{node.op_type}"
        operators.append(
            OperatorInfo(
                index=position,
                opcode=op,
                inputs=tuple(tensor_id(n) for n in _node_inputs(node)),
                outputs=tuple(tensor_id(n) for n in node.output),
                module=_module_path(node),
            )
        )
    outputs = tuple(tensor_id(v.name) for v in g.output)
    tensors = tuple(
        TensorInfo(
            index=t,
            name=name,
            shape=infos.get(name, ((-1,), "float32"))[0],
            dtype=infos.get(name, ((-1,), "unknown"))[1],
            is_constant=name in constants,
        )
        for t, name in enumerate(names)
    )
    graph = ModelGraph(
        path=path,
        sha256=hashlib.sha256(data).hexdigest(),
        file_bytes=len(data),
        operators=tuple(operators),
        tensors=tensors,
        inputs=inputs,
        outputs=outputs,
        format="onnx",
    )
    return graph, tuple(names)


def with_static_inputs(
    path: Path, input_shapes: Mapping[str, tuple[int, ...]], workdir: Path
) -> Path:
    """A copy of ``path`` whose symbolic input dimensions are fixed by ``--input-shape``, kept
    in ``workdir`` named by content: the whole model, its parts and the inputs made for them
    then agree on one static shape, whichever runtime reads them."""
    import onnx

    data = _read(path)
    model = onnx.ModelProto()
    try:
        model.ParseFromString(data)
    except Exception:
        raise ModelError(
            f"{path} is truncated or corrupt ({len(data)} bytes): its ONNX protobuf cannot be read"
        ) from None
    _load_external(model, path)
    initializers = {t.name for t in model.graph.initializer}
    inputs = [v for v in model.graph.input if v.name not in initializers]
    _fix_input_shapes(path, model, inputs, input_shapes)
    folder = Path(workdir) / "onnx"
    folder.mkdir(parents=True, exist_ok=True)
    blob = model.SerializeToString() if model.ByteSize() < _MAX_PROTO_BYTES else None
    key = hashlib.sha256(data + repr(sorted(input_shapes.items())).encode()).hexdigest()[:16]
    out = folder / f"{path.stem}-{key}.onnx"
    if not out.is_file():
        partial = folder / f".{out.stem}.partial.onnx"
        if blob is not None:
            partial.write_bytes(blob)
        else:
            onnx.save(model, str(partial), save_as_external_data=True, location=out.name + ".data")
        partial.replace(out)
    return out


def _module_path(node: Any) -> str:
    """The PyTorch module a node came from, when torch.onnx recorded its name scopes."""
    from splitbench.module_paths import NAME_SCOPES, from_name_scopes

    for prop in node.metadata_props:
        if prop.key == NAME_SCOPES:
            return from_name_scopes(prop.value)
    return ""
