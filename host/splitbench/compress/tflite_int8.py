"""Write int8 per-channel weights into a TFLite model, each behind a DEQUANTIZE operator.

Why DEQUANTIZE and not hybrid kernels: every TFLite runtime (and XNNPACK, which folds a
DEQUANTIZE of a constant at delegation) runs this layout with float activations, so the
reconstructed model computes exactly "float model with int8-rounded weights" and its file size
is that of a weight-quantised model. Two cases per weight buffer:

* the weight is already stored in reduced precision behind a DEQUANTIZE (mediapipe's float16
  models): the tensor becomes INT8 with per-channel quantisation, the DEQUANTIZE stays;
* the weight is float32 and read directly: a new INT8 tensor takes the buffer and a DEQUANTIZE
  operator, inserted at the front of the subgraph, produces the original float tensor from it.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from splitbench.compress.tflite_params import read_model

_INT8 = 9  # TensorType.INT8
_DEQUANTIZE = 6  # BuiltinOperator.DEQUANTIZE


def _dequantize_opcode(model: object) -> int:
    from ai_edge_litert import schema_py_generated as schema
    from ai_edge_litert.tools import flatbuffer_utils

    for i, code in enumerate(model.operatorCodes):  # type: ignore[attr-defined]
        if flatbuffer_utils.get_builtin_code_from_operator_code(code) == _DEQUANTIZE:
            return i
    code = schema.OperatorCodeT()
    code.builtinCode = _DEQUANTIZE
    code.deprecatedBuiltinCode = _DEQUANTIZE
    code.version = 2
    model.operatorCodes.append(code)  # type: ignore[attr-defined]
    return len(model.operatorCodes) - 1  # type: ignore[attr-defined]


def _quantization(scales: np.ndarray, axis: int) -> object:
    from ai_edge_litert import schema_py_generated as schema

    q = schema.QuantizationParametersT()
    q.scale = [float(s) for s in scales]
    q.zeroPoint = [0] * len(scales)
    q.quantizedDimension = int(axis)
    return q


def write_int8_weights(
    template: Path,
    quantized: Mapping[str, tuple[np.ndarray, np.ndarray, int]],
    floats: Mapping[str, np.ndarray],
    out: Path,
) -> Path:
    """``template`` with the buffers in ``quantized`` stored as int8 per channel; the other
    buffers in ``floats`` written back in their stored dtype."""
    from ai_edge_litert import schema_py_generated as schema
    from ai_edge_litert.tools import flatbuffer_utils

    model = read_model(template)
    deq = _dequantize_opcode(model)
    for key, values in floats.items():
        if key in quantized:
            continue
        buf = model.buffers[int(key[1:])]
        old = np.frombuffer(np.asarray(buf.data, np.uint8).tobytes(), dtype=np.uint8)
        dtype = np.float16 if old.size == values.size * 2 else np.float32
        new = np.asarray(values).astype(dtype).tobytes()
        buf.data = np.frombuffer(new, dtype=np.uint8)
    for key, (q, scales, axis) in quantized.items():
        b = int(key[1:])
        model.buffers[b].data = np.frombuffer(np.ascontiguousarray(q).tobytes(), dtype=np.uint8)
        for sg in model.subgraphs:
            deq_inputs = {
                int(op.inputs[0]) for op in sg.operators if op.opcodeIndex == deq and op.inputs
            }
            new_ops = []
            for index, tensor in enumerate(list(sg.tensors)):
                if tensor.buffer != b:
                    continue
                if int(tensor.type) == 1 or index in deq_inputs:  # float16 behind DEQUANTIZE
                    tensor.type = _INT8
                    tensor.quantization = _quantization(scales, axis)
                    continue
                int8 = schema.TensorT()
                int8.name = (tensor.name or b"weight") + b"_int8"
                int8.shape = list(tensor.shape)
                int8.type = _INT8
                int8.buffer = b
                int8.quantization = _quantization(scales, axis)
                sg.tensors.append(int8)
                empty = schema.BufferT()
                model.buffers.append(empty)
                tensor.buffer = len(model.buffers) - 1
                op = schema.OperatorT()
                op.opcodeIndex = deq
                op.inputs = [len(sg.tensors) - 1]
                op.outputs = [index]
                new_ops.append(op)
            sg.operators = new_ops + list(sg.operators)
    out.parent.mkdir(parents=True, exist_ok=True)
    flatbuffer_utils.write_model(model, str(out))
    return out
