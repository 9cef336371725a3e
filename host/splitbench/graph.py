"""Stage 1: a model as a graph of split units in execution order — the same for every format.

A format (see :mod:`splitbench.formats`) reads its files into these records; everything after
this stage (cut plan, lossless check, sweep, database, tables) only sees them. A *unit* is what
one split index steps over: a TFLite operator, an ONNX node, an ExecuTorch instruction. The
records are called operators because the seeds and the op profiles count operators.

Shapes are static by the time a graph is built (-1 only where the format's own shape inference
could not fix a dimension); dtypes are numpy dtype names, so byte counts are dtype-aware
whatever the format spells its types.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

# Bits per element for every tensor type of the supported formats. Sub-byte types (int4, int2,
# uint4) are sized packed, as TFLite stores them; string/resource/variant have no fixed size.
_ELEMENT_BITS: dict[str, int] = {
    "float32": 32,
    "float16": 16,
    "bfloat16": 16,
    "float64": 64,
    "int8": 8,
    "uint8": 8,
    "int16": 16,
    "uint16": 16,
    "int32": 32,
    "uint32": 32,
    "int64": 64,
    "uint64": 64,
    "bool": 8,
    "complex64": 64,
    "complex128": 128,
    "int4": 4,
    "uint4": 4,
    "int2": 2,
    "float8_e4m3fn": 8,
    "float8_e5m2": 8,
}

_FILE_IDENTIFIER = b"TFL3"


@dataclass(frozen=True)
class TensorInfo:
    index: int
    name: str
    shape: tuple[int, ...]  # -1 where the dimension is dynamic (shape_signature)
    dtype: str  # numpy dtype name: float32, float16, int8, int16, int32, uint8, bool, ...
    is_constant: bool  # holds weights (a TFLite buffer, an ONNX initializer): never in a cut
    # Additive: a resource/state tensor (``is_variable`` in the schema). Like a constant it is
    # owned by the operators that use it and never crosses a cut.
    is_variable: bool = False

    @property
    def nbytes(self) -> int | None:
        """Bytes of this tensor, or None while a dimension is dynamic.

        Dtype-aware because the seeds' intermediate-data column is about real payloads: an int8
        activation is a quarter of a float32 one. None too for types without a fixed element size
        (string, resource, variant).
        """
        bits = _ELEMENT_BITS.get(self.dtype)
        if bits is None or any(d < 0 for d in self.shape):
            return None
        return math.ceil(math.prod(self.shape) * bits / 8)


@dataclass(frozen=True)
class OperatorInfo:
    index: int  # position in execution order, 0-based
    opcode: str  # builtin name such as CONV_2D, or CUSTOM:<custom_code>
    inputs: tuple[int, ...]  # tensor indices, -1 for omitted optional inputs
    outputs: tuple[int, ...]
    # The PyTorch module path it came from (``layer3.1.conv2``), read from the converter's
    # record of the export's module stack (:mod:`splitbench.module_paths`); empty when unknown.
    module: str = ""


@dataclass(frozen=True)
class ModelGraph:
    path: Path
    sha256: str
    file_bytes: int
    operators: tuple[OperatorInfo, ...]
    tensors: tuple[TensorInfo, ...]
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    # Additive: how many subgraphs the file has (>1 with control flow; only subgraph 0 is split).
    num_subgraphs: int = 1
    format: str = "tflite"  # the name of its format in splitbench.formats

    @property
    def num_operators(self) -> int:
        return len(self.operators)

    def tensor_names(self, indices: tuple[int, ...]) -> tuple[str, ...]:
        return tuple(self.tensors[i].name for i in indices)


def load_graph(path: Path, input_shapes: Mapping[str, tuple[int, ...]] | None = None) -> ModelGraph:
    """Read any supported model file into a :class:`ModelGraph`, by its format.

    ``input_shapes`` maps an input name to a static shape, for inputs whose file leaves a
    dimension open. Every bad file raises a one-line :class:`~splitbench.errors.ModelError`.
    """
    from splitbench.formats import format_of_file

    return format_of_file(Path(path)).load_graph(Path(path), input_shapes)
