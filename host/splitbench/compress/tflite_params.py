"""The parameters of a TFLite model: the :class:`~splitbench.compress.params.ModelIO` of
``.tflite`` files.

A TFLite file holds its parameters in buffers: this module
reads every buffer that backs a floating-point constant tensor (float32, or float16 behind a
DEQUANTIZE operator as most mediapipe models store them) as one named array, and writes decoded
arrays back into a copy of the file *in the stored dtype*, so the reconstructed model is a
runnable ``.tflite`` with the same graph. Integer constants (shape operands, quantised weights
of integer models) are graph structure here: they are neither coded nor counted.

Keys are ``b<buffer index>``: TFLite deduplicates identical buffers, so a buffer (not a tensor)
is the unit of storage, and the index maps a decoded array back to its place without relying on
tensor names, which are neither unique nor short.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from splitbench.compress.params import ModelParams
from splitbench.errors import ModelError

_FLOAT_TYPES = {0: np.dtype(np.float32), 1: np.dtype(np.float16)}  # TensorType FLOAT32, FLOAT16


def read_model(path: Path) -> Any:
    """The flatbuffer object tree of a ``.tflite`` file (one clear line if it is not one)."""
    from ai_edge_litert.tools import flatbuffer_utils

    try:
        return flatbuffer_utils.read_model(str(path))
    except Exception as exc:  # the flatbuffers reader raises anything on a corrupt file
        raise ModelError(f"{path}: not a readable TFLite model ({exc})") from None


def load_params(path: Path) -> ModelParams:
    """The floating-point parameters of a ``.tflite`` file, keyed by buffer."""
    from ai_edge_litert.tools import flatbuffer_utils

    path = Path(path)
    model = read_model(path)
    arrays: dict[str, np.ndarray] = {}
    consumers: dict[str, list[str]] = {}
    depthwise: set[str] = set()
    for sg in model.subgraphs:
        readers: dict[int, list[tuple[str, int]]] = {}
        dequantized: dict[int, int] = {}  # DEQUANTIZE input -> its output
        for op in sg.operators:
            name = flatbuffer_utils.opcode_to_name(model, op.opcodeIndex)
            for pos, t in enumerate(op.inputs if op.inputs is not None else []):
                if t >= 0:
                    readers.setdefault(int(t), []).append((name, pos))
            if name == "DEQUANTIZE" and op.inputs is not None and op.outputs is not None:
                dequantized[int(op.inputs[0])] = int(op.outputs[0])
        for index, tensor in enumerate(sg.tensors):
            dtype = _FLOAT_TYPES.get(int(tensor.type))
            buf = model.buffers[tensor.buffer] if tensor.buffer < len(model.buffers) else None
            if dtype is None or buf is None or buf.data is None or len(buf.data) == 0:
                continue
            key = f"b{tensor.buffer}"
            if key in arrays:
                continue
            shape = tuple(int(d) for d in tensor.shape) if tensor.shape is not None else ()
            values = np.frombuffer(np.asarray(buf.data, np.uint8).tobytes(), dtype=dtype)
            if values.size != int(np.prod(shape, dtype=np.int64)):
                shape = (values.size,)
            arrays[key] = values.reshape(shape).copy()
            # a float16 weight is read through its DEQUANTIZE: the layout is the reader's
            ops = readers.get(dequantized.get(index, index), [])
            consumers[key] = [n for n, _ in ops]
            if any(n == "DEPTHWISE_CONV_2D" and pos == 1 for n, pos in ops):
                depthwise.add(key)
    if not arrays:
        raise ModelError(
            f"{path.name} has no float32/float16 weights to code (an integer-quantised model?)"
        )
    return ModelParams(path, arrays, TFLITE, consumers, depthwise)


def write_params(template: Path, arrays: Mapping[str, np.ndarray], out: Path) -> Path:
    """Write ``template`` with the buffers named in ``arrays`` replaced, each cast back to the
    dtype the template stores it in. Buffers not in ``arrays`` are kept as they are."""
    from ai_edge_litert.tools import flatbuffer_utils

    model = read_model(template)
    stored = load_params(template).arrays
    for key, values in arrays.items():
        if key not in stored:
            raise ModelError(f"decoded parameter {key} does not exist in {template.name}")
        old = stored[key]
        new = np.asarray(values).astype(old.dtype, copy=False).reshape(old.shape)
        model.buffers[int(key[1:])].data = np.frombuffer(new.tobytes(), dtype=np.uint8)
    out.parent.mkdir(parents=True, exist_ok=True)
    flatbuffer_utils.write_model(model, str(out))
    return out


class TfliteIO:
    """``.tflite`` files: parameters in buffers, run on this host by
    :mod:`splitbench.compress.runner`."""

    kind = "tflite"
    suffix = ".tflite"

    def digest(self, path: Path) -> str:
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        return h.hexdigest()

    def load_params(self, path: Path) -> ModelParams:
        return load_params(path)

    def write_params(self, template: Path, arrays: Mapping[str, np.ndarray], out: Path) -> Path:
        return write_params(template, arrays, out)

    def write_int8(
        self,
        template: Path,
        quantized: Mapping[str, tuple[np.ndarray, np.ndarray, int]],
        arrays: Mapping[str, np.ndarray],
        out: Path,
    ) -> Path:
        from splitbench.compress.tflite_int8 import write_int8_weights

        return write_int8_weights(template, quantized, arrays, out)

    def input_specs(self, path: Path) -> list[dict]:
        from splitbench.compress.runner import input_specs

        return input_specs(path)

    def run(
        self, path: Path, feeds: Sequence[Mapping[str, np.ndarray]]
    ) -> list[dict[str, np.ndarray]]:
        from splitbench.compress.runner import run_model

        return run_model(path, feeds)


TFLITE = TfliteIO()
