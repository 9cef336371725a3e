"""Built-in scenarios, by name."""

from __future__ import annotations

from pathlib import Path

from splitbench.compress.params import ModelIO
from splitbench.compress.scenarios.base import Scenario
from splitbench.errors import SplitbenchError

SCENARIOS = ("auto", "fidelity", "pose-landmarks", "lfw-faces")

# The task scenario of each model that has one: its own pipeline's pre-processing and metric.
_TASKS = (
    ("mediapipe:pose_landmark", "pose-landmarks"),
    ("mediapipe:hand_landmark", "pose-landmarks"),
    ("mediapipe:face_detection", "lfw-faces"),
    ("facenet:onet", "lfw-faces"),
    ("facenet:rnet", "lfw-faces"),
)


def default_scenario(model: str) -> str:
    """``auto``: the model's task scenario when it has one, else ``fidelity``."""
    return next((task for prefix, task in _TASKS if model.startswith(prefix)), "fidelity")


def make_scenario(name: str, anchor: Path, io: ModelIO, *, scale: str = "-1..1") -> Scenario:
    """The scenario ``name`` around the anchor model file ``anchor`` of format ``io``;
    ``scale`` is how ``fidelity`` scales its photos (the task scenarios scale as their
    pipelines do)."""
    if name == "fidelity":
        from splitbench.compress.scenarios.fidelity import FidelityScenario

        return FidelityScenario(anchor, io, scale)
    if name == "pose-landmarks":
        from splitbench.compress.scenarios.landmarks import PoseLandmarksScenario

        return PoseLandmarksScenario(anchor, io)
    if name == "lfw-faces":
        from splitbench.compress.scenarios.faces import LfwFacesScenario

        return LfwFacesScenario(anchor, io)
    raise SplitbenchError(f"unknown scenario '{name}' (one of: {', '.join(SCENARIOS)})")
