"""``fidelity`` (any model without a task scenario): how far its outputs move from the anchor's.

Works for any model, so that every model can be compressed: each image input ([1,H,W,3] or
[1,H,W,1], float) gets scikit-image's sample photos resized to it and scaled as the model expects
(``--input-scale``, the sweep's scales; by default the model's own: see
:func:`splitbench.measure.inputs.default_input_scale`); other inputs get seeded random values. The
metric is the relative L2 error of all float outputs together, ``||rec - anc|| / ||anc||`` over
every photo (0 for the anchor; lower is better). A model without an image input is fed seeded
random values only, and ``data_set_name`` says so.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from splitbench.compress.params import ModelIO
from splitbench.compress.scenarios.base import check_partition, photo_array, sample_photos

_SEED = 20240507


def _channels_first(spec: dict) -> bool:
    """NCHW: said by the format, or a [1,C,H,W] shape with C = 1 or 3 and no such last axis
    (PyTorch models converted to TFLite keep their NCHW inputs)."""
    shape = tuple(spec["shape"])
    if len(shape) != 4:
        return False
    return spec.get("layout") == "NCHW" or (shape[1] in (1, 3) and shape[-1] not in (1, 3))


def _nhwc(spec: dict) -> tuple[int, ...]:
    """The input's shape in NHWC order."""
    shape = tuple(spec["shape"])
    return (shape[0], shape[2], shape[3], shape[1]) if _channels_first(spec) else shape


def _is_image(spec: dict) -> bool:
    shape = _nhwc(spec)
    return (
        len(shape) == 4
        and shape[0] == 1
        and shape[-1] in (1, 3)
        and min(shape[1:3]) > 1
        and np.dtype(spec["dtype"]).kind == "f"
    )


def image_value(
    photo: Path | np.ndarray, spec: dict, value_range: tuple[float, float]
) -> np.ndarray:
    values = photo_array(photo, _nhwc(spec), value_range)
    if _channels_first(spec):
        values = np.ascontiguousarray(values.transpose(0, 3, 1, 2))
    return values


# The float range of each --input-scale; imagenet is 0..1, then ImageNet's mean and std.
_RANGES = {"-1..1": (-1.0, 1.0), "0..1": (0.0, 1.0), "0..255": (0.0, 255.0), "imagenet": (0.0, 1.0)}


def scaled_image(photo: Path | np.ndarray, spec: dict, scale: str) -> np.ndarray:
    from splitbench.measure.inputs import IMAGENET_MEAN, IMAGENET_STD

    values = photo_array(photo, _nhwc(spec), _RANGES[scale])
    if scale == "imagenet" and values.shape[-1] == 3:
        values = ((values - IMAGENET_MEAN) / IMAGENET_STD).astype(np.float32)
    if _channels_first(spec):
        values = np.ascontiguousarray(values.transpose(0, 3, 1, 2))
    return values


def photo_feeds(
    model: Path, io: ModelIO, partition: str, scale: str = "-1..1"
) -> tuple[list[dict], bool]:
    """One input set per sample photo (image inputs), seeded random values elsewhere.

    Returns the sets and whether any input took photos."""
    from splitbench.measure.inputs import random_value

    specs = io.input_specs(model)
    photos = sample_photos(partition)
    has_image = any(_is_image(s) for s in specs)
    rng = np.random.default_rng(_SEED)
    feeds = []
    for photo in photos if has_image else photos[:3]:
        feed = {}
        for s in specs:
            if _is_image(s):
                feed[s["name"]] = scaled_image(photo, s, scale)
            else:
                feed[s["name"]] = random_value(s["shape"], s["dtype"], rng)
        feeds.append(feed)
    return feeds, has_image


def relative_l2(outputs: list[dict], reference: list[dict]) -> float:
    num = 0.0
    den = 0.0
    for out, ref in zip(outputs, reference, strict=True):
        for name, r in ref.items():
            if np.dtype(r.dtype).kind != "f":
                continue
            d = np.asarray(out[name], np.float64) - np.asarray(r, np.float64)
            num += float(np.sum(d * d))
            den += float(np.sum(np.asarray(r, np.float64) ** 2))
    return float(np.sqrt(num / den)) if den > 0 else float(np.sqrt(num))


class FidelityScenario:
    name = "fidelity"
    metric_name = "output_rel_l2"
    higher_is_better = False

    def __init__(self, anchor: Path, io: ModelIO, scale: str = "-1..1") -> None:
        self.anchor = Path(anchor)
        self.io = io
        self.scale = scale
        self._reference: dict[str, list[dict]] = {}
        _, has_image = photo_feeds(self.anchor, io, "test", scale)
        self.data_set_name = (
            f"skimage-sample-photos, input scale {scale}" if has_image else f"random-seed{_SEED}"
        )

    def get_model(self) -> Path:
        return self.anchor

    def get_perf(self, model: Path, partition: str = "test") -> tuple[float, float]:
        check_partition(partition)
        start = time.perf_counter()
        feeds, _ = photo_feeds(model, self.io, partition, self.scale)
        outputs = self.io.run(model, feeds)
        if partition not in self._reference:
            same = Path(model).resolve() == self.anchor.resolve()
            self._reference[partition] = outputs if same else self.io.run(self.anchor, feeds)
        perf = relative_l2(outputs, self._reference[partition])
        return perf, time.perf_counter() - start
