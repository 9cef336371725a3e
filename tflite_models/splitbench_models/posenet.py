"""PoseNet (MobileNetV1 1.0, 257x257x3, output stride 16), the anchor model of seed clause 10.2.

The seed scenario splits PoseNet at each of its 31 TFLite operators. The trained weights are not
available from a package registry, but neither sizes nor CPU timings depend on weight values, so
the architecture is rebuilt exactly and filled with weights drawn from a fixed seed
(``numpy.random.RandomState``, whose stream NumPy keeps stable across versions). Every build
gives the same bytes for the same TensorFlow version.

Architecture (as in TensorFlow.js PoseNet and its Python port ``posenet-python``, whose frozen
graph ``model-mobilenet_v1_100.pb`` the seed's reference scripts start from):

- MobileNetV1 1.0: ``Conv2d_0`` (3x3, stride 2, 32 channels), then 13 separable blocks
  ``Conv2d_{i}_depthwise`` (3x3) + ``Conv2d_{i}_pointwise`` (1x1), each with a bias (batch norm
  folded, as in the released graph) and ReLU6; no classifier.
- Output stride 16 by the PoseNet rule (``toOutputStridedLayers``): once the accumulated stride
  reaches 16, a block that would stride keeps stride 1 and multiplies the dilation rate of the
  blocks *after* it. So block 12 (the last stride-2 depthwise) has stride 1, dilation 1, and
  block 13 has dilation 2. 257 -> 129 -> 65 -> 33 -> 17: the heads are 17x17.
- Four 1x1 heads with bias, no activation, on the last feature map: ``heatmap`` (17),
  ``offsets`` (34), ``displacement_fwd`` (32), ``displacement_bwd`` (32). The decoder's sigmoid
  on the heatmap is not part of the network (as in the released TFLite model).

The TFLite file has 31 operators: CONV_2D, 13 x (DEPTHWISE_CONV_2D, CONV_2D), 4 x CONV_2D. The
converter folds TensorFlow's SpaceToBatchND/BatchToSpaceND pattern of the dilated depthwise
convolution into one DEPTHWISE_CONV_2D with a dilation factor of 2.

Parameters: 3,313,907 (3,302,848 weights, 11,059 biases; the backbone alone has 3,185,088
weights), i.e. 13.26 MB of float32, which is what the 13.27 MB file holds. The seed's table lists
1,180,147 parameters next to "13.3MB"; the two figures cannot both describe an FP32 MobileNetV1
1.0 model (1,180,147 float32 values are 4.7 MB), so this build keeps the architecture and the
file size and reports its own count (:func:`posenet_parameter_count`).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from splitbench.cache import cache_dir
from splitbench.errors import ModelError

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

# Bump BUILD_VERSION whenever the architecture, the weights or their naming change: it is part of
# the cached file's name, so old builds are never reused for a new definition.
BUILD_VERSION = 2
SEED = 20230921  # the date of the seed's reference run (clause 10.2.13)

INPUT_NAME = "image"
INPUT_SHAPE = (1, 257, 257, 3)
OUTPUT_STRIDE = 16
SCOPE = "MobilenetV1"
HEADS: tuple[tuple[str, str, int], ...] = (
    # (output name, graph scope as in the released model, channels)
    ("heatmap", "heatmap_2", 17),
    ("offsets", "offset_2", 34),
    ("displacement_fwd", "displacement_fwd_2", 32),
    ("displacement_bwd", "displacement_bwd_2", 32),
)
OUTPUT_NAMES: tuple[str, ...] = tuple(h[0] for h in HEADS)
NUM_OPERATORS = 31

# MobileNetV1 1.0 separable blocks 1..13: (pointwise output channels, depthwise stride).
_MOBILENET_V1_100_BLOCKS = (
    (64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2),
    (512, 1), (512, 1), (512, 1), (512, 1), (512, 1), (1024, 2), (1024, 1),
)  # fmt: skip


@dataclass(frozen=True)
class PosenetLayer:
    """One convolution of PoseNet; one TFLite operator once converted."""

    scope: str  # graph scope under MobilenetV1/, e.g. "Conv2d_13_depthwise" or "heatmap_2"
    kind: str  # "conv", "depthwise", "pointwise" or "head"
    in_channels: int
    out_channels: int
    kernel: int
    stride: int
    dilation: int

    @property
    def relu6(self) -> bool:
        return self.kind != "head"

    @property
    def kernel_shape(self) -> tuple[int, int, int, int]:
        """TensorFlow layout: HWIO for convolutions, HWC1 for depthwise."""
        if self.kind == "depthwise":
            return (self.kernel, self.kernel, self.in_channels, 1)
        return (self.kernel, self.kernel, self.in_channels, self.out_channels)


@dataclass(frozen=True)
class FrozenGraph:
    """A TF1 frozen GraphDef of PoseNet and the tensor names the converter needs.

    ``layer_output_names`` are the graph tensors after each backbone operator in execution order
    (27 of them): the single-tensor cuts the seed's reference scripts convert per split.
    """

    path: Path
    input_names: list[str]
    output_names: list[str]
    input_shapes: dict[str, tuple[int, ...]]
    layer_output_names: list[str]


def posenet_layers() -> tuple[PosenetLayer, ...]:
    """The 31 convolutions in execution order, with PoseNet's output-stride rule applied."""
    layers = [PosenetLayer("Conv2d_0", "conv", 3, 32, 3, 2, 1)]
    current_stride, rate, channels = 2, 1, 32
    for block, (out_channels, stride) in enumerate(_MOBILENET_V1_100_BLOCKS, start=1):
        if current_stride == OUTPUT_STRIDE:
            layer_stride, layer_rate = 1, rate
            rate *= stride
        else:
            layer_stride, layer_rate = stride, 1
            current_stride *= stride
        depthwise = PosenetLayer(
            f"Conv2d_{block}_depthwise",
            "depthwise",
            channels,
            channels,
            3,
            layer_stride,
            layer_rate,
        )
        layers.append(depthwise)
        layers.append(
            PosenetLayer(f"Conv2d_{block}_pointwise", "pointwise", channels, out_channels, 1, 1, 1)
        )
        channels = out_channels
    for _, scope, out_channels in HEADS:
        layers.append(PosenetLayer(scope, "head", channels, out_channels, 1, 1, 1))
    return tuple(layers)


def posenet_weights(seed: int = SEED) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Kernel and bias of every layer, drawn in layer order from one seeded stream.

    He-normal kernels (gain 2 before ReLU6, 1 for the linear heads) and small biases keep the
    activations of a [-1, 1] image in a healthy range through all 27 backbone layers, so the
    lossless check compares real, non-trivial values rather than zeros or saturated sixes.
    """
    rng = np.random.RandomState(seed)
    weights: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for layer in posenet_layers():
        shape = layer.kernel_shape
        fan_in = shape[0] * shape[1] * (1 if layer.kind == "depthwise" else shape[2])
        gain = 2.0 if layer.relu6 else 1.0
        kernel = (rng.standard_normal(shape) * np.sqrt(gain / fan_in)).astype(np.float32)
        bias = (rng.standard_normal(layer.out_channels) * 0.05).astype(np.float32)
        weights[layer.scope] = (kernel, bias)
    return weights


def posenet_parameter_count() -> int:
    """Number of weights and biases (3,313,907); see the module docstring on the seed's figure."""
    total = 0
    for layer in posenet_layers():
        total += int(np.prod(layer.kernel_shape)) + layer.out_channels
    return total


def posenet_weights_sha256(seed: int = SEED) -> str:
    """Digest of all weights (names, shapes, little-endian bytes): the repeatability anchor."""
    digest = hashlib.sha256()
    for scope, (kernel, bias) in posenet_weights(seed).items():
        digest.update(scope.encode() + b"\0")
        for array in (kernel, bias):
            digest.update(repr(array.shape).encode())
            digest.update(array.astype("<f4").tobytes())
    return digest.hexdigest()


# --------------------------------------------------------------------------- Keras


def build_posenet_keras() -> Any:
    """PoseNet as a Keras 3 functional model with the same weights as the TFLite build.

    Layer names follow the graph scopes (Keras forbids ``/``); the four heads are named after
    the outputs.
    """
    from splitbench.convert import tensorflow

    tensorflow()  # quiet import before keras imports it
    import keras

    weights = posenet_weights()
    image = keras.Input(shape=INPUT_SHAPE[1:], batch_size=INPUT_SHAPE[0], name=INPUT_NAME)
    x = image
    head_names = {scope: name for name, scope, _ in HEADS}
    outputs = []
    for layer in posenet_layers():
        activation = "relu6" if layer.relu6 else None
        if layer.kind == "depthwise":
            keras_layer: Any = keras.layers.DepthwiseConv2D(
                layer.kernel,
                strides=layer.stride,
                dilation_rate=layer.dilation,
                padding="same",
                activation=activation,
                name=layer.scope,
            )
        else:
            keras_layer = keras.layers.Conv2D(
                layer.out_channels,
                layer.kernel,
                strides=layer.stride,
                padding="same",
                activation=activation,
                name=head_names.get(layer.scope, layer.scope),
            )
        if layer.kind == "head":  # all four heads read the last backbone feature map
            outputs.append(keras_layer(x))
        else:
            x = keras_layer(x)
        keras_layer.set_weights(list(weights[layer.scope]))
    return keras.Model(image, outputs, name="posenet_mobilenet_v1_100_257_os16")


# --------------------------------------------------------------------------- TF1 frozen graph


def export_posenet_frozen_graph(out_dir: Path) -> FrozenGraph:
    """Write PoseNet as a TF1 frozen GraphDef (weights as constants) into ``out_dir``.

    This is the form the seed's reference scripts start from (they re-run the converter from a
    ``.pb`` for every split). The dilated depthwise convolution is written the way TensorFlow
    writes it (SpaceToBatchND, DepthwiseConv2dNative, BatchToSpaceND), like the released graph.
    """
    from splitbench.convert import tensorflow

    tf = tensorflow()

    out_dir.mkdir(parents=True, exist_ok=True)
    weights = posenet_weights()
    layer_outputs: list[str] = []
    graph = tf.Graph()
    with graph.as_default():
        x = tf.compat.v1.placeholder(tf.float32, INPUT_SHAPE, name=INPUT_NAME)
        heads = []
        with tf.name_scope(SCOPE):
            for layer in posenet_layers():
                kernel, bias = weights[layer.scope]
                with tf.name_scope(layer.scope):
                    name = "depthwise_weights" if layer.kind == "depthwise" else "weights"
                    w = tf.constant(kernel, name=name)
                    b = tf.constant(bias, name="biases")
                    # Heads do not replace x: all four read the last backbone feature map.
                    if layer.kind == "depthwise":
                        y = tf.nn.depthwise_conv2d(
                            x, w, [1, layer.stride, layer.stride, 1], "SAME",
                            dilations=[layer.dilation, layer.dilation],
                        )  # fmt: skip
                    else:
                        y = tf.nn.conv2d(x, w, layer.stride, "SAME")
                    y = tf.nn.bias_add(y, b)
                    if layer.relu6:
                        x = tf.nn.relu6(y, name="Relu6")
                        layer_outputs.append(x.name.split(":")[0])
                    else:
                        heads.append(y)
        for output_name, y in zip(OUTPUT_NAMES, heads, strict=True):
            tf.identity(y, name=output_name)
    path = out_dir / f"posenet_mobilenet_v1_100_257_os16_v{BUILD_VERSION}.pb"
    data = graph.as_graph_def().SerializeToString(deterministic=True)
    _write_atomic(path, data)
    return FrozenGraph(
        path=path,
        input_names=[INPUT_NAME],
        output_names=list(OUTPUT_NAMES),
        input_shapes={INPUT_NAME: INPUT_SHAPE},
        layer_output_names=layer_outputs,
    )


# --------------------------------------------------------------------------- TFLite


def default_posenet_path() -> Path:
    """Where the built model is cached for this user."""
    name = f"posenet_mobilenet_v1_100_257_os16_v{BUILD_VERSION}.tflite"
    return cache_dir("models") / name


def build_posenet_tflite(out: Path | None = None) -> Path:
    """Build (or reuse) the PoseNet ``.tflite`` file and return its path.

    The file is reused when its sha256 matches the ``.sha256`` sidecar written with it; a missing
    sidecar, a truncated or otherwise changed file is rebuilt. The file is converted from the
    frozen graph of :func:`export_posenet_frozen_graph`, exactly the path a user's ``.pb`` takes.
    """
    target = out if out is not None else default_posenet_path()
    target.parent.mkdir(parents=True, exist_ok=True)
    if _matches_sidecar(target):
        return target
    from splitbench.convert import convert_frozen_graph

    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".posenet-build-") as tmp:
        graph = export_posenet_frozen_graph(Path(tmp))
        converted = convert_frozen_graph(
            graph.path,
            workdir=Path(tmp),
            input_names=graph.input_names,
            output_names=graph.output_names,
            input_shapes=graph.input_shapes,
        )
        data = tidy_tensor_names(converted.read_bytes())
    _write_atomic(target, data)
    _write_atomic(_sidecar(target), (hashlib.sha256(data).hexdigest() + "\n").encode())
    if not _matches_sidecar(target):
        raise ModelError(f"PoseNet build could not be written to {target}")
    return target


def tidy_tensor_names(data: bytes) -> bytes:
    """Shorten the converter's fused tensor names in place, keeping the file size.

    The converter names a fused tensor after every op folded into it
    (``.../Relu6;.../BiasAdd;.../Conv2D;.../biases1``); such names make the ``cut_tensors``
    column unreadable. An activation keeps its first part (``MobilenetV1/Conv2d_3_pointwise/Relu6``,
    the name of the same tensor in the frozen graph), a constant its last part (``.../biases``).
    Each flatbuffer string is rewritten where it lies (shorter length, NUL-padded), so no offset
    moves and the interpreter's verifier sees an ordinary file.
    """
    from ai_edge_litert import schema_py_generated as schema

    buf = bytearray(data)
    model = schema.Model.GetRootAs(buf, 0)
    rewritten: set[int] = set()
    for s in range(model.SubgraphsLength()):
        graph = model.Subgraphs(s)
        for i in range(graph.TensorsLength()):
            tensor = graph.Tensors(i)
            name = (tensor.Name() or b"").decode()
            if ";" not in name:
                continue
            parts = name.split(";")
            constant = model.Buffers(tensor.Buffer()).DataLength() > 0
            short = (parts[-1] if constant else parts[0]).encode()
            # The generated accessors expose no string position: read it from the table (the
            # ``name`` field sits at vtable offset 10 in the TFLite schema).
            field = tensor._tab.Pos + tensor._tab.Offset(10)
            start = field + int.from_bytes(buf[field : field + 4], "little")
            length = int.from_bytes(buf[start : start + 4], "little")
            if buf[start + 4 : start + 4 + length] != name.encode() or start in rewritten:
                raise ModelError("PoseNet build: unexpected tensor name layout in the flatbuffer")
            rewritten.add(start)
            buf[start : start + 4] = len(short).to_bytes(4, "little")
            buf[start + 4 : start + 5 + length] = short + bytes(length + 1 - len(short))
    return bytes(buf)


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def _matches_sidecar(path: Path) -> bool:
    """Is ``path`` the file its sidecar describes?

    The sidecar's first line is the file's sha256. Once the file has been hashed and found
    right, its second line is the file's stamp at that moment (inode, size, modification and
    change times); a file with the same stamp has not been written since, so every later run
    trusts it without reading and hashing 13 MB (the graph loader hashes it once more anyway).
    """
    sidecar = _sidecar(path)
    if not path.is_file() or not sidecar.is_file():
        return False
    expected, *stamped = sidecar.read_text().split("\n", 1)
    stamp = _stamp(path)  # before the read: a write after it makes the stamp stale, not wrong
    if stamped and stamped[0].strip() == stamp:
        return True
    if hashlib.sha256(path.read_bytes()).hexdigest() != expected.strip():
        return False
    with contextlib.suppress(OSError):  # a read-only cache is still used, only hashed each time
        _write_atomic(sidecar, f"{expected.strip()}\n{stamp}\n".encode())
    return True


def _stamp(path: Path) -> str:
    st = path.stat()
    return f"{st.st_ino} {st.st_size} {st.st_mtime_ns} {st.st_ctime_ns}"


def _write_atomic(path: Path, data: bytes) -> None:
    """Write via a temporary file and rename, so a concurrent reader never sees half a file."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; these are ordinary files
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
