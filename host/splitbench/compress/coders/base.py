"""The Coder interface of the seeds' evaluation framework (clause 2.1.2.5), for model files.

``encode(model, bitstream)`` writes the coded parameters of a model to a file;
``decode(bitstream, model)`` reads them back as arrays shaped like the model's parameters;
``write_model(model, decoded, out)`` puts the decoded parameters into a copy of the model file
(through the model's :class:`~splitbench.compress.params.ModelIO`: a ``.tflite`` file or a
PyTorch state dict), which is the reconstructed model the scenario evaluates (the seeds'
``rec_model``). Decoding is
split from writing so that ``dec_time`` is the decoder's time, not the file writer's.

The decoder is given the anchor's :class:`~splitbench.compress.params.ModelParams` as the seeds'
decoder is given an un-initialised model: the topology travels separately, only the parameters
are in the bitstream (``rec_size`` is the bitstream's bytes, ``anc_size`` the parameters' bytes).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from splitbench.compress.params import ModelParams


@dataclass
class Decoded:
    """Decoded parameters: float arrays by key, plus anything a coder needs to write its model
    (e.g. the int8 values and scales of ``int8-weights``)."""

    arrays: dict[str, np.ndarray]
    extra: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class Coder(Protocol):
    name: str  # coder_name in results.csv
    suffix: str  # bitstream file suffix

    def config(self) -> dict[str, object]:
        """The coder's parameters, written as columns of results.csv."""
        ...

    def tag(self) -> str:
        """A short unique tag of this configuration, used in file names."""
        ...

    def encode(self, model: ModelParams, bitstream: Path) -> None: ...

    def decode(self, bitstream: Path, model: ModelParams) -> Decoded: ...

    def write_model(self, model: ModelParams, decoded: Decoded, out: Path) -> Path: ...


class ArrayCoder:
    """Shared parts of the coders that write arrays back as they decode them."""

    name = "base"
    suffix = ".bin"

    def config(self) -> dict[str, object]:
        return {}

    def tag(self) -> str:
        return self.name

    def write_model(self, model: ModelParams, decoded: Decoded, out: Path) -> Path:
        return model.io.write_params(model.path, decoded.arrays, out)


def split_concatenated(data: bytes, model: ModelParams, dtype: np.dtype | None) -> dict:
    """Cut a concatenation of the model's arrays (in key order) back into arrays.

    ``dtype`` None means each array in its stored dtype.
    """
    out: dict[str, np.ndarray] = {}
    offset = 0
    for key, ref in model.arrays.items():
        dt = np.dtype(dtype) if dtype is not None else ref.dtype
        n = ref.size * dt.itemsize
        chunk = data[offset : offset + n]
        if len(chunk) != n:
            raise ValueError("bitstream is shorter than the model's parameters")
        out[key] = np.frombuffer(chunk, dtype=dt).reshape(ref.shape)
        offset += n
    if offset != len(data):
        raise ValueError("bitstream is longer than the model's parameters")
    return out
