"""The one measurement loop: every runtime's parts are timed here, the same way.

It follows TensorFlow Lite's ``benchmark_model`` step by step, so a row means the same thing
whatever produced it (the built-in LiteRT runner, ONNX Runtime, the ExecuTorch runtime):

* **init** = the runtime's load of the part (:meth:`Runtime.load`: maps and verifies the file,
  resolves operators, allocates, applies delegates);
* inputs are set once, after init and outside every timed region;
* **warm-up** = at least ``warmup_runs`` runs and at least ``warmup_min_secs`` seconds; its first
  run is the **first inference** (``benchmark_model``'s ``First inference``), always run, even
  with ``warmup_runs=0``, because it is a KPI of its own;
* **steady state** = at least ``num_runs`` runs and at least ``min_secs`` seconds, and no run is
  started after ``max_secs`` (the loop condition of ``BenchmarkModel::Run``);
* each sample is ``time.perf_counter_ns()`` around one :meth:`LoadedPart.run_once` alone. Raw
  samples are kept (pyperf's rule).

Memory, like ``benchmark_model``'s "Memory footprint delta from the start of the tool", is the
RSS growth from just before the part is loaded: after init and after the last run. Before the
baseline is taken, young garbage is collected and glibc is asked to return freed heap to the
system (``malloc_trim``), so memory freed by an earlier part in the same process is not silently
reused by this one. The peak is sampled between runs (at most every 50 ms, like the binary's
monitor) and completed with the kernel's high-water mark (``ru_maxrss``) whenever that mark rose
during this part, so a peak reached inside a run is not missed.

The first time a process measures with a runtime and settings (:meth:`Runtime.warm_key`), one
part is loaded and run once, untimed: the runtime's one-time state (thread pools, delegate
caches, allocator arenas) is then not charged to the first part of a sweep.

A part the runtime cannot load or run comes back as a :class:`PartRun` whose measurement has
``error`` set (:attr:`PartFailure.reason <splitbench.measure.types.PartFailure.reason>`) and no
numbers; this module never raises for it. Inputs that do not fit the part raise ``ValueError``
(the caller's mistake, not the part's).

A runtime supplies only what differs (:class:`Runtime`): its name and version, what it imports
or configures before the baseline, and "load this part" / "set its inputs" / "run it once".
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import resource
import time
from array import array
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import psutil

from splitbench.measure.types import PartFailure, PartMeasurement, RunSettings

MEMORY_CHECK_INTERVAL_NS = 50_000_000  # benchmark_model's kMemoryCheckIntervalMs
_MB = float(1 << 20)  # benchmark_model prints KB / 1024, i.e. MiB, and calls it MB


class LoadedPart(Protocol):
    """A part as its runtime loaded it: inputs in once, then run many times."""

    def set_inputs(self, inputs: Any | None) -> None:
        """Set the values every run reads; ``None``: seeded random values of the part's own
        shapes and dtypes (:mod:`splitbench.measure.inputs`' ranges). Raises ``ValueError`` for
        inputs that do not fit the part, :class:`PartFailure` when the runtime refuses them."""

    def run_once(self) -> None:
        """One inference; raises :class:`PartFailure` (phase ``invoke``) when it fails."""


class Runtime(Protocol):
    """What one runtime supplies to the loop."""

    method: str  # names what produced the numbers, e.g. ``litert-interpreter``

    def version(self) -> str:
        """E.g. ``onnxruntime 1.23.0 CPUExecutionProvider``: recorded with every sample."""

    def prepare(self, settings: RunSettings) -> None:
        """Imports and process-wide configuration (thread pools) done before the baseline."""

    def warm_key(self, settings: RunSettings) -> Hashable:
        """What makes the runtime's one-time state differ (threads, a delegate switch)."""

    def load(self, path: Path, settings: RunSettings) -> LoadedPart:
        """Load ``path`` (this is what init times); raises :class:`PartFailure`."""


@dataclass(frozen=True)
class MemoryTrace:
    """Absolute RSS figures (MB) behind the deltas stored in :class:`PartMeasurement`.

    ``benchmark_model`` prints the peak as an absolute footprint; the device runner needs the
    baseline to do the same.
    """

    baseline_mb: float  # RSS just before the model was loaded
    peak_mb: float  # highest RSS seen while the part was loaded and run
    samples: int  # RSS readings taken between runs


@dataclass(frozen=True)
class PartRun:
    """A measurement plus the details a benchmark_model-style report needs."""

    measurement: PartMeasurement
    memory: MemoryTrace | None = None
    failed_phase: str | None = None  # "load", "allocate", "invoke"; None when it worked
    detail: str = ""  # the runtime's own message when something failed

    @property
    def ok(self) -> bool:
        return self.failed_phase is None


def measure(
    runtime: Runtime, path: Path, settings: RunSettings, inputs: Any | None = None
) -> PartMeasurement:
    """Measure one part file (head, tail or whole model) on this machine with ``runtime``."""
    return run_part(runtime, path, settings, inputs).measurement


def run_part(
    runtime: Runtime,
    path: Path,
    settings: RunSettings,
    inputs: Any | None = None,
    *,
    warm_runtime: bool = True,
) -> PartRun:
    """:func:`measure` with the memory trace and failure phase kept (for the device runner).

    ``warm_runtime=False``: no untimed first part (a one-part process that mimics the binary).
    """
    if settings.threads < 1:
        raise ValueError("RunSettings.threads must be at least 1")
    path = Path(path)
    runtime.prepare(settings)
    version = runtime.version()
    if warm_runtime:
        _warm(runtime, path, settings)
    monitor = MemoryMonitor()
    m = PartMeasurement(method=runtime.method, runtime=version, settings=settings)
    try:
        start = time.perf_counter_ns()
        part = runtime.load(path, settings)
        m.init_ms = (time.perf_counter_ns() - start) / 1e6
        m.mem_init_mb = monitor.delta_mb()
        part.set_inputs(inputs)
        max_secs = max(0.0, settings.max_secs)  # the first inference runs whatever the limits
        warmup = timed_runs(
            part.run_once,
            max(1, settings.warmup_runs),
            settings.warmup_min_secs,
            max_secs,
            monitor,
        )
        m.first_ms = warmup[0] / 1e6
        m.warmup_ms = [ns / 1e6 for ns in warmup[1:]]
        steady = timed_runs(part.run_once, settings.num_runs, settings.min_secs, max_secs, monitor)
        m.steady_ms = [ns / 1e6 for ns in steady]
        m.mem_overall_mb = monitor.delta_mb()
        trace = monitor.trace()
        m.mem_peak_mb = trace.peak_mb - trace.baseline_mb
    except PartFailure as failure:
        failed = PartMeasurement(
            method=runtime.method, runtime=version, settings=settings, error=failure.reason
        )
        return PartRun(failed, failed_phase=failure.phase, detail=failure.detail)
    return PartRun(m, memory=trace)  # the part and its arena are freed on return


_warmed: set[tuple[str, Hashable]] = set()


def _warm(runtime: Runtime, path: Path, settings: RunSettings) -> None:
    """Load and run ``path`` once, untimed, the first time a process measures with this runtime
    and these settings (see the module's docstring). A part that cannot run leaves the runtime
    cold: the next part warms it."""
    key = (runtime.method, runtime.warm_key(settings))
    if key in _warmed:
        return
    try:
        part = runtime.load(path, settings)
        part.set_inputs(None)
        part.run_once()
    except (PartFailure, ValueError, RuntimeError):
        return
    _warmed.add(key)


def timed_runs(
    run_once: Callable[[], None],
    min_runs: int,
    min_secs: float,
    max_secs: float,
    monitor: MemoryMonitor,
) -> array[int]:
    """Run until both minimums are met, never starting a run after ``max_secs``.

    Returns raw durations in nanoseconds, each around ``run_once()`` alone, kept in a compact
    array: tiny parts run tens of thousands of times and the tool's own bookkeeping must not
    show up as the model's memory.
    """
    samples = array("q")
    now = time.perf_counter_ns()
    min_finish = now + int(min_secs * 1e9)
    max_finish = now + int(max_secs * 1e9)
    while (len(samples) < min_runs or now < min_finish) and now <= max_finish:
        begin = time.perf_counter_ns()
        run_once()
        now = time.perf_counter_ns()
        samples.append(now - begin)
        monitor.maybe_sample(now)
    return samples


class MemoryMonitor:
    """RSS baseline, deltas and a cheap peak, all from one process (see the module's doc)."""

    def __init__(self) -> None:
        gc.collect(1)  # young cycles only: a full collection costs ~0.25 s once TF is loaded
        _malloc_trim()
        self._process = psutil.Process()
        self._baseline = self._rss()
        self._maxrss_start = _maxrss_bytes()
        self._peak = self._baseline
        self._samples = 0
        self._last_ns = time.perf_counter_ns()

    def _rss(self) -> int:
        return int(self._process.memory_info().rss)

    def _sample(self) -> int:
        rss = self._rss()
        self._peak = max(self._peak, rss)
        self._samples += 1
        return rss

    def maybe_sample(self, now_ns: int) -> None:
        if now_ns - self._last_ns >= MEMORY_CHECK_INTERVAL_NS or self._samples < 2:
            self._sample()
            self._last_ns = now_ns

    def delta_mb(self) -> float:
        return (self._sample() - self._baseline) / _MB

    def trace(self) -> MemoryTrace:
        self._sample()
        peak = self._peak
        maxrss = _maxrss_bytes()
        if maxrss > self._maxrss_start:  # the process high-water mark was set by this part
            peak = max(peak, maxrss)
        return MemoryTrace(self._baseline / _MB, peak / _MB, self._samples)


def _maxrss_bytes() -> int:
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024  # KB on Linux


def _malloc_trim() -> None:
    """Give freed heap back to the OS (glibc only) so RSS deltas start from a clean baseline."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)
