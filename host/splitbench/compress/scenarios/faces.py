"""``lfw-faces``: face / non-face accuracy of a face classifier on scikit-image's LFW subset.

``skimage/data/lfw_subset.npy`` holds 200 grey 25×25 crops: the first 100 are faces (from
Labeled Faces in the Wild), the last 100 are not. Each crop is resized to the model's input
(bilinear) and made RGB. Two kinds of model classify a crop as face or not, each read as its
own pipeline reads it:

* mediapipe's face detectors (a ``classificators`` output, NHWC input): pixels scaled to
  [-1, 1] as mediapipe's face detection graph does; a face when the highest anchor score
  (sigmoid of ``classificators``) is above 0.5, mediapipe's default
  ``min_detection_confidence``. ``mediapipe:face_detection_short_range`` scores 0.99 here.
* MTCNN's R-Net and O-Net (``facenet:rnet``, ``facenet:onet``: the stages that classify a
  candidate crop; NCHW input, a softmax [1, 2] output whose second value is the face
  probability): pixels as ``(x - 127.5) / 128``, as facenet-pytorch's MTCNN feeds them; a face
  when the probability is above 0.7, MTCNN's threshold for these stages. Both score 1.0 here.
  P-Net is not a crop classifier (it outputs a map of face probabilities over a whole image)
  and is refused.

The metric is the fraction of crops classified correctly (higher is better). ``valid`` is every
other crop (50 faces, 50 non-faces).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from splitbench.compress.params import ModelIO
from splitbench.compress.scenarios.base import check_partition, skimage_data_dir
from splitbench.compress.scenarios.fidelity import image_value
from splitbench.errors import ModelError


def lfw_subset(partition: str) -> tuple[np.ndarray, np.ndarray]:
    """(crops as uint8 [N,25,25], labels 1 = face)."""
    check_partition(partition)
    crops = np.load(skimage_data_dir() / "lfw_subset.npy")
    labels = np.r_[np.ones(100, np.int64), np.zeros(100, np.int64)]
    pixels = np.clip(np.rint(crops * 255.0), 0, 255).astype(np.uint8)
    if partition == "valid":
        return pixels[::2], labels[::2]
    return pixels, labels


@dataclass(frozen=True)
class FaceReader:
    """How one kind of model takes a crop and says "face"."""

    kind: str
    value_range: tuple[float, float]
    threshold: float
    score: Callable[[dict[str, np.ndarray]], float]


def _mediapipe_score(outputs: dict[str, np.ndarray]) -> float:
    value = next(v for k, v in outputs.items() if k.endswith("classificators"))
    return 1.0 / (1.0 + np.exp(-float(np.max(value))))


def _is_probability_pair(value: np.ndarray) -> bool:
    v = np.asarray(value)
    return v.shape == (1, 2) and bool(np.all(v >= 0)) and abs(float(v.sum()) - 1.0) < 1e-3


def _mtcnn_score(outputs: dict[str, np.ndarray]) -> float:
    pairs = [v for v in outputs.values() if np.asarray(v).shape == (1, 2)]
    return float(np.asarray(pairs[-1])[0, 1])


MEDIAPIPE = FaceReader("mediapipe face detector", (-1.0, 1.0), 0.5, _mediapipe_score)
MTCNN = FaceReader("MTCNN R-Net/O-Net", (-127.5 / 128, 127.5 / 128), 0.7, _mtcnn_score)
REFUSAL = (
    "lfw-faces needs a face classifier: a mediapipe face detector (a 'classificators' output, "
    "e.g. mediapipe:face_detection_short_range) or MTCNN's facenet:onet / facenet:rnet"
    " (a [1,2] face probability); use --scenario fidelity for this model"
)


def face_reader(outputs: dict[str, np.ndarray]) -> FaceReader:
    """The reader that fits a model's outputs on one crop (one line if none does)."""
    if any(name.endswith("classificators") for name in outputs):
        return MEDIAPIPE
    if any(_is_probability_pair(v) for v in outputs.values()):
        return MTCNN
    raise ModelError(REFUSAL)


class LfwFacesScenario:
    name = "lfw-faces"
    metric_name = "face_accuracy"
    higher_is_better = True
    data_set_name = "skimage-lfw_subset"

    def __init__(self, anchor: Path, io: ModelIO) -> None:
        self.anchor = Path(anchor)
        self.io = io
        specs = io.input_specs(self.anchor)
        shape = tuple(specs[0]["shape"]) if len(specs) == 1 else ()
        if len(shape) != 4 or 3 not in (shape[1], shape[-1]):
            raise ModelError(REFUSAL)
        self._input = specs[0]
        self.reader = MEDIAPIPE
        crop = lfw_subset("valid")[0][0]
        self.reader = face_reader(io.run(self.anchor, [self._feed(crop)])[0])

    def _feed(self, crop: np.ndarray) -> dict[str, np.ndarray]:
        value = image_value(crop, self._input, self.reader.value_range)
        return {self._input["name"]: value}

    def get_model(self) -> Path:
        return self.anchor

    def get_perf(self, model: Path, partition: str = "test") -> tuple[float, float]:
        start = time.perf_counter()
        crops, labels = lfw_subset(partition)
        outputs = self.io.run(model, [self._feed(c) for c in crops])
        scores = np.array([self.reader.score(o) for o in outputs])
        perf = float(np.mean((scores > self.reader.threshold).astype(np.int64) == labels))
        return perf, time.perf_counter() - start
