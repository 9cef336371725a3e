"""``int8-weights``: per-channel symmetric int8 quantisation of the weights, as a TFLite model.

Every parameter of more than one dimension (a convolution, depthwise or fully-connected filter)
becomes int8 with one float32 scale per output channel (axis 0; axis 3 for a depthwise filter,
TFLite's layouts), zero point 0, values in [-127, 127]; 1-D parameters (biases) stay float32.
The bitstream is those int8 values and scales (and the float32 rest) concatenated, which is what
a phone would download. The reconstructed model is not a float model with rounded values: it is
a runnable TFLite model that stores the int8 weights with their per-channel quantisation and a
DEQUANTIZE operator in front of each (the layout TFLite's converter uses for float16 weights), so
its file size is the real size of a weight-quantised model (:mod:`splitbench.compress.tflite_int8`).
A PyTorch state dict has no such layout that loads into the float module: its decoded model is
the dequantised float32 state dict (:mod:`splitbench.compress.torch_params`); the bitstream,
and so ``rec_size``, is the same int8 + scales either way.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

from splitbench.compress.coders.base import ArrayCoder, Decoded
from splitbench.compress.params import ModelParams


def channel_axis(model: ModelParams, key: str) -> int:
    return 3 if key in model.depthwise and model.arrays[key].ndim == 4 else 0


def quantize_per_channel(values: np.ndarray, axis: int) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric int8 per channel along ``axis``: (int8 values, float32 scales)."""
    v = np.asarray(values, np.float32)
    reduce = tuple(i for i in range(v.ndim) if i != axis)
    amax = np.max(np.abs(v), axis=reduce) if reduce else np.abs(v)
    scales = (np.where(amax > 0, amax, 1.0) / 127.0).astype(np.float32)
    shape = [1] * v.ndim
    shape[axis] = -1
    q = np.clip(np.rint(v / scales.reshape(shape)), -127, 127).astype(np.int8)
    return q, scales


def dequantize(q: np.ndarray, scales: np.ndarray, axis: int) -> np.ndarray:
    shape = [1] * q.ndim
    shape[axis] = -1
    return (q.astype(np.float32) * scales.reshape(shape)).astype(np.float32)


class Int8WeightsCoder(ArrayCoder):
    name = "int8-weights"
    suffix = ".i8"

    def config(self) -> dict[str, object]:
        return {"granularity": "per-channel"}

    def encode(self, model: ModelParams, bitstream: Path) -> None:
        chunks = []
        for key, values in model.arrays.items():
            if values.ndim > 1:
                q, scales = quantize_per_channel(values, channel_axis(model, key))
                chunks += [q.tobytes(), scales.tobytes()]
            else:
                chunks.append(np.asarray(values, np.float32).tobytes())
        bitstream.write_bytes(struct.pack("<I", len(model.arrays)) + b"".join(chunks))

    def decode(self, bitstream: Path, model: ModelParams) -> Decoded:
        data = memoryview(bitstream.read_bytes())
        (count,) = struct.unpack_from("<I", data, 0)
        if count != len(model.arrays):
            raise ValueError("bitstream holds a different number of parameters than the model")
        offset = 4
        arrays: dict[str, np.ndarray] = {}
        quantized: dict[str, tuple[np.ndarray, np.ndarray, int]] = {}
        for key, ref in model.arrays.items():
            if ref.ndim > 1:
                axis = channel_axis(model, key)
                q = np.frombuffer(data[offset : offset + ref.size], np.int8).reshape(ref.shape)
                offset += ref.size
                n = ref.shape[axis]
                scales = np.frombuffer(data[offset : offset + 4 * n], np.float32)
                offset += 4 * n
                quantized[key] = (q, scales, axis)
                arrays[key] = dequantize(q, scales, axis)
            else:
                arrays[key] = np.frombuffer(data[offset : offset + 4 * ref.size], np.float32)
                arrays[key] = arrays[key].reshape(ref.shape)
                offset += 4 * ref.size
        if offset != len(data):
            raise ValueError("bitstream length does not match the model's parameters")
        return Decoded(arrays, {"int8": quantized})

    def write_model(self, model: ModelParams, decoded: Decoded, out: Path) -> Path:
        return model.io.write_int8(model.path, decoded.extra["int8"], decoded.arrays, out)
