"""Stage 1: a TFLite model as a graph of operators in execution order.

Only the primary subgraph (index 0) is split; operators are in the order the TFLite interpreter
executes them, which is the order of ``subgraphs[0].operators`` in the flatbuffer.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class TensorInfo:
    index: int
    name: str
    shape: tuple[int, ...]  # -1 where the dimension is dynamic (shape_signature)
    dtype: str  # numpy dtype name: float32, float16, int8, int16, int32, uint8, bool, ...
    is_constant: bool  # has a non-empty buffer (weights): never part of a cut

    @property
    def nbytes(self) -> int | None:
        """Bytes of this tensor, or None while a dimension is dynamic."""
        raise NotImplementedError


@dataclass(frozen=True)
class OperatorInfo:
    index: int  # position in execution order, 0-based
    opcode: str  # builtin name such as CONV_2D, or CUSTOM:<custom_code>
    inputs: tuple[int, ...]  # tensor indices, -1 for omitted optional inputs
    outputs: tuple[int, ...]


@dataclass(frozen=True)
class ModelGraph:
    path: Path
    sha256: str
    file_bytes: int
    operators: tuple[OperatorInfo, ...]
    tensors: tuple[TensorInfo, ...]
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]

    @property
    def num_operators(self) -> int:
        return len(self.operators)
