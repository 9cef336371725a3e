"""Real TFLite models (and runners) for the graph / cut plan / splitter tests.

Each builder converts a tiny Keras model or ``tf.function`` with TensorFlow's own converter and
is cached for the test session, so the three test files share one conversion. ``with_custom_op``
edits a real model's flatbuffer so that one builtin operator becomes a CUSTOM operator that no
runtime can resolve (like mediapipe's ``Convolution2DTransposeBias``).
"""

from __future__ import annotations

import contextlib
import functools
import io
import os
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def _quiet_convert(converter: Any) -> bytes:
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return bytes(converter.convert())


@functools.cache
def dynamic_batch_model() -> bytes:
    """Batch dimension left open (``batch_size=None``): ``shape_signature`` is [-1, 8, 8, 3]."""
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(17)
    inp = keras.Input((8, 8, 3), batch_size=None, name="image")
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu")(inp)
    x = keras.layers.Conv2D(2, 1)(x)
    return _quiet_convert(tf.lite.TFLiteConverter.from_keras_model(keras.Model(inp, x)))


@functools.cache
def int8_model() -> bytes:
    """Full-integer quantized (int8 inputs, activations and outputs), with a two-branch join."""
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(19)
    inp = keras.Input((12, 12, 3), batch_size=1, name="image")
    a = keras.layers.Conv2D(8, 3, padding="same", activation="relu")(inp)
    b = keras.layers.Conv2D(8, 1)(a)
    c = keras.layers.DepthwiseConv2D(3, padding="same")(a)
    x = keras.layers.Add()([b, c])
    x = keras.layers.Conv2D(4, 1)(x)
    model = keras.Model(inp, x)
    rng = np.random.default_rng(0)

    def representative() -> Any:
        for _ in range(8):
            yield [rng.uniform(-1, 1, (1, 12, 12, 3)).astype(np.float32)]

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = representative
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.int8
    converter.inference_output_type = tf.int8
    return _quiet_convert(converter)


@functools.cache
def float16_weights_model() -> bytes:
    """Float16 weights behind DEQUANTIZE operators, as in the mediapipe models."""
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(23)
    inp = keras.Input((10, 10, 3), batch_size=1, name="image")
    a = keras.layers.Conv2D(6, 3, padding="same", activation="relu")(inp)
    b = keras.layers.Conv2D(6, 1)(a)
    x = keras.layers.Add()([a, b])
    x = keras.layers.Conv2D(3, 1)(x)
    converter = tf.lite.TFLiteConverter.from_keras_model(keras.Model(inp, x))
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.target_spec.supported_types = [tf.float16]
    return _quiet_convert(converter)


@functools.cache
def while_loop_model() -> bytes:
    """Control flow: a WHILE operator whose condition and body are subgraphs 1 and 2."""
    import tensorflow as tf

    weights = tf.constant(np.random.default_rng(3).standard_normal((6, 6)).astype(np.float32))

    @tf.function(input_signature=[tf.TensorSpec((1, 6), tf.float32, name="x")])
    def loop(x: Any) -> Any:
        y = tf.nn.relu(tf.matmul(x, weights))
        _, y = tf.while_loop(
            lambda i, v: i < 3, lambda i, v: (i + 1, tf.tanh(v) * 1.5 + 0.25), (0, y)
        )
        return tf.matmul(y, weights) + 1.0

    converter = tf.lite.TFLiteConverter.from_concrete_functions([loop.get_concrete_function()])
    return _quiet_convert(converter)


def with_custom_op(data: bytes, builtin: str, custom_code: str) -> bytes:
    """Turn every ``builtin`` operator of ``data`` into ``CUSTOM:<custom_code>``."""
    from ai_edge_litert import schema_py_generated as schema
    from ai_edge_litert.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model_from_bytearray(bytearray(data))
    wanted = getattr(schema.BuiltinOperator, builtin)
    changed = []
    for index, code in enumerate(model.operatorCodes):
        if flatbuffer_utils.get_builtin_code_from_operator_code(code) == wanted:
            code.builtinCode = schema.BuiltinOperator.CUSTOM
            code.deprecatedBuiltinCode = schema.BuiltinOperator.CUSTOM
            code.customCode = custom_code.encode()
            changed.append(index)
    assert changed, f"{builtin} not in the model"
    for op in model.subgraphs[0].operators:
        if op.opcodeIndex in changed:
            op.builtinOptionsType = 0
            op.builtinOptions = None
            op.customOptions = np.frombuffer(b"\x01\x02\x03\x04", dtype=np.uint8)
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))


def write(tmp: Path, name: str, data: bytes) -> Path:
    path = tmp / f"{name}.tflite"
    path.write_bytes(data)
    return path


# --- running models ----------------------------------------------------------------------------


def random_inputs(path: Path, seed: int = 0) -> dict[str, np.ndarray]:
    """Seeded random values for every input of the model at ``path``, keyed by tensor name."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path))
    rng = np.random.default_rng(seed)
    feeds = {}
    for detail in interpreter.get_input_details():
        dtype = np.dtype(detail["dtype"])
        if np.issubdtype(dtype, np.integer):
            info = np.iinfo(dtype)
            feeds[detail["name"]] = rng.integers(info.min, info.max, detail["shape"], dtype=dtype)
        else:
            feeds[detail["name"]] = rng.standard_normal(detail["shape"]).astype(dtype)
    return feeds


def run(path: Path, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Run a model file on the feeds it needs (by tensor name); return its outputs by name."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path))
    for detail in interpreter.get_input_details():
        value = feeds[detail["name"]]
        if tuple(detail["shape"]) != value.shape:
            interpreter.resize_tensor_input(detail["index"], list(value.shape))
    interpreter.allocate_tensors()
    for detail in interpreter.get_input_details():
        interpreter.set_tensor(detail["index"], feeds[detail["name"]])
    interpreter.invoke()
    return {d["name"]: interpreter.get_tensor(d["index"]) for d in interpreter.get_output_details()}


def run_split(
    head: Path | None, tail: Path | None, feeds: Mapping[str, np.ndarray]
) -> dict[str, np.ndarray]:
    """Head then tail, the tail fed by name from the head's outputs and the model inputs."""
    values = dict(feeds)
    for part in (head, tail):
        if part is not None:
            values.update(run(part, values))
    return values
