"""Small real TFLite models for the tests, converted by TensorFlow's own converter.

Each builder returns the bytes of a real ``.tflite`` file; they are kept tiny so the whole
suite stays fast on two cores. Full-size models (PoseNet, mediapipe) come from their own
fixtures.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def _convert(model) -> bytes:  # type: ignore[no-untyped-def]
    import contextlib
    import io

    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    with contextlib.redirect_stdout(io.StringIO()):
        return bytes(converter.convert())


def chain_model() -> bytes:
    """Single path: every cut is one tensor. 4 operators."""
    import keras

    keras.utils.set_random_seed(7)
    inp = keras.Input((16, 16, 3), batch_size=1, name="image")
    x = keras.layers.Conv2D(8, 3, strides=2, padding="same", activation="relu6")(inp)
    x = keras.layers.DepthwiseConv2D(3, padding="same", activation="relu6")(x)
    x = keras.layers.Conv2D(16, 1, activation="relu6")(x)
    x = keras.layers.Conv2D(4, 1)(x)
    return _convert(keras.Model(inp, x))


def branchy_model() -> bytes:
    """Two branches joined by ADD plus an early model output: multi-tensor cuts."""
    import keras

    keras.utils.set_random_seed(11)
    inp = keras.Input((16, 16, 3), batch_size=1, name="image")
    a = keras.layers.Conv2D(8, 3, padding="same", activation="relu6")(inp)
    early = keras.layers.Conv2D(2, 1, name="early_head")(a)
    b = keras.layers.Conv2D(8, 1)(a)
    c = keras.layers.DepthwiseConv2D(3, padding="same")(a)
    d = keras.layers.Add()([b, c])
    out = keras.layers.Conv2D(4, 1, name="late_head")(d)
    return _convert(keras.Model(inp, [early, out]))


def two_input_model() -> bytes:
    """Two inputs of different dtype-free shapes, one consumed late (a skip from an input)."""
    import keras

    keras.utils.set_random_seed(13)
    img = keras.Input((8, 8, 3), batch_size=1, name="image")
    side = keras.Input((8, 8, 4), batch_size=1, name="side")
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu")(img)
    x = keras.layers.Conv2D(4, 1)(x)
    y = keras.layers.Add()([x, side])
    return _convert(keras.Model([img, side], y))


def front_heavy_model() -> bytes:
    """An 8 MB first layer, then small ones: every head but the empty one holds 8 MB, every
    tail after the first is tiny (so a writer of tails finishes long before one of heads)."""
    import keras

    keras.utils.set_random_seed(17)
    inp = keras.Input((1024,), batch_size=1, name="features")
    x = keras.layers.Dense(2048, activation="relu")(inp)
    for width in (16,) * 11 + (8,):
        x = keras.layers.Dense(width, activation="relu")(x)
    return _convert(keras.Model(inp, x))


def race_model() -> bytes:
    """For ``--strategy race``: two 3x3 convolutions on 32x32 feature maps (milliseconds of
    work, 32-128 KB across every early cut), then global pooling and four tiny dense layers
    (64 bytes or less across every late cut, microseconds of work). On a slow uplink every
    early split is clearly slower than keeping the model on the client; the late splits do the
    same work as the whole model and differ from it by microseconds, within the noise."""
    import keras

    keras.utils.set_random_seed(19)
    inp = keras.Input((32, 32, 8), batch_size=1, name="image")
    x = keras.layers.Conv2D(32, 3, padding="same", activation="relu")(inp)
    x = keras.layers.Conv2D(32, 3, padding="same", activation="relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    for width in (16, 16, 8, 4):
        x = keras.layers.Dense(width)(x)
    return _convert(keras.Model(inp, x))
