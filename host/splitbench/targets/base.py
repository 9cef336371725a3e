"""The one interface every target implements; nothing above it knows which target it talks to."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from splitbench.measure.types import PartMeasurement, RunSettings

if TYPE_CHECKING:
    from splitbench.formats.base import Format


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
    """A machine that runs parts. What differs between targets is asked of them here (never
    decided above by their names or types)."""

    name: str  # "host", "adb:SERIAL", ... (the name the results carry)
    kind: str  # "host" or "adb": ``TargetInfo.kind``
    # What the target reports after a run: bytes it uploaded (None: it uploads nothing) and
    # what looked wrong on it (charging, screen on, hot).
    bytes_pushed: int | None
    warnings: list[str]

    def describe(self) -> TargetInfo: ...

    def cannot_run(self, fmt: Format) -> str | None:
        """Why this target cannot run parts of ``fmt`` (one line), or None when it can."""
        ...

    def measure(
        self, part: Path, settings: RunSettings, *, profile: bool = False
    ) -> PartMeasurement:
        """Measure one model file directly. ``profile``: also keep a per-operator profile among
        the evidence where the target's runtime makes one on request (a phone's runner
        profiles whenever it can). Failures of the part come back as
        ``PartMeasurement.error``; failures of the target itself raise ``DeviceError``."""
        ...

    def runs_on_this_host(self) -> bool:
        """Whether this target's timed runs use this machine's CPU (the host; the emulated
        phone, whose commands run here): they are kept apart from the kit's background work."""
        ...

    def abort(self) -> None:
        """The run was interrupted: end requests in flight at once (a phone's adb requests);
        a target that holds none does nothing."""
        ...

    def close(self) -> None: ...


def file_label(target_name: str) -> str:
    """A target name as a portable file-name part: every character other than letters, digits,
    ``.``, ``_`` and ``-`` (so ``:`` and ``/``) becomes ``_``:
    ``adb:10.0.0.2:5037/R58M`` → ``adb_10.0.0.2_5037_R58M``."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", target_name)


def evidence_dir(run_dir: Path, target_name: str) -> Path:
    """A new folder for one measurement's evidence (profiles, runner output):
    ``RUN/evidence/<target>/<n>``, numbered in order. One per measurement, so a later bout never
    overwrites what an earlier bout's database row points at (each bout's profile is kept:
    predictions are taken over bouts)."""
    base = Path(run_dir) / "evidence" / file_label(target_name)
    base.mkdir(parents=True, exist_ok=True)
    number = sum(1 for _ in base.iterdir())
    while True:
        path = base / f"{number:05d}"
        try:
            path.mkdir()
        except FileExistsError:  # taken meanwhile (another lane, another process): the next one
            number += 1
            continue
        return path


def target_kind(target_name: str) -> str:
    """``host`` or ``adb``: the kind a target name stands for (its scheme, ``adb:SERIAL``)."""
    return target_name.split(":", 1)[0]


def is_this_host(kind: str) -> bool:
    """Whether a target of this kind runs on the machine that runs the kit."""
    return kind == "host"


EMULATED_PHONE = "emulated phone (this host's CPU)"


def kind_label(target: TargetInfo | str) -> str:
    """What a target is, in the words every output uses (CLI summary, report, workbook, the
    ``client_kind`` column): ``this host``, ``phone``, or ``emulated phone (this host's CPU)``
    for the kit's emulated phone, whose numbers are this host's CPU's. From a bare name the
    emulation cannot be known: pass the recorded :class:`TargetInfo` where there is one."""
    kind = target_kind(target) if isinstance(target, str) else target.kind
    if is_this_host(kind):
        return "this host"
    if not isinstance(target, str) and target.extra.get("emulated") == "True":
        return EMULATED_PHONE
    return "phone" if kind == "adb" else kind


def runs_on_this_host(target: TargetInfo | str) -> bool:
    """Whether a target's numbers are this host's CPU's: the host, and the emulated phone."""
    return kind_label(target) in ("this host", EMULATED_PHONE)


def lane_key(target_name: str) -> str:
    """Targets on the same physical machine share a lane: 'host' and 'host:*' are one lane."""
    return "host" if is_this_host(target_kind(target_name)) else target_name
