"""Put a cut codec into the parts as TFLite operators, so a phone measures its cost directly.

For ``int8``: a QUANTIZE operator (float32 → int8, the calibrated scale and zero point) after
each float cut output of the head, and a DEQUANTIZE operator (int8 → float32) before the tail's
operators. For ``fp16``: CAST float32 → float16 after the head, DEQUANTIZE float16 → float32 in
the tail. The coded tensor takes the cut tensor's name (the float tensor is renamed
``<name>/uncoded`` in the head and ``<name>/decoded`` in the tail), so head outputs still feed
tail inputs by name, and the cut's bytes on the wire are the coded tensors' bytes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from splitbench.compress.cut_codecs import CutCodec
from splitbench.compress.tflite_params import read_model

_FLOAT32, _FLOAT16, _INT8 = 0, 1, 9
_CAST, _DEQUANTIZE, _QUANTIZE = 53, 6, 114


def _opcode(model: Any, builtin: int, version: int) -> int:
    from ai_edge_litert import schema_py_generated as schema
    from ai_edge_litert.tools import flatbuffer_utils

    for i, code in enumerate(model.operatorCodes):
        if flatbuffer_utils.get_builtin_code_from_operator_code(code) == builtin:
            return i
    code = schema.OperatorCodeT()
    code.builtinCode = builtin
    code.deprecatedBuiltinCode = builtin if builtin < 127 else 127
    code.version = version
    model.operatorCodes.append(code)
    return len(model.operatorCodes) - 1


def _name(tensor: Any) -> str:
    n = tensor.name
    return n.decode() if isinstance(n, bytes) else str(n)


def _coded_tensor(tensor: Any, codec: CutCodec, name: str) -> Any:
    from ai_edge_litert import schema_py_generated as schema

    coded = schema.TensorT()
    coded.name = name.encode()
    coded.shape = list(tensor.shape) if tensor.shape is not None else []
    if tensor.shapeSignature is not None:
        coded.shapeSignature = list(tensor.shapeSignature)
    coded.buffer = 0
    if codec.name == "fp16":
        coded.type = _FLOAT16
    else:
        scale, zero_point = codec.params[name]
        q = schema.QuantizationParametersT()
        q.scale = [scale]
        q.zeroPoint = [zero_point]
        coded.type = _INT8
        coded.quantization = q
    return coded


def _empty_buffer(model: Any) -> int:
    from ai_edge_litert import schema_py_generated as schema

    model.buffers.append(schema.BufferT())
    return len(model.buffers) - 1


def _retarget_signatures(model: Any, old: int, new: int) -> None:
    for sig in model.signatureDefs or []:
        for tmap in (sig.inputs or []) + (sig.outputs or []):
            if tmap.tensorIndex == old:
                tmap.tensorIndex = new


def add_head_encoder(head: Path, codec: CutCodec, out: Path) -> list[str]:
    """Write ``head`` with the codec's encoder after every float32 output; returns their names."""
    from ai_edge_litert import schema_py_generated as schema
    from ai_edge_litert.tools import flatbuffer_utils

    model = read_model(head)
    sg = model.subgraphs[0]
    op_index = _opcode(model, _CAST if codec.name == "fp16" else _QUANTIZE, 1)
    coded_names = []
    outputs = list(sg.outputs)
    for pos, t in enumerate(outputs):
        tensor = sg.tensors[t]
        name = _name(tensor)
        if int(tensor.type) != _FLOAT32 or (codec.name == "int8" and name not in codec.params):
            continue
        coded = _coded_tensor(tensor, codec, name)
        coded.buffer = _empty_buffer(model)
        tensor.name = (name + "/uncoded").encode()
        sg.tensors.append(coded)
        new = len(sg.tensors) - 1
        op = schema.OperatorT()
        op.opcodeIndex = op_index
        op.inputs = [t]
        op.outputs = [new]
        sg.operators.append(op)
        outputs[pos] = new
        _retarget_signatures(model, t, new)
        coded_names.append(name)
    sg.outputs = outputs
    out.parent.mkdir(parents=True, exist_ok=True)
    flatbuffer_utils.write_model(model, str(out))
    return coded_names


def add_tail_decoder(tail: Path, codec: CutCodec, names: list[str], out: Path) -> None:
    """Write ``tail`` with a DEQUANTIZE in front for every input named in ``names``."""
    from ai_edge_litert import schema_py_generated as schema
    from ai_edge_litert.tools import flatbuffer_utils

    model = read_model(tail)
    sg = model.subgraphs[0]
    op_index = _opcode(model, _DEQUANTIZE, 3 if codec.name == "fp16" else 2)
    inputs = list(sg.inputs)
    new_ops = []
    for pos, t in enumerate(inputs):
        tensor = sg.tensors[t]
        name = _name(tensor)
        if name not in names:
            continue
        coded = _coded_tensor(tensor, codec, name)
        coded.buffer = _empty_buffer(model)
        tensor.name = (name + "/decoded").encode()
        sg.tensors.append(coded)
        new = len(sg.tensors) - 1
        op = schema.OperatorT()
        op.opcodeIndex = op_index
        op.inputs = [new]
        op.outputs = [t]
        new_ops.append(op)
        inputs[pos] = new
        _retarget_signatures(model, t, new)
    sg.inputs = inputs
    sg.operators = new_ops + list(sg.operators)
    out.parent.mkdir(parents=True, exist_ok=True)
    flatbuffer_utils.write_model(model, str(out))


def coded_bytes(values: dict[str, np.ndarray]) -> int:
    return int(sum(np.asarray(v).nbytes for v in values.values()))
