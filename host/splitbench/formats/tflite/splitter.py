"""The TFLite format's part maker: a head or a tail packed straight from the flatbuffer.

No re-conversion: the flatbuffer is parsed once (``ModelT`` from
``ai_edge_litert.tools.flatbuffer_utils``) and each part is packed from it with the generated
schema code. A part holds only what its own operators use — tensors, weight buffers, operator
codes — so its file size is the real size of the minimal part: the head's size is what the
server must deliver to the phone.

Which operators and tensors go into a part is decided by :class:`splitbench.splitter.ModelSplitter`
for every format (weight-only operators travel with the part that reads them); this module
turns that choice into a valid ``.tflite`` file.

Tensor names are kept exactly: head outputs map to tail inputs by name. Quantization
parameters, operator options and weights are the original objects. A SignatureDef of subgraph 0
is rewritten to the part's inputs and outputs (whole-model signature names kept where the tensor
had one); signatures of other subgraphs are dropped. Further subgraphs (control-flow bodies) are
copied whole into both parts, so operator options that name them by index stay valid; their
weights then count in both parts. Metadata is kept (``min_runtime_version``,
``CONVERSION_METADATA``, ...) except ``TFLITE_METADATA``, which describes the whole model's
inputs and outputs and would be wrong for a part.

Why it is fast (all 62 parts of the 13 MB PoseNet in a fraction of a second):

* heads grow one operator at a time, and tails too when walked from the end. Each direction has
  one flatbuffers builder that packs an operator's tensors, weights and table *once*, and keeps a
  checkpoint after every operator. A part is "finished" on top (tensor and operator vectors,
  subgraph, model table), written out, and the builder rewinds to the checkpoint. Any order of
  splits works: a split behind the current position rewinds, one ahead packs forward.
* weight arrays are never copied into the builder: their (16-byte aligned) room is reserved and
  the original arrays are spliced in when the part is written (see :class:`_PartBuilder`).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from splitbench.cutplan import weight_only_operators
from splitbench.formats.base import PartIO, Segments
from splitbench.formats.tflite.graph import ParsedModel, parsed_model
from splitbench.graph import ModelGraph

_DROPPED_METADATA = {b"TFLITE_METADATA"}
_BUFFER_ALIGN = 16  # the schema's force_align for Buffer.data, as the C++ converter writes it
_SPLICE_MIN_BYTES = 256  # smaller arrays are copied into the builder: fewer, larger writes


class TFLitePartMaker:
    """Packs parts of one parsed model; two builders (heads, tails), made on first use."""

    def __init__(self, graph: ModelGraph) -> None:
        self.graph = graph
        self._parsed: ParsedModel = parsed_model(graph)
        self._model = self._parsed.model
        self._producer: dict[int, int] = {}
        for op in graph.operators:
            for t in op.outputs:
                self._producer.setdefault(t, op.index)
        self._weight_only = weight_only_operators(graph)
        self._heads: _PartChain | None = None
        self._tails: _PartChain | None = None

    def prefetch(self, ios: Sequence[PartIO], jobs: int) -> None:
        """Parts are packed here, on demand: nothing to start ahead."""

    def head(self, k: int, io: PartIO) -> Segments:
        if self._heads is None:
            self._heads = _PartChain(self, list(range(self.graph.num_operators)))
        return self._heads.part(k, io)

    def tail(self, k: int, io: PartIO) -> Segments:
        n = self.graph.num_operators
        if self._tails is None:
            self._tails = _PartChain(self, list(reversed(range(n))))
        return self._tails.part(n - k, io)


# --- packing -----------------------------------------------------------------------------------


class _Packed:
    """Stands for an object already packed into the builder: its ``Pack`` returns the offset.

    Lets the generated ``ModelT.Pack``/``SubGraphT.Pack`` assemble a part's vectors and tables
    around tensors, operators and buffers that were packed earlier, once.
    """

    __slots__ = ("offset",)

    def __init__(self, offset: int) -> None:
        self.offset = offset

    def Pack(self, builder: Any) -> int:  # the generated code's method name
        return self.offset


@dataclass(frozen=True)
class _Mark:
    """Builder and numbering state after a number of operators were packed."""

    offset: int  # builder.Offset(): distance of the head from the end (stable when it regrows)
    minalign: int
    vtables: int  # the builder's vtable cache only grows (dicts keep insertion order)
    spliced: int
    tensors: int
    buffers: int
    opcodes: int
    ops: int


class _PartChain:
    """Parts made of a growing run of operators — ``order[:count]`` — in one builder.

    Heads use ``order = 0, 1, ..., N-1`` and tails ``N-1, ..., 0``. Tensors, buffers and
    operator codes are numbered in the order they are met, so the numbers of what is already
    packed never change when the run grows, and an operator's table is packed once. The
    operators vector of a part lists them in their original order, an execution order.
    """

    def __init__(self, splitter: TFLitePartMaker, order: list[int]) -> None:
        self._splitter = splitter
        self._model = splitter._model
        self._order = order
        weights = sum(len(b.data) for b in self._model.buffers if b.data is not None)
        tables = sum(
            len(sg.tensors or []) + len(sg.operators or []) for sg in self._model.subgraphs
        )
        # Sized for the whole model so that it never regrows (a regrow copies all of it).
        self.builder = _PartBuilder.new(weights + 1024 * tables + (1 << 16))
        self._tensor_ids: dict[int, int] = {}
        self._tensor_order: list[int] = []
        self._tensors: list[_Packed] = []
        self._buffer_ids: dict[int, int] = {}
        self._buffer_order: list[int] = []
        self._buffers: list[_Packed] = []
        self._opcode_ids: dict[int, int] = {}
        self._opcode_order: list[int] = []
        self._opcodes: list[_Packed] = []
        self._op_order: list[int] = []  # operator indices, in packing order
        self._ops: dict[int, _Packed] = {}
        self._finished = False
        # Common to every part of this chain: the empty buffer 0, the other subgraphs, metadata.
        self._buffer_ids[0] = 0
        self._buffer_order.append(0)
        self._buffers.append(_Packed(_schema().BufferT().Pack(self.builder)))
        self._others = [_Packed(self._pack_other_subgraph(sg)) for sg in self._model.subgraphs[1:]]
        self._metadata, self._metadata_buffer = self._pack_metadata()
        self._marks = [self._mark()]

    # --- numbering and packing of shared objects ------------------------------------------------

    def _buffer(self, index: int) -> int:
        index = int(index)
        new = self._buffer_ids.get(index)
        if new is None:
            new = self._buffer_ids[index] = len(self._buffer_order)
            self._buffer_order.append(index)
            self._buffers.append(_Packed(self._model.buffers[index].Pack(self.builder)))
        return new

    def _opcode(self, index: int) -> int:
        new = self._opcode_ids.get(index)
        if new is None:
            new = self._opcode_ids[index] = len(self._opcode_order)
            self._opcode_order.append(index)
            self._opcodes.append(_Packed(self._model.operatorCodes[index].Pack(self.builder)))
        return new

    def _tensor(self, index: int) -> int:
        new = self._tensor_ids.get(index)
        if new is None:
            tensor = copy.copy(self._model.subgraphs[0].tensors[index])
            tensor.buffer = self._buffer(tensor.buffer) if tensor.buffer else 0
            shapes = self._splitter._parsed.static_shapes
            if (
                shapes is not None
                and index in shapes
                and not self._splitter.graph.tensors[index].is_constant
            ):
                # The user fixed the input shapes: write the resolved static shapes into the
                # part, so it runs (and is measured) at exactly those shapes by any runtime.
                tensor.shape = list(shapes[index])
                tensor.shapeSignature = None
            new = self._tensor_ids[index] = len(self._tensor_order)
            self._tensor_order.append(index)
            self._tensors.append(_Packed(tensor.Pack(self.builder)))
        return new

    def _step(self, index: int) -> None:
        """Add operator ``index`` of the order, after the weight-only operators it reads from;
        a weight-only operator itself waits until an operator that reads it is added."""
        splitter = self._splitter
        if index in splitter._weight_only or index in self._ops:
            return
        for t in splitter.graph.operators[index].inputs:
            p = splitter._producer.get(t)
            if p is not None and p in splitter._weight_only and p not in self._ops:
                self._step_weight_op(p)
        self._pack_operator(index)

    def _step_weight_op(self, index: int) -> None:
        splitter = self._splitter
        for t in splitter.graph.operators[index].inputs:
            p = splitter._producer.get(t)
            if p is not None and p not in self._ops:  # only weight-only ops feed a weight-only op
                self._step_weight_op(p)
        self._pack_operator(index)

    def _pack_operator(self, index: int) -> None:
        op = self._model.subgraphs[0].operators[index]
        new = copy.copy(op)  # options objects are shared, they are not changed
        new.inputs = [self._tensor(t) if t >= 0 else -1 for t in op.inputs or []]
        new.outputs = [self._tensor(t) if t >= 0 else -1 for t in op.outputs or []]
        if op.intermediates:
            new.intermediates = [self._tensor(t) if t >= 0 else -1 for t in op.intermediates]
        new.opcodeIndex = self._opcode(op.opcodeIndex)
        new.debugMetadataIndex = -1
        self._ops[index] = _Packed(new.Pack(self.builder))
        self._op_order.append(index)

    def _pack_other_subgraph(self, subgraph: Any) -> int:
        """A control-flow subgraph, whole: its own tensor numbering is kept as it is."""
        new = copy.copy(subgraph)
        new.tensors = []
        for tensor in subgraph.tensors or []:
            t = copy.copy(tensor)
            t.buffer = self._buffer(tensor.buffer) if tensor.buffer else 0
            new.tensors.append(t)
        new.operators = []
        for op in subgraph.operators or []:
            o = copy.copy(op)
            o.opcodeIndex = self._opcode(op.opcodeIndex)
            o.debugMetadataIndex = -1
            new.operators.append(o)
        new.debugMetadataIndex = -1
        return int(new.Pack(self.builder))

    def _pack_metadata(self) -> tuple[list[_Packed] | None, list[int] | None]:
        entries = [m for m in self._model.metadata or [] if m.name not in _DROPPED_METADATA]
        packed = []
        for entry in entries:
            new = copy.copy(entry)
            new.buffer = self._buffer(entry.buffer)
            packed.append(_Packed(new.Pack(self.builder)))
        kept = {int(m.buffer) for m in entries}
        legacy = [self._buffer(b) for b in self._model.metadataBuffer or [] if int(b) in kept]
        return packed or None, legacy or None

    # --- checkpoints ----------------------------------------------------------------------------

    def _mark(self) -> _Mark:
        b = self.builder
        return _Mark(
            offset=b.Offset(),
            minalign=b.minalign,
            vtables=len(b.vtables),
            spliced=len(b.spliced),
            tensors=len(self._tensor_order),
            buffers=len(self._buffer_order),
            opcodes=len(self._opcode_order),
            ops=len(self._op_order),
        )

    def _rewind(self, mark: _Mark) -> None:
        """Forget everything packed after ``mark``; its bytes are overwritten by what comes next
        (the builder writes every byte of an object, padding included)."""
        b = self.builder
        b.head = len(b.Bytes) - mark.offset
        b.minalign = mark.minalign
        while len(b.vtables) > mark.vtables:
            b.vtables.popitem()
        del b.spliced[mark.spliced :]
        b.finished = False
        b.nested = False
        b.current_vtable = None
        b.objectEnd = None
        b.vectorNumElems = None
        for t in self._tensor_order[mark.tensors :]:
            del self._tensor_ids[t]
        del self._tensor_order[mark.tensors :]
        del self._tensors[mark.tensors :]
        for i in self._buffer_order[mark.buffers :]:
            del self._buffer_ids[i]
        del self._buffer_order[mark.buffers :]
        del self._buffers[mark.buffers :]
        for i in self._opcode_order[mark.opcodes :]:
            del self._opcode_ids[i]
        del self._opcode_order[mark.opcodes :]
        del self._opcodes[mark.opcodes :]
        for i in self._op_order[mark.ops :]:
            del self._ops[i]
        del self._op_order[mark.ops :]
        self._finished = False

    def _advance(self, count: int) -> None:
        """Bring the chain to exactly ``order[:count]`` packed."""
        if self._finished or count < len(self._marks) - 1:
            keep = min(count, len(self._marks) - 1)
            self._rewind(self._marks[keep])
            del self._marks[keep + 1 :]
        while len(self._marks) - 1 < count:
            self._step(self._order[len(self._marks) - 1])
            self._marks.append(self._mark())

    # --- a part ---------------------------------------------------------------------------------

    def part(self, count: int, io: PartIO) -> Segments:
        """The model of ``order[:count]`` with boundary ``io``; valid until the next call."""
        self._advance(count)
        model = self._model
        subgraph = copy.copy(model.subgraphs[0])
        subgraph.tensors = self._tensors
        order = sorted(self._ops)  # the original order is an execution order
        if tuple(order) != io.operators:
            raise AssertionError(f"packed operators {order} differ from {io.operators}")
        subgraph.operators = [self._ops[i] for i in order]
        subgraph.inputs = [self._tensor_ids[t] for t in io.inputs]
        subgraph.outputs = [self._tensor_ids[t] for t in io.outputs]
        subgraph.debugMetadataIndex = -1
        part = copy.copy(model)
        part.subgraphs = [subgraph, *self._others]
        part.operatorCodes = self._opcodes
        part.buffers = self._buffers
        part.metadata = self._metadata
        part.metadataBuffer = self._metadata_buffer
        part.signatureDefs = self._signature_defs(io)
        part.externalBuffers = self._external_buffers()
        self._finished = True
        root = part.Pack(self.builder)
        self.builder.Finish(root, file_identifier=b"TFL3")
        return _segments(self.builder)

    def _signature_defs(self, io: PartIO) -> list[Any] | None:
        schema = _schema()
        primary = [s for s in self._model.signatureDefs or [] if s.subgraphIndex == 0]
        if not primary:
            return None
        original = primary[0]
        known = {
            int(m.tensorIndex): m.name
            for m in [*(original.inputs or []), *(original.outputs or [])]
        }
        tensors = self._model.subgraphs[0].tensors

        def entries(indices: tuple[int, ...]) -> list[Any]:
            seen: set[bytes] = set()
            out = []
            for t in indices:
                name = known.get(t) or tensors[t].name or b"t"
                if name in seen:  # signature names must be unique within a part
                    name = name + b"#" + str(t).encode()
                seen.add(name)
                out.append(schema.TensorMapT(name=name, tensorIndex=self._tensor_ids[t]))
            return out

        return [
            schema.SignatureDefT(
                inputs=entries(io.inputs),
                outputs=entries(io.outputs),
                signatureKey=original.signatureKey,
                subgraphIndex=0,
            )
        ]

    def _external_buffers(self) -> list[Any] | None:
        external = self._model.externalBuffers
        if not external:
            return None
        tensors = [self._model.subgraphs[0].tensors[t] for t in self._tensor_order]
        tensors += [t for sg in self._model.subgraphs[1:] for t in sg.tensors or []]
        wanted = {t.externalBuffer for t in tensors if t.externalBuffer}
        return [b for b in external if b.id in wanted] or None


def _schema() -> Any:
    from ai_edge_litert import schema_py_generated

    return schema_py_generated


class _PartBuilder:
    """Factory for a flatbuffers Builder that leaves the weights where they are.

    The generated ``BufferT.Pack`` calls ``CreateNumpyVector``, which copies the array twice
    (``tobytes``, then into the builder) and ignores the schema's 16-byte alignment of weights.
    The subclass made here reserves the (16-byte aligned) room for a weight array in the
    builder, but instead of copying the array there it remembers it; :func:`_segments` then
    yields the builder's bytes with the original arrays spliced in. Written to a file, the bytes
    are what a copying builder would give, minus one pass over every weight byte per part.
    """

    _cls: type | None = None

    @classmethod
    def new(cls, size: int) -> Any:
        if cls._cls is None:
            import flatbuffers
            import numpy as np

            class Builder(flatbuffers.Builder):  # type: ignore[misc]
                def __init__(self, size: int) -> None:
                    super().__init__(size)
                    # (distance of the vector data from the end of Bytes, the array's bytes);
                    # measured from the end because a regrow moves data towards the new end.
                    self.spliced: list[tuple[int, memoryview]] = []

                def CreateNumpyVector(self, x: Any) -> int:  # overrides the library method
                    if x.dtype != np.uint8 or x.ndim != 1:
                        return super().CreateNumpyVector(x)
                    n = int(x.size)
                    data = memoryview(np.ascontiguousarray(x))
                    self.StartVector(1, n, _BUFFER_ALIGN)
                    self.head = self.head - n
                    if n >= _SPLICE_MIN_BYTES:
                        self.spliced.append((len(self.Bytes) - self.head, data))
                    else:
                        self.Bytes[self.head : self.head + n] = data
                    return self.EndVector()

            cls._cls = Builder
        return cls._cls(size)


def _segments(builder: Any) -> Segments:
    """The finished model: the builder's bytes with the spliced weight arrays in their place."""
    data = memoryview(builder.Bytes)
    end = len(builder.Bytes)
    cursor = builder.Head()
    out: Segments = []
    for position, array in sorted((end - from_end, array) for from_end, array in builder.spliced):
        out.append(data[cursor:position])
        out.append(array)
        cursor = position + len(array)
    out.append(data[cursor:end])
    return out
