"""``lfw-faces``: face / non-face accuracy of a face detector on scikit-image's LFW subset.

``skimage/data/lfw_subset.npy`` holds 200 grey 25×25 crops: the first 100 are faces (from
Labeled Faces in the Wild), the last 100 are not. Each crop is resized to the detector's input
(bilinear), made RGB and scaled to [-1, 1] as mediapipe's face detection graph does; a crop
counts as a face when the highest anchor score (sigmoid of the ``classificators`` output) is
above 0.5, mediapipe's default ``min_detection_confidence``. The metric is the fraction of crops
classified correctly (higher is better); ``mediapipe:face_detection_short_range`` scores 0.99
here. ``valid`` is every other crop (50 faces, 50 non-faces).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from splitbench.compress.runner import input_specs, run_model
from splitbench.compress.scenarios.base import check_partition, photo_array, skimage_data_dir
from splitbench.errors import ModelError

THRESHOLD = 0.5


def lfw_subset(partition: str) -> tuple[np.ndarray, np.ndarray]:
    """(crops as uint8 [N,25,25], labels 1 = face)."""
    check_partition(partition)
    crops = np.load(skimage_data_dir() / "lfw_subset.npy")
    labels = np.r_[np.ones(100, np.int64), np.zeros(100, np.int64)]
    pixels = np.clip(np.rint(crops * 255.0), 0, 255).astype(np.uint8)
    if partition == "valid":
        return pixels[::2], labels[::2]
    return pixels, labels


class LfwFacesScenario:
    name = "lfw-faces"
    metric_name = "face_accuracy"
    higher_is_better = True
    data_set_name = "skimage-lfw_subset"

    def __init__(self, anchor: Path) -> None:
        self.anchor = Path(anchor)
        specs = input_specs(self.anchor)
        if len(specs) != 1 or len(specs[0]["shape"]) != 4 or specs[0]["shape"][-1] != 3:
            raise ModelError("lfw-faces needs a face detector with one [1,H,W,3] image input")
        self._input = specs[0]
        outputs = run_model(self.anchor, [self._feed(lfw_subset("valid")[0][0])])[0]
        if not any(name.endswith("classificators") for name in outputs):
            raise ModelError(
                "lfw-faces needs a mediapipe face detector (a 'classificators' output), e.g. "
                "mediapipe:face_detection_short_range"
            )

    def _feed(self, crop: np.ndarray) -> dict[str, np.ndarray]:
        return {self._input["name"]: photo_array(crop, self._input["shape"], (-1.0, 1.0))}

    def get_model(self) -> Path:
        return self.anchor

    def get_perf(self, model: Path, partition: str = "test") -> tuple[float, float]:
        start = time.perf_counter()
        crops, labels = lfw_subset(partition)
        outputs = run_model(model, [self._feed(c) for c in crops])
        scores = np.array(
            [
                1.0 / (1.0 + np.exp(-float(np.max(v))))
                for o in outputs
                for k, v in o.items()
                if k.endswith("classificators")
            ]
        )
        perf = float(np.mean((scores > THRESHOLD).astype(np.int64) == labels))
        return perf, time.perf_counter() - start
