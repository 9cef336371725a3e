"""The one interface every target implements; nothing above it knows which target it talks to."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from splitbench.measure.types import PartMeasurement, RunSettings


@dataclass(frozen=True)
class TargetInfo:
    """What is recorded with every sample: which machine, which runtime."""

    name: str  # "host", "adb:SERIAL", "adb:HOST:PORT/SERIAL"
    kind: str  # "host", "adb"
    cpu_model: str
    cores: int
    runtime: str  # e.g. "ai-edge-litert 2.3.0"
    extra: dict[str, str] = field(default_factory=dict)  # ABI, Android version, governor, ...


class Target(Protocol):
    def describe(self) -> TargetInfo: ...

    def measure(self, part: Path, settings: RunSettings) -> PartMeasurement:
        """Measure one model file directly. Failures of the part come back as
        ``PartMeasurement.error``; failures of the target itself raise ``DeviceError``."""
        ...

    def close(self) -> None: ...


def file_label(target_name: str) -> str:
    """A target name as a portable file-name part: every character other than letters, digits,
    ``.``, ``_`` and ``-`` (so ``:`` and ``/``) becomes ``_``:
    ``adb:10.0.0.2:5037/R58M`` → ``adb_10.0.0.2_5037_R58M``."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", target_name)
