"""Built-in scenarios, by name."""

from __future__ import annotations

from pathlib import Path

from splitbench.compress.params import ModelIO
from splitbench.compress.scenarios.base import Scenario
from splitbench.errors import SplitbenchError

SCENARIOS = ("fidelity", "pose-landmarks", "lfw-faces")


def make_scenario(name: str, anchor: Path, io: ModelIO) -> Scenario:
    """The scenario ``name`` around the anchor model file ``anchor`` of format ``io``."""
    if name == "fidelity":
        from splitbench.compress.scenarios.fidelity import FidelityScenario

        return FidelityScenario(anchor, io)
    if name == "pose-landmarks":
        from splitbench.compress.scenarios.landmarks import PoseLandmarksScenario

        return PoseLandmarksScenario(anchor, io)
    if name == "lfw-faces":
        from splitbench.compress.scenarios.faces import LfwFacesScenario

        return LfwFacesScenario(anchor, io)
    raise SplitbenchError(f"unknown scenario '{name}' (one of: {', '.join(SCENARIOS)})")
