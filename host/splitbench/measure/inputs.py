"""Input values for running a model: the user's images, or seeded random values.

The lossless check and the runners feed the same input sets to the whole model and to its
parts, so inputs are plain ``{input tensor name: array}`` dicts that any part can pick from.

Random values follow TensorFlow Lite's ``benchmark_model`` (``CreateRandomTensorData``): float
uniform in [-0.5, 0.5), int16/int32/int64 in [0, 99], uint8 in [0, 254], int8 in [-127, 127],
bool in {0, 1}; they are drawn from a seeded generator so two runs see the same numbers.

Images (``--inputs DIR``) go to the model's image input (the first input shaped
``[1, H, W, C]`` or ``[H, W, C]`` with C = 3 or 1 — or, in the model's layout when its format
says so or its shape leaves no doubt, ``[1, C, H, W]``: PyTorch and ONNX models, and TFLite
files converted from them), resized to H x W with bilinear filtering and no cropping, as the
PoseNet reference does. Pixel values are converted per input dtype:

* float inputs, by ``--input-scale``: ``-1..1`` (default) ``pixel / 127.5 - 1`` — PoseNet and
  MobileNet preprocessing (``2/255 * x - 1``); ``0..1`` ``pixel / 255``; ``0..255`` the pixels
  as they are; ``imagenet`` ``(pixel / 255 - mean) / std`` with ImageNet's per-channel mean
  (0.485, 0.456, 0.406) and std (0.229, 0.224, 0.225), as torchvision's models expect;
* uint8 inputs: the pixels as they are (0..255), the usual input of quantized models;
* int8 inputs: ``pixel - 128`` (-128..127), the usual zero-point shift of int8 models.

Other inputs of the same model get seeded random values.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.random  # loaded now, not inside a measured part (it adds ~6 MB RSS)

from splitbench.errors import ModelError, SplitbenchError

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg"})
SCALES = ("-1..1", "0..1", "0..255", "imagenet")


def default_input_scale(model: str) -> str:
    """The scale a model's own pre-processing uses, where its source says it: torchvision's
    models are trained on ImageNet-normalised pixels; anything else gets -1..1 (PoseNet,
    MobileNet), stated wherever it is used so a user can change it (``--input-scale``)."""
    return "imagenet" if model.startswith("torchvision:") else "-1..1"


IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)

# (low, high) inclusive ranges for integer inputs, as in benchmark_model.
_INT_RANGES: dict[str, tuple[int, int]] = {
    "int16": (0, 99),
    "int32": (0, 99),
    "int64": (0, 99),
    "uint32": (0, 99),
    "uint8": (0, 254),
    "int8": (-127, 127),
}


def random_value(
    shape: Sequence[int], dtype: np.dtype[Any] | type, rng: np.random.Generator
) -> np.ndarray:
    """One seeded random array of ``shape`` and ``dtype`` (benchmark_model's value ranges)."""
    dt = np.dtype(dtype)
    shape = tuple(int(d) for d in shape)
    if dt.kind == "f":
        return rng.uniform(-0.5, 0.5, size=shape).astype(dt)
    if dt.kind == "b":
        return rng.integers(0, 2, size=shape).astype(dt)
    if dt.name in _INT_RANGES:
        low, high = _INT_RANGES[dt.name]
        return rng.integers(low, high, size=shape, endpoint=True).astype(dt)
    if dt.kind in "iu":
        return rng.integers(0, 100, size=shape).astype(dt)
    raise ModelError(f"cannot make input values of dtype {dt.name}")


def random_inputs(
    details: Sequence[dict[str, Any]], rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """Random values for every input described by ``Interpreter.get_input_details()``."""
    return {d["name"]: random_value(d["shape"], d["dtype"], rng) for d in details}


def input_details(model_path: Path) -> list[dict[str, Any]]:
    """The model's input tensors (name, shape, dtype, layout) without running it, read by the
    model's format (works even for models whose operators the runtime cannot resolve)."""
    from splitbench.formats import format_of_file

    specs = format_of_file(Path(model_path)).input_specs(Path(model_path))
    return [
        {"name": s.name, "shape": s.shape, "dtype": np.dtype(s.dtype), "layout": s.layout}
        for s in specs
    ]


def make_inputs(
    model_path: Path, *, inputs_dir: Path | None, count: int, seed: int, scale: str = "-1..1"
) -> list[dict[str, np.ndarray]]:
    """Input sets for ``model_path``, keyed by input tensor name.

    Without ``inputs_dir``: ``count`` seeded random sets. With it: one set per image, in file
    name order, at most ``count`` (fewer when the directory holds fewer images: images are
    never repeated or invented).
    """
    if count < 1:
        raise ValueError("count must be at least 1")
    details = input_details(model_path)
    rng = np.random.default_rng(seed)
    if inputs_dir is None:
        return [random_inputs(details, rng) for _ in range(count)]

    if scale not in SCALES:
        raise SplitbenchError(f"--input-scale {scale}: use one of {', '.join(SCALES)}")
    target, layout = image_input(details, model_path)
    images = image_files(Path(inputs_dir))[:count]
    sets = []
    for image_path in images:
        values = random_inputs(details, rng)
        values[target["name"]] = load_image(
            image_path, target["shape"], target["dtype"], layout=layout, scale=scale
        )
        sets.append(values)
    return sets


def load_image(
    path: Path,
    shape: Sequence[int],
    dtype: np.dtype[Any] | type,
    *,
    layout: str = "NHWC",
    scale: str = "-1..1",
) -> np.ndarray:
    """One image file as an array of the input's ``shape``, ``layout`` and ``dtype`` (see module
    doc); float values scaled as ``scale`` says."""
    channels, height, width = picture_size(shape, layout)
    pixels = read_frame(path, height, width, channels)
    return picture_to_input(pixels, shape, dtype, layout=layout, scale=scale)


def read_frame(path: Path, height: int, width: int, channels: int) -> np.ndarray:
    """One image file as a uint8 H x W x C frame (bilinear resize, no crop)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            img = img.convert("RGB" if channels == 3 else "L")
            img = img.resize((width, height), Image.Resampling.BILINEAR)
            pixels = np.asarray(img, dtype=np.uint8)
    except (OSError, UnidentifiedImageError) as exc:
        raise SplitbenchError(f"cannot read image {path}: {exc}") from None
    return pixels.reshape(height, width, channels)


def picture_to_input(
    pixels: np.ndarray,
    shape: Sequence[int],
    dtype: np.dtype[Any] | type,
    *,
    layout: str = "NHWC",
    scale: str = "-1..1",
) -> np.ndarray:
    """A uint8 picture already at the input's height and width (H x W x C, or H x W for one
    channel) as an array of the input's ``shape``, ``layout`` and ``dtype`` (see module doc).
    This is the server's conversion after decoding a coded picture (the anchors)."""
    batched = len(shape) == 4
    channels, height, width = picture_size(shape, layout)
    pixels = np.asarray(pixels, dtype=np.float32).reshape(height, width, channels)
    dt = np.dtype(dtype)
    if dt.kind == "f":
        values = _scaled(pixels, scale).astype(dt)
    elif dt == np.uint8:
        values = pixels.astype(np.uint8)
    elif dt == np.int8:
        values = (pixels - 128.0).astype(np.int8)
    else:
        raise ModelError(f"image input of dtype {dt.name} is not supported (float, uint8, int8)")
    if layout == "NCHW":
        values = np.transpose(values, (2, 0, 1))
    return values[np.newaxis] if batched else values


def picture_size(shape: Sequence[int], layout: str) -> tuple[int, int, int]:
    """(channels, height, width) of an image input of ``shape`` in ``layout``."""
    dims = [int(d) for d in shape]
    if layout == "NCHW":
        channels, height, width = dims[-3:]
    else:
        height, width, channels = dims[-3:]
    return channels, height, width


def _scaled(pixels: np.ndarray, scale: str) -> np.ndarray:
    if scale == "0..1":
        return pixels / 255.0
    if scale == "0..255":
        return pixels
    if scale == "imagenet":
        if pixels.shape[-1] != 3:
            raise ModelError("--input-scale imagenet needs a 3-channel image input")
        return (pixels / 255.0 - IMAGENET_MEAN) / IMAGENET_STD
    return pixels / 127.5 - 1.0


def image_input(details: Sequence[dict[str, Any]], model_path: Path) -> tuple[dict[str, Any], str]:
    """The first image input and its layout: channels last ([1,H,W,C]) or, for models whose
    format or shape says so (PyTorch and ONNX), channels first ([1,C,H,W]); C is 1 or 3."""
    for d in details:
        shape = [int(x) for x in d["shape"]]
        rank_ok = (len(shape) == 4 and shape[0] == 1) or len(shape) == 3
        if not rank_ok:
            continue
        last_ok = shape[-1] in (1, 3) and min(shape[-3:-1]) > 1
        first_ok = shape[-3] in (1, 3) and min(shape[-2:]) > 1
        prefer = d.get("layout", "NHWC")
        if prefer == "NCHW" and first_ok:
            return d, "NCHW"
        if last_ok:
            return d, "NHWC"
        if first_ok:
            return d, "NCHW"
    shapes = ", ".join(f"{d['name']} {list(map(int, d['shape']))}" for d in details)
    raise ModelError(
        f"{model_path.name} has no image input ([1,H,W,3], [1,3,H,W] or 1-channel) for"
        f" --inputs: {shapes}"
    )


def image_files(inputs_dir: Path) -> list[Path]:
    if not inputs_dir.is_dir():
        raise SplitbenchError(f"inputs directory {inputs_dir} does not exist or is not a directory")
    try:
        files = sorted(p for p in inputs_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    except OSError as exc:
        raise SplitbenchError(f"cannot read inputs directory {inputs_dir}: {exc}") from None
    if not files:
        raise SplitbenchError(f"inputs directory {inputs_dir} holds no .png or .jpg images")
    return files
