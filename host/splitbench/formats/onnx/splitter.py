"""The ONNX format's part maker: parts assembled from pre-serialized protobuf fields.

A part is a minimal valid ONNX model: exactly the part's nodes, the initializers they read, the
value infos of the tensors they make, the opset imports and model-local functions they use, and
its boundary (``PartIO``) as graph inputs and outputs with static shapes. Part sizes are
therefore real sizes.

Why it is fast: ``onnx.utils.extract_model`` re-parses, re-infers shapes, walks and re-checks the
whole model for every part, and serializes every weight again. Here each node, initializer and
value info is serialized *once* when the part maker is made; a part is then the protobuf wire
format written by hand around those bytes — a message is just its fields one after the other,
an embedded message is ``tag, length, bytes`` — so making a part is concatenation, and the
weights go from their one serialized copy straight to the file (``Segments``). The model-level
fields (IR version, producer, metadata) come from the original model, serialized once.
"""

from __future__ import annotations

from collections.abc import Sequence

from splitbench.formats.base import PartIO, Segments
from splitbench.formats.onnx.graph import ParsedOnnx, _subgraph_reads, parsed_model
from splitbench.graph import ModelGraph

# Field numbers of onnx.proto (ModelProto, GraphProto).
_MODEL_OPSET_IMPORT = 8
_IR_INITIALIZERS_NOT_INPUTS = 4
_MODEL_GRAPH = 7
_MODEL_FUNCTIONS = 25
_GRAPH_NODE = 1
_GRAPH_NAME = 2
_GRAPH_INITIALIZER = 5
_GRAPH_INPUT = 11
_GRAPH_OUTPUT = 12
_GRAPH_VALUE_INFO = 13
_JOIN_BELOW = 1 << 16  # smaller pieces are joined into one buffer: fewer, larger writes


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _prefix(field: int, length: int) -> bytes:
    """Tag (wire type 2, length-delimited) and length of an embedded message field."""
    return _varint(field << 3 | 2) + _varint(length)


def _framed(field: int, payload: bytes) -> bytes:
    return _prefix(field, len(payload)) + payload


class OnnxPartMaker:
    """Parts of one loaded ONNX graph (see the module docstring)."""

    def __init__(self, graph: ModelGraph) -> None:
        import onnx

        self.graph = graph
        parsed: ParsedOnnx = parsed_model(graph)
        model = parsed.model
        g = model.graph
        self._order = parsed.order
        self._nodes = [_framed(_GRAPH_NODE, g.node[i].SerializeToString()) for i in parsed.order]
        self._node_domains = [g.node[i].domain for i in parsed.order]
        self._node_types = [g.node[i].op_type for i in parsed.order]
        self._initializers: dict[str, tuple[bytes, bytes]] = {}
        for t in g.initializer:
            payload = t.SerializeToString()
            self._initializers[t.name] = (_prefix(_GRAPH_INITIALIZER, len(payload)), payload)
        self._node_initializers: list[tuple[str, ...]] = []
        for i in parsed.order:
            node = g.node[i]
            reads = [*node.input, *_subgraph_reads(node)]
            self._node_initializers.append(
                tuple(dict.fromkeys(n for n in reads if n in self._initializers))
            )
        # Value infos of the inferred model, for tensors made inside a part.
        self._value_infos = {v.name: v for v in [*g.value_info, *g.output, *g.input]}
        self._elem_types = {
            v.name: v.type.tensor_type.elem_type
            for v in self._value_infos.values()
            if v.type.HasField("tensor_type")
        }
        for t in g.initializer:
            self._elem_types.setdefault(t.name, t.data_type)
        self._inner_infos = {
            v.name: _framed(_GRAPH_VALUE_INFO, v.SerializeToString()) for v in g.value_info
        }
        self._opsets = {
            o.domain: _framed(_MODEL_OPSET_IMPORT, o.SerializeToString())
            for o in model.opset_import
        }
        self._functions = {
            (f.domain, f.name): _framed(_MODEL_FUNCTIONS, f.SerializeToString())
            for f in model.functions
        }
        header = onnx.ModelProto()
        header.CopyFrom(model)
        header.ClearField("graph")
        header.ClearField("opset_import")
        header.ClearField("functions")
        # IR 3 (opset 7/8 era) wants every initializer listed as a graph input; a part lists only
        # its cut tensors, so it is stamped IR 4, where initializers need not be inputs (the
        # operators and opsets are unchanged).
        header.ir_version = max(header.ir_version, _IR_INITIALIZERS_NOT_INPUTS)
        self._header = header.SerializeToString()
        self._graph_name = _framed(_GRAPH_NAME, g.name.encode()) if g.name else b""
        self._onnx = onnx

    def prefetch(self, ios: Sequence[PartIO], jobs: int) -> None:
        """Parts are packed here, on demand: nothing to start ahead."""

    def head(self, k: int, io: PartIO) -> Segments:
        return self._part(io)

    def tail(self, k: int, io: PartIO) -> Segments:
        return self._part(io)

    def _boundary(self, field: int, index: int) -> bytes:
        """A graph input or output with the static shape the graph resolved."""
        info = self.graph.tensors[index]
        elem = self._elem_types.get(info.name, self._onnx.TensorProto.FLOAT)
        shape = [d if d >= 0 else None for d in info.shape]
        value = self._onnx.helper.make_tensor_value_info(info.name, elem, shape)
        return _framed(field, value.SerializeToString())

    def _part(self, io: PartIO) -> Segments:
        graph_pieces: list[bytes] = []
        used_inits: dict[str, None] = {}
        domains: dict[str, None] = {"": None}
        made: set[str] = set()
        for position in io.operators:
            graph_pieces.append(self._nodes[position])
            for name in self._node_initializers[position]:
                used_inits[name] = None
            domains[self._node_domains[position]] = None
            made.update(
                self.graph.tensors[t].name for t in self.graph.operators[position].outputs if t >= 0
            )
        boundary = set(io.input_names) | set(io.output_names)
        small: list[bytes] = [
            *(self._boundary(_GRAPH_INPUT, t) for t in io.inputs),
            *(self._boundary(_GRAPH_OUTPUT, t) for t in io.outputs),
            *(self._inner_infos[n] for n in made if n in self._inner_infos and n not in boundary),
            self._graph_name,
        ]
        graph_pieces.extend(small)
        init_pieces: list[bytes] = []
        for name in used_inits:
            prefix, payload = self._initializers[name]
            init_pieces += [prefix, payload]
        graph_len = sum(len(p) for p in graph_pieces) + sum(len(p) for p in init_pieces)
        opsets = [self._opsets[d] for d in domains if d in self._opsets]
        functions = [
            blob
            for (domain, name), blob in self._functions.items()
            if domain in domains
            and any(
                self._node_domains[p] == domain and self._node_types[p] == name
                for p in io.operators
            )
        ]
        head = b"".join(
            [self._header, *opsets, *functions, _prefix(_MODEL_GRAPH, graph_len), *graph_pieces]
        )
        return _coalesce([head, *init_pieces])


def _coalesce(pieces: list[bytes]) -> Segments:
    """Join runs of small pieces; large ones (weights) are written from their one copy."""
    out: Segments = []
    pending: list[bytes] = []
    for piece in pieces:
        if len(piece) < _JOIN_BELOW:
            pending.append(piece)
            continue
        if pending:
            out.append(memoryview(b"".join(pending)))
            pending = []
        out.append(memoryview(piece))
    if pending:
        out.append(memoryview(b"".join(pending)))
    return out
