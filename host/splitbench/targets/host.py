"""The host target: parts measured on this machine with the built-in LiteRT runner.

Parts are measured **in this process** by default. A fresh process per part would give every
part a clean allocator and a clean RSS baseline, but it costs a Python start plus the
``ai_edge_litert`` import for every part (measured here: ~0.3 s per part on this 2-core host,
against ~1.5 s of measured inference per part at the default settings), which alone would spend
most of the sweep's overhead budget (sweep wall time ≤ 1.3 × the measured inference time). In
process, the runner keeps memory figures honest another way: it collects garbage and returns
freed heap to the OS (``malloc_trim``) before each part's baseline, and uses the kernel's RSS
high-water mark when this part raised it (see :mod:`splitbench.measure.loop`).

``HostTarget(isolate=True)`` still runs each part in a fresh interpreter process, for when a
clean process matters more than time: first-run memory figures, or parts that might crash the
runtime (a crash then becomes that part's ``error`` instead of ending the sweep).
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from dataclasses import asdict
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from splitbench import __version__
from splitbench.errors import DeviceError
from splitbench.formats import format_of_file
from splitbench.formats.tflite.litert import METHOD, measure_file, runtime_version
from splitbench.measure.types import PartMeasurement, RunSettings, StatsSummary
from splitbench.targets.base import TargetInfo, evidence_dir

if TYPE_CHECKING:
    from splitbench.formats.base import Format

_CPUFREQ = Path("/sys/devices/system/cpu/cpu0/cpufreq")

# Runs in the child of an isolated measurement: one part, the record as JSON on stdout.
_CHILD = """
import json, sys
from dataclasses import asdict
from pathlib import Path
from splitbench.formats.tflite.litert import measure_file
from splitbench.measure.types import RunSettings
args = json.loads(sys.argv[1])
m = measure_file(Path(args["part"]), RunSettings(**args["settings"]),
                 use_xnnpack=args["use_xnnpack"])
sys.stdout.write(json.dumps(asdict(m)))
"""


class HostTarget:
    """This machine, behind the one :class:`~splitbench.targets.base.Target` interface."""

    kind = "host"
    bytes_pushed: int | None = None  # the host runs parts where they are written

    def __init__(
        self,
        name: str = "host",
        *,
        isolate: bool = False,
        use_xnnpack: bool = True,
        run_dir: Path | None = None,
    ):
        self.name = name
        self.run_dir = run_dir  # where per-operator profiles are kept as evidence
        self.isolate = isolate
        self.use_xnnpack = use_xnnpack

    def describe(self) -> TargetInfo:
        return self._info

    @cached_property
    def _info(self) -> TargetInfo:
        extra = {
            "kernel": platform.release(),
            "os": platform.system(),
            "machine": platform.machine(),
            "python": platform.python_version(),
            "splitbench": __version__,
            "measured_in": "subprocess per part" if self.isolate else "in-process",
            "xnnpack": "on" if self.use_xnnpack else "off",
        }
        if hasattr(os, "sched_getaffinity"):
            extra["cores_available"] = str(len(os.sched_getaffinity(0)))
        governor = _read(_CPUFREQ / "scaling_governor")
        if governor:
            extra["governor"] = governor
        max_khz = _read(_CPUFREQ / "cpuinfo_max_freq")
        if max_khz and max_khz.isdigit():
            extra["cpu_max_mhz"] = str(int(max_khz) // 1000)
        try:
            import psutil

            extra["memory_total_mb"] = str(psutil.virtual_memory().total >> 20)
        except (ImportError, OSError):
            pass
        return TargetInfo(
            name=self.name,
            kind=self.kind,
            cpu_model=cpu_model(),
            cores=os.cpu_count() or 1,
            runtime=runtime_version(),
            extra=extra,
        )

    @property
    def warnings(self) -> list[str]:
        return []

    def runs_on_this_host(self) -> bool:
        return True

    def abort(self) -> None:
        """Measurements on the host run in this process: nothing in flight to end."""

    def cannot_run(self, fmt: Format) -> str | None:
        """Every format has a runtime on the host."""
        return None

    def measure(
        self, part: Path, settings: RunSettings, *, profile: bool = False
    ) -> PartMeasurement:
        """Measure one file; ``profile`` also keeps a per-operator profile as evidence where the
        part's runtime has one (ONNX Runtime), for the predicted columns."""
        before = machine_state()
        fmt = format_of_file(Path(part))
        if fmt.name != "tflite":  # the part's own format's host runtime (ONNX Runtime, ...)
            profile_dir = None
            if profile and self.run_dir is not None:
                profile_dir = evidence_dir(Path(self.run_dir).absolute(), self.name)
            m = fmt.measure_on_host(Path(part), settings, profile_dir=profile_dir)
        elif self.isolate:
            m = self._measure_in_child(Path(part), settings)
        else:
            m = measure_file(Path(part), settings, use_xnnpack=self.use_xnnpack)
        m.meta.update({f"{k}_before": v for k, v in before.items()})
        m.meta.update({f"{k}_after": v for k, v in machine_state().items()})
        return m

    def _measure_in_child(self, part: Path, settings: RunSettings) -> PartMeasurement:
        args = {"part": str(part), "settings": asdict(settings), "use_xnnpack": self.use_xnnpack}
        try:
            done = subprocess.run(
                [sys.executable, "-c", _CHILD, json.dumps(args)],
                capture_output=True,
                text=True,
                timeout=settings.max_secs * 2 + 120,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise DeviceError(f"host runner process for {part.name} failed: {exc}") from None
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or ["no output"])[-1]
            how = f"signal {-done.returncode}" if done.returncode < 0 else f"exit {done.returncode}"
            return PartMeasurement(
                method=METHOD,
                runtime=runtime_version(),
                settings=settings,
                error=f"runner process ended with {how}: {last}",
            )
        return _measurement_from_json(done.stdout, settings)

    def close(self) -> None:
        """Nothing to release: every part's interpreter is freed when its measurement ends."""


def _measurement_from_json(text: str, settings: RunSettings) -> PartMeasurement:
    data = json.loads(text)
    data["settings"] = settings
    summary = data.get("steady_summary")
    data["steady_summary"] = StatsSummary(**summary) if summary else None
    return PartMeasurement(**data)


def machine_state() -> dict[str, str]:
    """What can disturb a host measurement, read around each part: the load average (other
    processes on a shared machine) and the current CPU frequency where the kernel exposes it."""
    state: dict[str, str] = {}
    if hasattr(os, "getloadavg"):
        state["loadavg_1m"] = f"{os.getloadavg()[0]:.2f}"
    mhz = _read(_CPUFREQ / "scaling_cur_freq")
    if mhz and mhz.isdigit():
        state["cpu0_mhz"] = str(int(mhz) // 1000)
    return state


def cpu_model() -> str:
    """The CPU's marketing name from /proc/cpuinfo (x86 ``model name``, Arm ``Hardware``),
    else what :mod:`platform` knows."""
    text = _read(Path("/proc/cpuinfo")) or ""
    for key in ("model name", "Hardware", "Processor", "cpu model"):
        for line in text.splitlines():
            name, _, value = line.partition(":")
            if name.strip() == key and value.strip():
                return value.strip()
    return platform.processor() or platform.machine() or "unknown"


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None
