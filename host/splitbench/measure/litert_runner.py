"""The built-in runner: one model file measured with the ``ai_edge_litert`` interpreter.

It follows TensorFlow Lite's ``benchmark_model`` step by step so that its numbers mean the same
thing as the binary's on a phone:

* **init** = interpreter construction (maps the file, resolves operators, applies the default
  XNNPACK delegate unless ``use_xnnpack=False``) + ``allocate_tensors()``;
* **warm-up** = at least ``warmup_runs`` runs and at least ``warmup_min_secs`` seconds; its first
  run is the **first inference** (as ``benchmark_model``'s ``First inference``). The first
  inference is always run, even with ``warmup_runs=0``, because it is a KPI of its own;
* **steady state** = at least ``num_runs`` runs and at least ``min_secs`` seconds, and no run is
  started after ``max_secs`` (the same loop condition as ``BenchmarkModel::Run``);
* each sample is ``time.perf_counter_ns()`` around ``invoke()`` only; inputs are set once,
  before the warm-up, outside every timed region. Raw samples are kept (pyperf's rule).

Memory, like ``benchmark_model``'s "Memory footprint delta from the start of the tool", is the
RSS growth from just before the file is loaded: after init and after the last run. Before the
baseline is taken, garbage is collected and glibc is asked to return freed heap to the system
(``malloc_trim``), so memory freed by an earlier part in the same process is not silently
reused by this one. The peak is sampled between runs (at most every 50 ms, like the binary's
monitor) and completed with the kernel's high-water mark (``ru_maxrss``) whenever that mark
rose during this part, so a peak reached inside an ``invoke()`` is not missed.

A part the runtime cannot load or run (an unresolved custom operator such as mediapipe's
``Convolution2DTransposeBias``, a corrupt file) comes back as a :class:`PartMeasurement` with
``error`` set and no numbers; this module never raises for it.

No TensorFlow here: ``ai_edge_litert`` only, so the runner starts in a fraction of a second.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import re
import resource
import time
from array import array
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import psutil

from splitbench.measure import types
from splitbench.measure.inputs import random_inputs
from splitbench.measure.quiet import native_stderr_silenced
from splitbench.measure.types import PartMeasurement, RunSettings

if TYPE_CHECKING:
    from ai_edge_litert.interpreter import Interpreter

METHOD = "litert-interpreter"
MEMORY_CHECK_INTERVAL_NS = 50_000_000  # benchmark_model's kMemoryCheckIntervalMs
RANDOM_INPUT_SEED = 0
_MB = float(1 << 20)  # benchmark_model prints KB / 1024, i.e. MiB, and calls it MB


def runtime_version() -> str:
    """``ai-edge-litert <version>``: what produced the numbers, recorded with every sample."""
    import ai_edge_litert

    return f"ai-edge-litert {ai_edge_litert.__version__}"


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


class PartFailure(types.PartFailure):
    """LiteRT could not load, allocate or run a part; ``reason`` names the operator."""

    @property
    def reason(self) -> str:
        """One line for a results row, naming the operator when one is to blame."""
        reason = describe_runtime_error(self.detail)
        if self.phase == "load" and not reason.startswith(("unresolved", "unsupported")):
            reason = f"cannot load model: {reason}"
        return reason


def describe_runtime_error(message: str) -> str:
    """One line naming what the runtime could not do, e.g.
    ``unresolved custom operator Convolution2DTransposeBias``."""
    custom = re.search(r"unresolved custom op: (.+?)\.?\s*(?:\n|See instructions|$)", message)
    if custom:
        return f"unresolved custom operator {custom.group(1).strip()}"
    builtin = re.search(r"Didn't find op for builtin opcode '([^']+)' version '(\d+)'", message)
    if builtin:
        return f"unsupported builtin operator {builtin.group(1)} version {builtin.group(2)}"
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    return lines[0] if lines else "unknown runtime error"


def load_interpreter(path: Path, threads: int, *, use_xnnpack: bool = True) -> Interpreter:
    """Build and allocate an interpreter; failures raise :class:`PartFailure` with their phase.

    ``use_xnnpack=False`` skips the default XNNPACK delegate, like the binary's
    ``--use_xnnpack=false`` (``BuiltinOpResolverWithoutDefaultDelegates``).
    """
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    resolver = (
        OpResolverType.AUTO if use_xnnpack else OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    )
    with native_stderr_silenced():
        try:
            interpreter = Interpreter(
                model_path=str(path), num_threads=threads, experimental_op_resolver_type=resolver
            )
        except (ValueError, RuntimeError) as exc:
            raise PartFailure("load", str(exc)) from None
        try:
            interpreter.allocate_tensors()
        except (ValueError, RuntimeError) as exc:
            raise PartFailure("allocate", str(exc)) from None
    return interpreter


def measure_file(
    path: Path,
    settings: RunSettings,
    inputs: dict[str, np.ndarray] | None = None,
    *,
    use_xnnpack: bool = True,
) -> PartMeasurement:
    """Measure one model file (head, tail or whole model) on this machine.

    ``inputs`` maps input tensor names to values; without it, seeded random values of the
    right shape and dtype are used. ``use_xnnpack=False`` mirrors ``--use_xnnpack=false``.
    A part the runtime cannot load or run comes back with ``error`` set; ``inputs`` that do not
    match the part's input tensors raise ``ValueError`` (a caller's mistake, not the part's).
    """
    return run_part(path, settings, inputs, use_xnnpack=use_xnnpack).measurement


def run_part(
    path: Path,
    settings: RunSettings,
    inputs: dict[str, np.ndarray] | None = None,
    *,
    use_xnnpack: bool = True,
    warm_runtime: bool = True,
) -> PartRun:
    """:func:`measure_file` with the memory trace and failure phase kept (for the device runner).

    ``warm_runtime``: before the first part of a process, the runtime is exercised once,
    untimed (see :func:`_warm_runtime`), so that every part of a sweep is measured against the
    same process state. A one-part process that mimics the binary passes False.
    """
    if settings.threads < 1:
        raise ValueError("RunSettings.threads must be at least 1")
    base = PartMeasurement(method=METHOD, runtime=runtime_version(), settings=settings)
    import ai_edge_litert.interpreter  # noqa: F401  (loaded before the baseline, as the binary's)

    if warm_runtime:
        _warm_runtime(Path(path), settings.threads, use_xnnpack)
    monitor = _MemoryMonitor()
    try:
        return _run(Path(path), settings, inputs, use_xnnpack, base, monitor)
    except PartFailure as failure:
        base.error = failure.reason
        return PartRun(base, failed_phase=failure.phase, detail=failure.detail)


def _run(
    path: Path,
    settings: RunSettings,
    inputs: dict[str, np.ndarray] | None,
    use_xnnpack: bool,
    m: PartMeasurement,
    monitor: _MemoryMonitor,
) -> PartRun:
    start = time.perf_counter_ns()
    interpreter = load_interpreter(path, settings.threads, use_xnnpack=use_xnnpack)
    m.init_ms = (time.perf_counter_ns() - start) / 1e6
    m.mem_init_mb = monitor.delta_mb()

    details = interpreter.get_input_details()
    if inputs is None:
        inputs = random_inputs(details, np.random.default_rng(RANDOM_INPUT_SEED))
    _set_inputs(interpreter, details, inputs)

    def invoke() -> None:
        try:
            interpreter.invoke()
        except (ValueError, RuntimeError) as exc:
            raise PartFailure("invoke", str(exc)) from None

    max_secs = max(0.0, settings.max_secs)  # the first inference runs whatever the limits
    warmup = _timed_runs(
        invoke, max(1, settings.warmup_runs), settings.warmup_min_secs, max_secs, monitor
    )
    m.first_ms = warmup[0] / 1e6
    m.warmup_ms = [ns / 1e6 for ns in warmup[1:]]
    steady = _timed_runs(invoke, settings.num_runs, settings.min_secs, max_secs, monitor)
    m.steady_ms = [ns / 1e6 for ns in steady]
    m.mem_overall_mb = monitor.delta_mb()
    trace = monitor.trace()
    m.mem_peak_mb = trace.peak_mb - trace.baseline_mb
    return PartRun(m, memory=trace)  # the interpreter and its arena are freed on return


_warmed: set[tuple[int, bool]] = set()


def _warm_runtime(path: Path, threads: int, use_xnnpack: bool) -> None:
    """Load and run ``path`` once, untimed, the first time a process measures anything.

    The first interpreter of a process also creates the runtime's one-time state (XNNPACK's
    delegate and thread pool, allocator arenas): about 3 MB for posenet here. Without this,
    the first part of a sweep alone would carry that in its memory figures.
    """
    key = (threads, use_xnnpack)
    if key in _warmed:
        return
    try:
        interpreter = load_interpreter(path, threads, use_xnnpack=use_xnnpack)
        details = interpreter.get_input_details()
        _set_inputs(interpreter, details, random_inputs(details, np.random.default_rng(0)))
        interpreter.invoke()
    except (PartFailure, ValueError, RuntimeError):
        return  # this part cannot run; the next one will warm the runtime
    _warmed.add(key)


def _set_inputs(
    interpreter: Interpreter, details: list[dict[str, Any]], inputs: dict[str, np.ndarray]
) -> None:
    names = [d["name"] for d in details]
    missing = [n for n in names if n not in inputs]
    if missing:
        raise ValueError(f"no value for input tensor(s) {missing}; the part's inputs are {names}")
    for d in details:
        value = np.asarray(inputs[d["name"]], dtype=d["dtype"])
        if tuple(value.shape) != tuple(int(x) for x in d["shape"]):
            raise ValueError(
                f"input {d['name']} has shape {value.shape}, the model expects {tuple(d['shape'])}"
            )
        interpreter.set_tensor(d["index"], value)


def _timed_runs(
    invoke: Callable[[], None],
    min_runs: int,
    min_secs: float,
    max_secs: float,
    monitor: _MemoryMonitor,
) -> array[int]:
    """Run until both minimums are met, never starting a run after ``max_secs``.

    Returns raw durations in nanoseconds, each around ``invoke()`` alone, kept in a compact
    array: tiny parts run tens of thousands of times and the tool's own bookkeeping must not
    show up as the model's memory.
    """
    samples = array("q")
    now = time.perf_counter_ns()
    min_finish = now + int(min_secs * 1e9)
    max_finish = now + int(max_secs * 1e9)
    while (len(samples) < min_runs or now < min_finish) and now <= max_finish:
        begin = time.perf_counter_ns()
        invoke()
        now = time.perf_counter_ns()
        samples.append(now - begin)
        monitor.maybe_sample(now)
    return samples


class _MemoryMonitor:
    """RSS baseline, deltas and a cheap peak, all from one process (see module doc)."""

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


# The timing loop and the memory monitor are the runtime-agnostic half of this runner: the
# ONNX Runtime runner (splitbench.formats.onnx.runner) times its parts with the same two, so
# both runtimes' numbers mean the same thing.
timed_runs = _timed_runs
MemoryMonitor = _MemoryMonitor
