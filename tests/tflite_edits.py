"""Real edits of real ``.tflite`` files for the runner and verification tests.

Each helper reads a model with ``ai_edge_litert.tools.flatbuffer_utils``, changes one thing the
way a real model differs (a custom operator the runtime lacks, perturbed weights, an odd input
shape) and writes a new file; nothing is mocked.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from ai_edge_litert import schema_py_generated as schema
from ai_edge_litert.tools import flatbuffer_utils


def with_custom_op(src: Path, dst: Path, op_index: int, custom_code: str) -> Path:
    """Turn operator ``op_index`` into ``CUSTOM`` with ``custom_code`` (e.g. mediapipe's
    ``Convolution2DTransposeBias``): the file stays valid, the runtime cannot resolve it."""
    model = flatbuffer_utils.read_model(str(src))
    code = schema.OperatorCodeT()
    code.builtinCode = schema.BuiltinOperator.CUSTOM
    code.deprecatedBuiltinCode = schema.BuiltinOperator.CUSTOM
    code.customCode = custom_code.encode()
    code.version = 1
    model.operatorCodes.append(code)
    op = model.subgraphs[0].operators[op_index]
    op.opcodeIndex = len(model.operatorCodes) - 1
    op.builtinOptionsType = 0
    op.builtinOptions = None
    op.customOptions = []
    flatbuffer_utils.write_model(model, str(dst))
    return dst


def perturb_last_bias(src: Path, dst: Path, delta: float) -> Path:
    """Add ``delta`` to the bias of the model's last operator (a CONV_2D in the test models):
    every output element then moves by exactly ``delta`` (up to float32 rounding)."""
    model = flatbuffer_utils.read_model(str(src))
    subgraph = model.subgraphs[0]
    last = subgraph.operators[-1]
    bias = subgraph.tensors[last.inputs[2]]
    buffer = model.buffers[bias.buffer]
    values = np.frombuffer(bytes(buffer.data), dtype=np.float32) + np.float32(delta)
    buffer.data = np.frombuffer(values.astype(np.float32).tobytes(), dtype=np.uint8)
    flatbuffer_utils.write_model(model, str(dst))
    return dst


def with_input_shape(src: Path, dst: Path, shape: list[int]) -> Path:
    """Rewrite the first input's declared shape (the model no longer allocates, but its input
    description — all ``make_inputs`` reads — is a valid model's)."""
    model = flatbuffer_utils.read_model(str(src))
    subgraph = model.subgraphs[0]
    tensor = subgraph.tensors[subgraph.inputs[0]]
    tensor.shape = np.array(shape, dtype=np.int32)
    tensor.shapeSignature = None
    flatbuffer_utils.write_model(model, str(dst))
    return dst
