"""Baseline coders: ``raw`` (the seeds' dummy coder), ``fp16`` and ``zstd`` (lossless).

* ``raw`` writes every parameter as a 32-bit float, as the seeds' "dummy" method does: for a
  model that stores float16 weights the "bitstream" is twice the anchor.
* ``fp16`` writes every parameter as a 16-bit float (lossless for float16-stored models).
* ``zstd`` compresses the parameters as stored with Zstandard (``level``, default 19): the
  lossless baseline every lossy curve should beat.

The arrays are concatenated in the model's key order; the decoder cuts them by the shapes of
the model it is given (the topology travels separately, as in the seeds' framework).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from splitbench.compress.coders.base import ArrayCoder, Decoded, split_concatenated
from splitbench.compress.params import ModelParams


def _concat(model: ModelParams, dtype: np.dtype | None) -> bytes:
    parts = [
        np.ascontiguousarray(a if dtype is None else a.astype(dtype)).tobytes()
        for a in model.arrays.values()
    ]
    return b"".join(parts)


class RawCoder(ArrayCoder):
    name = "raw"
    suffix = ".f32"

    def encode(self, model: ModelParams, bitstream: Path) -> None:
        bitstream.write_bytes(_concat(model, np.dtype(np.float32)))

    def decode(self, bitstream: Path, model: ModelParams) -> Decoded:
        return Decoded(split_concatenated(bitstream.read_bytes(), model, np.dtype(np.float32)))


class Fp16Coder(ArrayCoder):
    name = "fp16"
    suffix = ".f16"

    def encode(self, model: ModelParams, bitstream: Path) -> None:
        bitstream.write_bytes(_concat(model, np.dtype(np.float16)))

    def decode(self, bitstream: Path, model: ModelParams) -> Decoded:
        return Decoded(split_concatenated(bitstream.read_bytes(), model, np.dtype(np.float16)))


class ZstdCoder(ArrayCoder):
    name = "zstd"
    suffix = ".zst"

    def __init__(self, level: int = 19) -> None:
        if not 1 <= level <= 22:
            from splitbench.errors import SplitbenchError

            raise SplitbenchError(f"zstd level {level} is outside 1..22")
        self.level = level

    def config(self) -> dict[str, object]:
        return {"level": self.level}

    def tag(self) -> str:
        return f"zstd_l{self.level}"

    def encode(self, model: ModelParams, bitstream: Path) -> None:
        import zstandard

        data = _concat(model, None)
        bitstream.write_bytes(zstandard.ZstdCompressor(level=self.level).compress(data))

    def decode(self, bitstream: Path, model: ModelParams) -> Decoded:
        import zstandard

        data = zstandard.ZstdDecompressor().decompress(bitstream.read_bytes())
        return Decoded(split_concatenated(data, model, None))
