"""A stand-in for TensorFlow Lite's ``benchmark_model``: same flags, same stdout, on ai-edge-litert.

No ``benchmark_model`` binary can be built here, so the emulated phone runs this runner behind
the binary's command line and output format; the kit's whole path (push, run, pull, parse,
collate) is then exercised exactly as with a real phone::

    python -m splitbench_device.litert_benchmark_model --graph=head.tflite --num_threads=1 \\
        --warmup_runs=1 --num_runs=50

The numbers come from :func:`splitbench.formats.tflite.litert.run_part` (the host's built-in
runner), which follows ``BenchmarkModel::Run`` step by step. The lines are formatted as in
TensorFlow's sources (``benchmark_model.cc``, ``benchmark_tflite_model.cc``,
``tsl/util/stats_calculator.h``, ``lite/tools/logging.h``): ``INFO:``/``WARN:`` lines on stdout,
``ERROR:`` lines on stderr, ``count= first= curr= min= max= avg= std=`` in integer microseconds
(``count=N curr=X`` when all runs took the same time), numbers printed as C++ streams print them
(``%g``).

Differences from the binary, each deliberate:

* **Raw samples.** ``benchmark_model`` prints only summaries. This runner adds lines that carry
  every raw sample, in microseconds with nanosecond resolution, so nothing measured is lost::

      INFO: splitbench raw init us: 8296.029
      INFO: splitbench raw warmup us: 39.880,5.210,...   (all warm-up runs; the first one is
                                                          the "First inference")
      INFO: splitbench raw steady us: 4.120,3.980,...    (the regular runs)

  Parsers of the binary's output ignore them; the kit reads them when present.
* **No per-operator profiling.** The Python interpreter exposes no per-operator profiler. With
  ``--enable_op_profiling=true`` the runner says so plainly on stdout (a ``WARN:`` line, where the
  binary would print its tables) and prints no per-operator numbers. If
  ``--profiling_output_csv_file`` is given too, that file is written with only the same statement
  (:data:`NO_OP_PROFILE_NOTE`) and no table, so a pull of the file succeeds and its content says
  why there is nothing to parse.
* **Peak memory** is always reported ("Overall peak memory footprint (MB) via periodic
  monitoring"), sampled between runs and completed with the kernel's high-water mark; the
  binary prints it only with ``--report_peak_memory_footprint=true`` (accepted, no effect).
* **First inference** is always run, even with ``--warmup_runs=0 --warmup_min_secs=0``.
* ``--num_threads=-1`` (the binary's default: "implementation default") runs one thread.
* **Unknown flags are rejected** (the binary only warns "Unconsumed cmdline flags"): a flag this
  runner does not implement must not be silently ignored in a measurement.

Exit codes: 0 when the benchmark ran; 1 when it failed like the binary fails (no ``--graph``,
missing or corrupt graph, an operator the runtime cannot resolve or run) with the binary's
``ERROR: ... Benchmarking failed.`` lines on stderr; 2 for a flag this runner does not accept or
a value it cannot parse.
"""

from __future__ import annotations

import math
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from splitbench.formats.tflite.litert import run_part
from splitbench.measure.loop import PartRun
from splitbench.measure.types import RunSettings

RAW_PREFIX = "splitbench raw"
NO_OP_PROFILE_NOTE = (
    "splitbench litert_benchmark_model cannot profile per operator (ai-edge-litert Python "
    "interpreter): --enable_op_profiling is ignored and no per-operator numbers are reported."
)
EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    """A flag this runner does not accept, or a value it cannot parse."""


@dataclass(frozen=True)
class _Flag:
    name: str
    kind: type
    default: object
    label: str  # how benchmark_model echoes it: "<label>: [value]"
    help: str


_FLAGS: tuple[_Flag, ...] = (
    _Flag("num_runs", int, 50, "Min num runs", "expected number of runs, see also min_secs"),
    _Flag("min_secs", float, 1.0, "Min runs duration (seconds)", "minimum seconds of runs"),
    _Flag("max_secs", float, 150.0, "Max runs duration (seconds)", "no run starts after this"),
    _Flag("num_threads", int, -1, "Num threads", "number of threads (-1: one thread)"),
    _Flag("warmup_runs", int, 1, "Min warmup runs", "minimum number of warm-up runs"),
    _Flag("warmup_min_secs", float, 0.5, "Min warmup runs duration (seconds)", "warm-up seconds"),
    _Flag(
        "report_peak_memory_footprint",
        bool,
        False,
        "Report the peak memory footprint",
        "accepted for compatibility; the peak is always reported",
    ),
    _Flag("graph", str, "", "Graph", "graph file name"),
    _Flag("enable_op_profiling", bool, False, "Enable op profiling", "not available here"),
    _Flag(
        "profiling_output_csv_file",
        str,
        "",
        "CSV File to export profiling data to",
        "receives only a statement that no per-operator numbers exist",
    ),
    _Flag("use_xnnpack", bool, True, "Use xnnpack", "apply the default XNNPACK delegate"),
    _Flag("verbose", bool, False, "Log parameter values verbosely", "echo every parameter"),
    _Flag("help", bool, False, "Help", "print this usage and exit"),
)
_BY_NAME = {f.name: f for f in _FLAGS}


def usage() -> str:
    lines = ["usage: python -m splitbench_device.litert_benchmark_model --graph=FILE [flags]"]
    for f in _FLAGS:
        default = str(f.default).lower() if f.kind is bool else f.default
        lines.append(f"\t--{f.name}={default}\t{f.kind.__name__}\t{f.help}")
    return "\n".join(lines)


def parse_flags(argv: Sequence[str]) -> tuple[dict[str, object], set[str]]:
    """``--name=value`` flags as benchmark_model takes them (bools also bare ``--name``).

    Returns all values (defaults filled in) and the names given on the command line.
    """
    values = {f.name: f.default for f in _FLAGS}
    given: set[str] = set()
    for arg in argv:
        if not arg.startswith("--"):
            raise UsageError(f"unexpected argument {arg!r}: flags are --name=value")
        name, has_value, raw = arg[2:].partition("=")
        flag = _BY_NAME.get(name)
        if flag is None:
            accepted = ", ".join(f"--{f.name}" for f in _FLAGS)
            raise UsageError(f"unknown flag --{name}: this runner implements only {accepted}")
        if not has_value and flag.kind is not bool:
            raise UsageError(f"flag --{name} needs a value: --{name}=VALUE")
        values[name] = _convert(flag, raw if has_value else "true")
        given.add(name)
    return values, given


def _convert(flag: _Flag, raw: str) -> object:
    try:
        if flag.kind is bool:
            if raw.lower() in ("true", "1"):
                return True
            if raw.lower() in ("false", "0"):
                return False
            raise ValueError(raw)
        return flag.kind(raw)
    except ValueError:
        raise UsageError(
            f"invalid value {raw!r} for --{flag.name} ({flag.kind.__name__})"
        ) from None


def fmt(value: float) -> str:
    """A number as a C++ ``ostream`` prints a double by default (``%g``, 6 digits)."""
    return f"{value:g}"


def stat_line(samples_us: Sequence[int]) -> str:
    """``tsl::Stat<int64_t>::OutputToStream`` for integer-microsecond samples."""
    if not samples_us:
        return "count=0"
    count, newest = len(samples_us), samples_us[-1]
    lo, hi = min(samples_us), max(samples_us)
    if lo == hi:
        return f"count={count} curr={newest}" + ("(all same)" if count > 1 else "")
    total = sum(samples_us)
    avg = total / count
    variance = int(sum(v * v for v in samples_us) / count - avg * avg)  # int64 in the source
    std = int(math.sqrt(variance)) if variance > 0 else 0
    return (
        f"count={count} first={samples_us[0]} curr={newest} min={lo} max={hi} "
        f"avg={fmt(avg)} std={std}"
    )


def _us(ms_values: Sequence[float]) -> list[int]:
    return [round(v * 1000.0) for v in ms_values]


def _raw(ms_values: Sequence[float]) -> str:
    return ",".join(f"{v * 1000.0:.3f}" for v in ms_values)


class _Out:
    """benchmark_model's logging: INFO/WARN to stdout, ERROR to stderr, one line each."""

    def info(self, text: str) -> None:
        print(f"INFO: {text}")

    def warn(self, text: str) -> None:
        print(f"WARN: {text}")

    def error(self, text: str) -> None:
        sys.stdout.flush()
        print(f"ERROR: {text}", file=sys.stderr, flush=True)


def _log_params(out: _Out, values: dict[str, object], given: set[str]) -> None:
    verbose = bool(values["verbose"])
    out.info(f"Log parameter values verbosely: [{int(verbose)}]")
    for flag in _FLAGS:
        if flag.name in ("verbose", "help"):
            continue
        if flag.name == "graph" or verbose or flag.name in given:
            value = values[flag.name]
            shown = int(value) if isinstance(value, bool) else value
            if isinstance(value, float):
                shown = fmt(value)
            out.info(f"{flag.label}: [{shown}]")


def _number(values: dict[str, object], name: str) -> float:
    value = values[name]
    assert isinstance(value, int | float)
    return value


def _threads(values: dict[str, object]) -> int:
    requested = int(_number(values, "num_threads"))
    return requested if requested >= 1 else 1


def _settings(values: dict[str, object]) -> RunSettings:
    return RunSettings(
        threads=_threads(values),
        warmup_runs=int(_number(values, "warmup_runs")),
        warmup_min_secs=_number(values, "warmup_min_secs"),
        num_runs=int(_number(values, "num_runs")),
        min_secs=_number(values, "min_secs"),
        max_secs=_number(values, "max_secs"),
    )


def _report_failure(out: _Out, graph: str, run: PartRun) -> int:
    detail = re.sub(r"\s*(?=Encountered unresolved|Node number|See instructions)", "\n", run.detail)
    if run.failed_phase != "load":
        out.info(f"Loaded model {graph}")
    for line in detail.splitlines():
        if line.strip():
            out.error(line.strip())
    if run.failed_phase == "load":
        out.error(f"Failed to mmap model {graph}")
    elif run.failed_phase == "allocate":
        out.error("Failed to allocate tensors!")
    out.error("Benchmarking failed.")
    return EXIT_FAILED


def _report_success(out: _Out, values: dict[str, object], graph: str, run: PartRun) -> None:
    m, s = run.measurement, run.measurement.settings
    warmup_ms = [m.first_ms or 0.0, *m.warmup_ms]
    warmup_us, steady_us = _us(warmup_ms), _us(m.steady_ms)
    init_us = round((m.init_ms or 0.0) * 1000.0)

    out.info(f"Loaded model {graph}")
    out.info(f"The input model file size (MB): {fmt(Path(graph).stat().st_size / 1e6)}")
    out.info(f"Initialized session in {fmt(init_us / 1e3)}ms.")
    for min_runs, min_secs, samples in (
        (s.warmup_runs, s.warmup_min_secs, warmup_us),
        (s.num_runs, s.min_secs, steady_us),
    ):
        out.info(
            f"Running benchmark for at least {min_runs} iterations and at least "
            f"{fmt(min_secs)} seconds but terminate if exceeding {fmt(s.max_secs)} seconds."
        )
        out.info(stat_line(samples) + "\n")
    steady_avg = sum(steady_us) / len(steady_us) if steady_us else math.nan
    out.info(
        f"Inference timings in us: Init: {init_us}, First inference: {warmup_us[0]}, "
        f"Warmup (avg): {fmt(sum(warmup_us) / len(warmup_us))}, "
        f"Inference (avg): {fmt(steady_avg)}"
    )
    out.info(
        "Note: as the benchmark tool itself affects memory footprint, the following is only "
        "APPROXIMATE to the actual memory footprint of the model at runtime. Take the "
        "information at your discretion."
    )
    out.info(
        "Memory footprint delta from the start of the tool (MB): "
        f"init={fmt(m.mem_init_mb or 0.0)} overall={fmt(m.mem_overall_mb or 0.0)}"
    )
    if run.memory is not None:
        out.info(
            f"Overall peak memory footprint (MB) via periodic monitoring: {fmt(run.memory.peak_mb)}"
        )
    out.info(f"{RAW_PREFIX} runtime: {m.runtime} ({m.method})")
    out.info(f"{RAW_PREFIX} init us: {(m.init_ms or 0.0) * 1000.0:.3f}")
    out.info(f"{RAW_PREFIX} warmup us: {_raw(warmup_ms)}")
    out.info(f"{RAW_PREFIX} steady us: {_raw(m.steady_ms)}")
    if values["enable_op_profiling"]:
        out.warn(NO_OP_PROFILE_NOTE)
        csv_path = str(values["profiling_output_csv_file"])
        if csv_path:
            Path(csv_path).write_text(NO_OP_PROFILE_NOTE + "\n")


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    out = _Out()
    out.info("STARTING!")
    try:
        values, given = parse_flags(argv)
    except UsageError as exc:
        out.error(str(exc))
        out.error(usage())
        out.error("Benchmarking failed.")
        return EXIT_USAGE
    if values["help"]:
        print(usage())
        return EXIT_OK
    _log_params(out, values, given)
    out.info(f"#threads used for CPU inference: [{_threads(values)}]")
    graph = str(values["graph"])
    if not graph:
        out.error("Please specify the name of your TF Lite input file with --graph")
        out.error("Benchmarking failed.")
        return EXIT_FAILED
    run = run_part(
        Path(graph),
        _settings(values),
        use_xnnpack=bool(values["use_xnnpack"]),
        warm_runtime=False,  # one part per process, like the binary: one-time costs included
    )
    if not run.ok:
        return _report_failure(out, graph, run)
    _report_success(out, values, graph, run)
    sys.stdout.flush()
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
