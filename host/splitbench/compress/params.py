"""The parameters of a model, and the one interface the compress pipeline needs of its format.

The seeds' framework codes a model's ``state_dict()`` and measures the anchor as its parameters
(``numParam`` × bytes per value). Whatever the model's format, a coder sees the same thing — a
:class:`ModelParams`: named float arrays as stored, plus where they came from — and the pipeline
asks the format (a :class:`ModelIO`) for three things only: what the parameters are
(``load_params``), how decoded parameters are written back into a runnable model file
(``write_params``, ``write_int8``) and how such a file is run on inputs (``input_specs``,
``run``). Two implementations: TFLite files (:mod:`splitbench.compress.tflite_params`) and
PyTorch state dicts (:mod:`splitbench.compress.torch_params`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class ModelIO(Protocol):
    """A model format as the compress pipeline sees it."""

    kind: str  # "tflite", "pytorch-state-dict": says what the decoded files are
    suffix: str  # of a decoded model file: ".tflite", ".pt"

    def digest(self, path: Path) -> str:
        """A digest of the model file's contents: which anchor earlier results belong to."""
        ...

    def load_params(self, path: Path) -> ModelParams:
        """The float parameters of the model file (one line if it has none)."""
        ...

    def write_params(self, template: Path, arrays: Mapping[str, np.ndarray], out: Path) -> Path:
        """``template`` with the parameters in ``arrays`` replaced, in their stored dtype."""
        ...

    def write_int8(
        self,
        template: Path,
        quantized: Mapping[str, tuple[np.ndarray, np.ndarray, int]],
        arrays: Mapping[str, np.ndarray],
        out: Path,
    ) -> Path:
        """The model with per-channel int8 weights (values, scales, axis) and float ``arrays``
        for the rest, as this format can run it."""
        ...

    def input_specs(self, path: Path) -> list[dict]:
        """name, shape, dtype and layout of each model input."""
        ...

    def run(
        self, path: Path, feeds: Sequence[Mapping[str, np.ndarray]]
    ) -> list[dict[str, np.ndarray]]:
        """Outputs of the model file for every input set, by output name."""
        ...


@dataclass
class ModelParams:
    """Named float arrays of a model plus where they came from.

    ``arrays`` hold the values as stored (float32 or float16); ``anc_size`` is their stored
    bytes, the seeds' ``anc_size``. ``io`` is the format that read them and writes them back.
    """

    path: Path
    arrays: dict[str, np.ndarray]
    io: ModelIO
    consumers: dict[str, list[str]] = field(
        default_factory=dict
    )  # key -> operator names reading it
    depthwise: set[str] = field(default_factory=set)  # keys read as a DEPTHWISE_CONV_2D filter

    @property
    def anc_size(self) -> int:
        return int(sum(a.nbytes for a in self.arrays.values()))

    @property
    def num_params(self) -> int:
        return int(sum(a.size for a in self.arrays.values()))
