"""Read the stdout of TensorFlow Lite's ``benchmark_model`` into a :class:`PartMeasurement`.

The tool's output changed wording across versions; every form below was seen in published runs
(see ``benchmark_csv/``) or in the tool's source:

* init: ``Initialized session in 17.187ms.`` (also without the final dot);
* ``Inference timings in us: Init: A, First inference: B, Warmup (avg): C, Inference (avg): D``
  and the TF 1.x ``Average inference timings in us: Warmup: C, Init: A, no stats: D``;
* two ``count=.. first=.. curr=.. min=.. max=.. avg=.. std=..`` lines (newer versions add
  ``p5= median= p95=``): the first for the warm-up runs, the second for the regular runs, in
  microseconds; a single warm-up run prints only ``count=1 curr=..``;
* memory: ``Memory footprint delta from the start of the tool (MB): init=X overall=Y``, the older
  ``Peak memory footprint (MB): init=X overall=Y`` and
  ``Overall peak memory footprint (MB) via periodic monitoring: Z``;
* echoed flags: ``Graph: [..]``, ``Num threads: [..]`` and ``#threads used for CPU inference: [..]``
  (or ``[graph]: ..`` / ``[num_threads]: ..``);
* any of these with ``INFO:`` prefixes, indentation or Android logcat prefixes (benchmark app).

Only raw per-run samples are never printed, so the regular runs become a
:class:`StatsSummary` and ``warmup_ms`` stays empty rather than being filled with averages.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from splitbench.errors import MeasurementError
from splitbench.measure.types import PartMeasurement, RunSettings, StatsSummary

from splitbench_collect.op_profile import clean_line

__all__ = [
    "BenchmarkOutputError",
    "BenchmarkStdout",
    "RunStats",
    "parse_benchmark_measurement",
    "parse_benchmark_stdout",
]

METHOD = "benchmark_model"


class BenchmarkOutputError(MeasurementError):
    """The text is not ``benchmark_model`` output (nothing measured and no error reported)."""


@dataclass(frozen=True)
class RunStats:
    """One ``count=.. first=.. ...`` line, in microseconds as printed."""

    count: int
    values_us: dict[str, float] = field(default_factory=dict)  # first, curr, min, max, avg, ...

    def ms(self, key: str) -> float | None:
        value = self.values_us.get(key)
        return value / 1000.0 if value is not None else None

    def summary(self) -> StatsSummary | None:
        """As a :class:`StatsSummary` in ms; None when the line lacks min/max/avg/std."""
        keys = ("min", "max", "avg", "std")
        if not all(k in self.values_us for k in keys):
            return None
        return StatsSummary(self.count, *(self.values_us[k] / 1000.0 for k in keys))


@dataclass
class BenchmarkStdout:
    """Everything read from one ``benchmark_model`` stdout, in milliseconds and MB."""

    graph: str | None = None
    num_threads: int | None = None
    min_num_runs: int | None = None
    min_warmup_runs: int | None = None
    init_ms: float | None = None
    first_ms: float | None = None
    warmup_avg_ms: float | None = None
    inference_avg_ms: float | None = None
    warmup: RunStats | None = None
    regular: RunStats | None = None
    mem_init_mb: float | None = None
    mem_overall_mb: float | None = None
    peak_mem_mb: float | None = None  # periodic monitoring; no PartMeasurement field for it yet
    error: str | None = None

    @property
    def measured(self) -> bool:
        return self.inference_avg_ms is not None or self.regular is not None

    def settings(self) -> RunSettings:
        """Run settings as echoed; flags the tool did not echo were left at its defaults, which
        are :class:`RunSettings`' defaults."""
        base = RunSettings()
        return RunSettings(
            threads=self.num_threads if self.num_threads is not None else base.threads,
            warmup_runs=self.min_warmup_runs or base.warmup_runs,
            num_runs=self.min_num_runs or base.num_runs,
        )

    def to_measurement(self, runtime: str = "unknown") -> PartMeasurement:
        """The shared record; with an error, the numbers stay None as the record requires."""
        m = PartMeasurement(method=METHOD, runtime=runtime, settings=self.settings())
        if self.error is not None:
            m.error = self.error
            return m
        m.init_ms = self.init_ms
        m.first_ms = self.first_ms
        m.steady_summary = self.regular.summary() if self.regular else None
        m.mem_init_mb = self.mem_init_mb
        m.mem_overall_mb = self.mem_overall_mb
        return m


_NUM = r"[-+]?(?:\d+\.?\d*(?:[eE][-+]?\d+)?|\.\d+)"
_INIT = re.compile(rf"^Initialized session in ({_NUM})\s*ms\.?$")
_TIMINGS = re.compile(
    rf"Inference timings in us: Init: ({_NUM}), First inference: ({_NUM}), "
    rf"Warmup \(avg\): ({_NUM}), Inference \(avg\): ({_NUM})"
)
_TF1_TIMINGS = re.compile(
    rf"^Average inference timings in us: Warmup: ({_NUM}), Init: ({_NUM}), no stats: ({_NUM})"
)
_COUNT = re.compile(r"^count=(\d+)((?:\s+\w+=\S+)*)\s*$")
_MEM = re.compile(
    rf"^(?:Memory footprint delta from the start of the tool|Peak memory footprint) \(MB\): "
    rf"init=({_NUM}) overall=({_NUM})"
)
_PEAK = re.compile(rf"^Overall peak memory footprint \(MB\) via periodic monitoring: ({_NUM})")
_GRAPH = re.compile(r"^(?:Graph: \[(.*)\]|\[graph\]:?\s*(.*))$")
_THREADS_USED = re.compile(r"^#threads used for CPU inference: \[(\d+)\]")
_THREADS = re.compile(r"^(?:Num threads: \[(\d+)\]|\[num_threads\]:?\s*(\d+))")
_MIN_RUNS = re.compile(r"^Min num runs: \[(\d+)\]")
_MIN_WARMUP = re.compile(r"^Min warmup runs: \[(\d+)\]")
_CUSTOM_OP = re.compile(r"Encountered unresolved custom op: ([^\s.]+)")
_BUILTIN_OP = re.compile(r"Didn't find op for builtin opcode '([^']+)' version '(\d+)'")
_NODE_FAILED = re.compile(r"Node number (\d+) \(([^)]+)\) failed to (\w+)")
_FAILED = re.compile(r"^(?:Failed to .*|Benchmarking failed\.?|.*failed to .*)$")


def _first(*groups: str | None) -> str | None:
    return next((g for g in groups if g is not None), None)


def _count_line(line: str) -> RunStats | None:
    m = _COUNT.match(line)
    if not m:
        return None
    values: dict[str, float] = {}
    for pair in m.group(2).split():
        key, _, raw = pair.partition("=")
        try:
            values[key] = float(raw)
        except ValueError:
            continue
    return RunStats(int(m.group(1)), values)


def _error_text(lines: list[str]) -> str | None:
    """One line naming what failed, preferring the operator the runtime could not run."""
    text = "\n".join(lines)
    node = _NODE_FAILED.search(text)
    where = f" (operator index {node.group(1)})" if node else ""
    if m := _CUSTOM_OP.search(text):
        return f"benchmark_model: unresolved custom operator {m.group(1)}{where}"
    if m := _BUILTIN_OP.search(text):
        return (
            f"benchmark_model: no kernel for builtin operator {m.group(1)} "
            f"version {m.group(2)}{where}"
        )
    if node:
        return f"benchmark_model: operator {node.group(2)} failed to {node.group(3)}{where}"
    failed = next((ln for ln in lines if _FAILED.match(ln)), None)
    return f"benchmark_model: {failed}" if failed else None


def _read_line(out: BenchmarkStdout, line: str) -> None:
    if m := _INIT.match(line):
        out.init_ms = float(m.group(1))
    elif m := _TIMINGS.search(line):
        init_us, first_us, warm_us, inf_us = (float(g) for g in m.groups())
        out.init_ms = out.init_ms if out.init_ms is not None else init_us / 1000.0
        out.first_ms, out.warmup_avg_ms = first_us / 1000.0, warm_us / 1000.0
        out.inference_avg_ms = inf_us / 1000.0
    elif m := _TF1_TIMINGS.match(line):
        warm_us, init_us, inf_us = (float(g) for g in m.groups())
        out.init_ms = out.init_ms if out.init_ms is not None else init_us / 1000.0
        out.warmup_avg_ms, out.inference_avg_ms = warm_us / 1000.0, inf_us / 1000.0
    elif stats := _count_line(line):
        if out.warmup is None:
            out.warmup = stats
        elif out.regular is None:
            out.regular = stats
    elif m := _MEM.match(line):
        out.mem_init_mb, out.mem_overall_mb = float(m.group(1)), float(m.group(2))
    elif m := _PEAK.match(line):
        out.peak_mem_mb = float(m.group(1))
    elif m := _GRAPH.match(line):
        out.graph = _first(m.group(1), m.group(2))
    elif m := _THREADS_USED.match(line):
        out.num_threads = int(m.group(1))
    elif (m := _THREADS.match(line)) and out.num_threads is None:
        out.num_threads = int(_first(m.group(1), m.group(2)) or 0)
    elif m := _MIN_RUNS.match(line):
        out.min_num_runs = int(m.group(1))
    elif m := _MIN_WARMUP.match(line):
        out.min_warmup_runs = int(m.group(1))


def _head_lines(text: str) -> list[str]:
    """Cleaned lines before the op-profiling tables: the tables' ``Timings (microseconds):
    count=..`` summaries must not be taken for the run statistics."""
    lines: list[str] = []
    for raw in text.splitlines():
        line = clean_line(raw)
        if "Profiling Info for" in line:
            break
        lines.append(line)
    return lines


def parse_benchmark_stdout(text: str) -> BenchmarkStdout:
    """Everything the stdout says. Raises :class:`BenchmarkOutputError` when it is neither a
    measurement nor a failure report of ``benchmark_model``."""
    lines = _head_lines(text)
    out = BenchmarkStdout()
    for line in lines:
        _read_line(out, line)
    if not out.measured:
        out.error = _error_text(lines)
        if out.error is None:
            first = next((ln for ln in lines if ln), "")
            raise BenchmarkOutputError(
                "not benchmark_model output: no 'Inference timings' or count= lines and no "
                f"error (starts with {first[:60]!r})"
            )
    return out


def parse_benchmark_measurement(text: str, runtime: str = "unknown") -> PartMeasurement:
    """``benchmark_model`` stdout as the shared :class:`PartMeasurement` record."""
    return parse_benchmark_stdout(text).to_measurement(runtime=runtime)
