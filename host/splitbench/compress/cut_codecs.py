"""Codecs for the intermediate data at a cut: what the phone sends to the server.

``--cut-codec`` names one of:

* ``fp16`` — float32 → float16 (2 bytes per value; lossy by float16 rounding);
* ``int8`` — per-tensor affine int8: ``q = clip(round(x / scale) + zero_point, -128, 127)``,
  the scale and zero point calibrated once per cut tensor on the check inputs' values at the
  cut (``scale = (max - min) / 255`` over them, min/max widened to include 0) and then fixed,
  as they would be in deployed parts; values outside the calibrated range are clipped;
* ``int8+zstd`` — the int8 bytes compressed with Zstandard (level 3: fast enough to run per
  frame on a phone);
* ``zstd`` — the float bytes compressed with Zstandard (lossless);
* ``nnc:QP`` — the cut tensors coded with NNC at quantisation parameter QP.

A cut is a set of tensors; each codec codes all of them into one byte string (tensors in cut
order). Only float32 tensors are coded; other dtypes (e.g. int32 shape side inputs) travel as
they are, and count as they are. Encoding and decoding are whole-array numpy operations (no
Python loop over elements): the encoder must keep up with the phone's frame rate.

``fp16`` and ``int8`` are expressible as TFLite operators (CAST / QUANTIZE after the head,
DEQUANTIZE before the tail): :func:`tflite_ops` says so and gives their parameters.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from splitbench.errors import SplitbenchError

CUT_CODECS = ("fp16", "int8", "int8+zstd", "zstd", "nnc:QP")
ZSTD_LEVEL = 3


@dataclass
class CutCodec:
    """One cut codec; ``calibrate`` before ``encode`` for ``int8``/``int8+zstd``."""

    name: str
    qp: int | None = None
    params: dict[str, tuple[float, int]] = field(default_factory=dict)  # int8: scale, zero point

    @property
    def lossless(self) -> bool:
        return self.name == "zstd"

    @property
    def in_graph(self) -> bool:
        """Expressible as TFLite operators appended to the head / prepended to the tail."""
        return self.name in ("fp16", "int8")

    @property
    def needs_calibration(self) -> bool:
        return self.name.startswith("int8")

    def calibrate(self, samples: Sequence[Mapping[str, np.ndarray]]) -> None:
        """Fix int8 scale and zero point per float tensor from sample values at the cut."""
        if not self.needs_calibration:
            return
        names = [n for n, v in samples[0].items() if np.asarray(v).dtype == np.float32]
        for name in names:
            lo = min(0.0, min(float(np.min(s[name])) for s in samples))
            hi = max(0.0, max(float(np.max(s[name])) for s in samples))
            scale = (hi - lo) / 255.0 if hi > lo else 1.0
            zero_point = int(np.clip(round(-128 - lo / scale), -128, 127))
            self.params[name] = (float(np.float32(scale)), zero_point)

    # --- encode / decode -------------------------------------------------------------------

    def encode(self, tensors: Mapping[str, np.ndarray]) -> bytes:
        if self.name == "zstd":
            return _zstd().compress(
                b"".join(np.ascontiguousarray(v).tobytes() for v in tensors.values())
            )
        if self.name.startswith("nnc"):
            return self._nnc_encode(tensors)
        chunks = []
        for name, value in tensors.items():
            v = np.asarray(value)
            if v.dtype != np.float32:
                chunks.append(np.ascontiguousarray(v).tobytes())
            elif self.name == "fp16":
                chunks.append(v.astype(np.float16).tobytes())
            else:
                chunks.append(self._quantize(name, v).tobytes())
        data = b"".join(chunks)
        if self.name == "int8+zstd":
            return _zstd().compress(data)
        return data

    def decode(self, data: bytes, like: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Decode to arrays shaped and typed like ``like`` (the uncoded cut tensors)."""
        if self.name.startswith("nnc"):
            return self._nnc_decode(data, like)
        if self.name in ("zstd", "int8+zstd"):
            data = _zstd().decompress(data)
        out: dict[str, np.ndarray] = {}
        offset = 0
        buf = memoryview(data)
        for name, ref in like.items():
            ref = np.asarray(ref)
            if ref.dtype != np.float32 or self.name == "zstd":
                n = ref.nbytes
                out[name] = np.frombuffer(buf[offset : offset + n], ref.dtype).reshape(ref.shape)
            elif self.name == "fp16":
                n = ref.size * 2
                values = np.frombuffer(buf[offset : offset + n], np.float16)
                out[name] = values.astype(np.float32).reshape(ref.shape)
            else:
                n = ref.size
                q = np.frombuffer(buf[offset : offset + n], np.int8).reshape(ref.shape)
                out[name] = self._dequantize(name, q)
            offset += n
        if offset != len(data):
            raise SplitbenchError(f"{self.name}: coded cut has {len(data) - offset} extra bytes")
        return out

    def _quantize(self, name: str, v: np.ndarray) -> np.ndarray:
        if name not in self.params:
            raise SplitbenchError(f"{self.name}: tensor {name} was not calibrated")
        scale, zero_point = self.params[name]
        q = np.empty(v.shape, np.float32)
        np.multiply(v, np.float32(1.0 / scale), out=q)
        np.rint(q, out=q)
        q += zero_point
        np.clip(q, -128, 127, out=q)
        return q.astype(np.int8)

    def _dequantize(self, name: str, q: np.ndarray) -> np.ndarray:
        scale, zero_point = self.params[name]
        return ((q.astype(np.float32) - zero_point) * np.float32(scale)).astype(np.float32)

    def _nnc_encode(self, tensors: Mapping[str, np.ndarray]) -> bytes:
        from splitbench.compress.coders.nnc import encode_arrays

        floats = {
            f"t{i}": np.asarray(v, np.float32)
            for i, v in enumerate(tensors.values())
            if np.asarray(v).dtype == np.float32
        }
        rest = b"".join(
            np.ascontiguousarray(v).tobytes()
            for v in tensors.values()
            if np.asarray(v).dtype != np.float32
        )
        coded, _ = encode_arrays(
            floats,
            qp=int(self.qp or 0),
            nonweight_qp=int(self.qp or 0),
            use_dq=True,
            param_opt=True,
            opt_qp=False,
            cabac_unary_length_minus1=10,
        )
        return struct.pack("<I", len(coded)) + coded + rest

    def _nnc_decode(self, data: bytes, like: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        from splitbench.compress.coders.nnc import decode_bitstream

        (n,) = struct.unpack_from("<I", data, 0)
        decoded = decode_bitstream(data[4 : 4 + n])
        rest = memoryview(data)[4 + n :]
        out = {}
        offset = 0
        for i, (name, ref) in enumerate(like.items()):
            ref = np.asarray(ref)
            if ref.dtype == np.float32:
                out[name] = np.asarray(decoded[f"t{i}"], np.float32).reshape(ref.shape)
            else:
                out[name] = np.frombuffer(rest[offset : offset + ref.nbytes], ref.dtype)
                out[name] = out[name].reshape(ref.shape)
                offset += ref.nbytes
        return out


def _zstd():  # type: ignore[no-untyped-def]
    import zstandard

    class _Z:
        def __init__(self) -> None:
            self.c = zstandard.ZstdCompressor(level=ZSTD_LEVEL)
            self.d = zstandard.ZstdDecompressor()

        def compress(self, data: bytes) -> bytes:
            return self.c.compress(data)

        def decompress(self, data: bytes) -> bytes:
            return self.d.decompress(data)

    return _Z()


def parse_cut_codec(spec: str) -> CutCodec:
    """``fp16``, ``int8``, ``int8+zstd``, ``zstd`` or ``nnc:QP``; one line for anything else."""
    text = spec.strip().lower()
    if text in ("fp16", "int8", "int8+zstd", "zstd"):
        return CutCodec(text)
    if text.startswith("nnc:"):
        from splitbench.compress.coders.nnc import check_qp, nnc_core

        try:
            qp = int(text[4:])
        except ValueError:
            raise SplitbenchError(
                f"--cut-codec '{spec}': nnc needs an integer QP, nnc:-38"
            ) from None
        check_qp(qp)
        nnc_core()
        return CutCodec(f"nnc:{qp}", qp=qp)
    raise SplitbenchError(
        f"unknown cut codec '{spec}' (one of: fp16, int8, int8+zstd, zstd, nnc:QP)"
    )
