"""The Scenario interface of the seeds' evaluation framework (clause 2.1.2.4).

A scenario owns an anchor model and a data set and says how good a model is on it:
``get_model()`` returns the anchor model file, ``get_perf(model, partition)`` returns
``(perf, eval_time)`` — the metric on the partition (``"test"`` for the reported figure,
``"valid"`` for data-driven encoder decisions) and the seconds that inference plus metric took.
``metric_name`` and ``higher_is_better`` say how to read ``perf``.

Data comes only from files that ship inside installed packages (scikit-image's sample photos
and LFW subset): nothing is downloaded at run time, and no metric is computed on random inputs
except where a model has no image input at all (then the data set name says so).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from splitbench.errors import SplitbenchError

PARTITIONS = ("test", "valid")
# scikit-image's colour sample photos; the astronaut is a person (the pose scenario's subject).
SAMPLE_PHOTOS = (
    "astronaut.png",
    "chelsea.png",
    "coffee.png",
    "motorcycle_left.png",
    "rocket.jpg",
    "hubble_deep_field.jpg",
)


@runtime_checkable
class Scenario(Protocol):
    name: str
    metric_name: str
    higher_is_better: bool
    data_set_name: str

    def get_model(self) -> Path: ...

    def get_perf(self, model: Path, partition: str = "test") -> tuple[float, float]: ...


def check_partition(partition: str) -> None:
    if partition not in PARTITIONS:
        raise SplitbenchError(f"unknown partition '{partition}' (test or valid)")


def skimage_data_dir() -> Path:
    try:
        import skimage
    except ImportError:
        raise SplitbenchError(
            "scikit-image is not installed (its sample photos are the scenarios' data): "
            "pip install scikit-image"
        ) from None
    return Path(os.path.dirname(skimage.__file__)) / "data"


def sample_photos(partition: str) -> list[Path]:
    """test: all sample photos; valid: every other one (a smaller set for encoder decisions)."""
    check_partition(partition)
    photos = [skimage_data_dir() / name for name in SAMPLE_PHOTOS]
    return photos if partition == "test" else photos[::2]


def photo_array(
    path_or_pixels: Path | np.ndarray, shape: Sequence[int], value_range: tuple[float, float]
) -> np.ndarray:
    """A photo resized (bilinear, no crop) to an NHWC float32 input, scaled to ``value_range``."""
    from PIL import Image

    n_hwc = [int(d) for d in shape]
    height, width, channels = n_hwc[-3:]
    if isinstance(path_or_pixels, np.ndarray):
        img = Image.fromarray(path_or_pixels)
    else:
        img = Image.open(path_or_pixels)
    img = img.convert("RGB" if channels == 3 else "L").resize(
        (width, height), Image.Resampling.BILINEAR
    )
    pixels = np.asarray(img, dtype=np.float32).reshape(height, width, channels) / 255.0
    low, high = value_range
    values = (low + pixels * (high - low)).astype(np.float32)
    return values[np.newaxis] if len(n_hwc) == 4 else values
