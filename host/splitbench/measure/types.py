"""The plain records that cross from a runner to the results database.

Like pyperf, a measurement keeps its raw samples; statistics are derived when reporting,
never stored instead of the samples.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class RunSettings:
    """How one part is run. Defaults mirror TensorFlow Lite's ``benchmark_model``."""

    threads: int = 1
    warmup_runs: int = 1
    warmup_min_secs: float = 0.5
    num_runs: int = 50  # minimum number of steady-state runs
    min_secs: float = 1.0  # minimum steady-state duration
    max_secs: float = 150.0  # stop steady-state runs after this long, whatever the count


@dataclass(frozen=True)
class StatsSummary:
    """Count/min/max/avg/std as printed by ``benchmark_model`` (when raw samples are missing)."""

    count: int
    min_ms: float
    max_ms: float
    avg_ms: float
    std_ms: float


@dataclass
class PartMeasurement:
    """One measured run of one model file (a head, a tail, or a whole model) on one target.

    ``method`` names what produced the numbers (e.g. ``litert-interpreter`` for the built-in
    runner, ``benchmark_model`` for TensorFlow Lite's binary); ``runtime`` its version.
    """

    method: str
    runtime: str
    settings: RunSettings
    init_ms: float | None = None
    first_ms: float | None = None
    warmup_ms: list[float] = field(default_factory=list)
    steady_ms: list[float] = field(default_factory=list)  # raw steady-state samples
    steady_summary: StatsSummary | None = None  # only when raw samples are not available
    mem_init_mb: float | None = None
    mem_overall_mb: float | None = None
    error: str | None = None  # set when the part could not be measured; numbers stay None
    mem_peak_mb: float | None = None  # peak RSS growth over the same baseline as init/overall
    # Files kept beside the database rows (runner stdout, op-profiling CSV, device state), so a
    # number can be traced to what printed it. Empty for runners that print nothing to keep.
    evidence: list[str] = field(default_factory=list)
    # Machine state around the run as the target read it (temperatures, per-core frequencies,
    # governor, battery), key=value strings; empty when the target records none.
    meta: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def steady_mean_ms(self) -> float | None:
        if self.steady_ms:
            import statistics  # here: this module is on `split`'s path, statistics is not

            return statistics.fmean(self.steady_ms)
        return self.steady_summary.avg_ms if self.steady_summary else None

    @property
    def steady_median_ms(self) -> float | None:
        if self.steady_ms:
            import statistics

            return statistics.median(self.steady_ms)
        return None

    @property
    def measured_total_ms(self) -> float:
        """Sum of every timed inference (first, warm-up, steady): the work actually measured."""
        total = (self.first_ms or 0.0) + sum(self.warmup_ms) + sum(self.steady_ms)
        if not self.steady_ms and self.steady_summary:
            total += self.steady_summary.avg_ms * self.steady_summary.count
        return total


class PartFailure(Exception):
    """A runtime could not load, allocate or run a part; ``detail`` is its own message.

    Each format's runner raises it (or a subclass that reads the runtime's messages better);
    the lossless check and the runners turn it into a row's error, never a crash.
    """

    def __init__(self, phase: str, detail: str) -> None:
        super().__init__(detail)
        self.phase = phase  # "load", "allocate", "invoke"
        self.detail = detail

    @property
    def reason(self) -> str:
        """One line for a results row."""
        lines = [line.strip() for line in self.detail.splitlines() if line.strip()]
        return lines[0] if lines else "unknown runtime error"
