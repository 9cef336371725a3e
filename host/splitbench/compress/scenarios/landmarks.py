"""``pose-landmarks``: mean landmark displacement in pixels against the uncompressed model.

For mediapipe's landmark models (``pose_landmark_full``/``_lite``/``_heavy``: 33 body landmarks;
``hand_landmark_full``/``_lite``: 21 hand landmarks), run on scikit-image's sample photos (the
astronaut is a person) resized to the model input and scaled to [0, 1] as mediapipe's
landmark graphs do. A landmark's x, y are in input pixels; the metric is the mean Euclidean
distance between the reconstructed model's landmarks and the anchor's, over all landmarks and
photos (0 for the anchor; lower is better). It measures fidelity, not accuracy: no ground truth
ships with the photos.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from splitbench.compress.params import ModelIO
from splitbench.compress.scenarios.base import check_partition
from splitbench.compress.scenarios.fidelity import photo_feeds
from splitbench.errors import ModelError

# output length -> (landmarks used, values per landmark)
_LAYOUTS = {195: (33, 5), 63: (21, 3)}


def landmark_layout(outputs: dict[str, np.ndarray]) -> tuple[str, int, int]:
    for name, value in outputs.items():
        layout = _LAYOUTS.get(int(np.asarray(value).size))
        if layout and name.endswith("Identity"):
            return name, *layout
    for name, value in outputs.items():
        layout = _LAYOUTS.get(int(np.asarray(value).size))
        if layout:
            return name, *layout
    raise ModelError(
        "pose-landmarks needs a mediapipe landmark model (pose_landmark_full, "
        "hand_landmark_full, ...): this model has no [1,195] or [1,63] landmark output"
    )


def landmarks(outputs: dict[str, np.ndarray], layout: tuple[str, int, int]) -> np.ndarray:
    name, count, width = layout
    return np.asarray(outputs[name], np.float64).reshape(-1, width)[:count, :2]


class PoseLandmarksScenario:
    name = "pose-landmarks"
    metric_name = "landmark_displacement_px"
    higher_is_better = False
    data_set_name = "skimage-sample-photos"

    def __init__(self, anchor: Path, io: ModelIO) -> None:
        self.anchor = Path(anchor)
        self.io = io
        feeds, _ = photo_feeds(self.anchor, io, "valid", "0..1")
        self.layout = landmark_layout(io.run(self.anchor, feeds[:1])[0])
        self._reference: dict[str, list[np.ndarray]] = {}

    def get_model(self) -> Path:
        return self.anchor

    def _landmarks(self, model: Path, partition: str) -> list[np.ndarray]:
        feeds, _ = photo_feeds(model, self.io, partition, "0..1")
        return [landmarks(o, self.layout) for o in self.io.run(model, feeds)]

    def get_perf(self, model: Path, partition: str = "test") -> tuple[float, float]:
        check_partition(partition)
        start = time.perf_counter()
        points = self._landmarks(model, partition)
        if partition not in self._reference:
            same = Path(model).resolve() == self.anchor.resolve()
            self._reference[partition] = points if same else self._landmarks(self.anchor, partition)
        dist = [
            np.linalg.norm(p - r, axis=1)
            for p, r in zip(points, self._reference[partition], strict=True)
        ]
        perf = float(np.mean(np.concatenate(dist)))
        return perf, time.perf_counter() - start
