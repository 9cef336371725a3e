"""Read the output of ExecuTorch's ``executor_runner`` into a :class:`PartMeasurement`.

``executor_runner`` (``examples/portable/executor_runner``) logs through ``ET_LOG``, one line per
message with a ``I 00:00:00.123456 executorch:executor_runner.cpp:NN]`` prefix. What is read:

* ``Model loaded in X ms.`` — program load + method load: the initialisation KPI;
* ``Iteration I of N: X ms`` — one line per execution (recent versions): raw samples;
* ``Model executed successfully N time(s) in X ms.`` — the total (every version): when no
  per-iteration lines were printed, the steady state becomes a count/average summary, never
  invented samples;
* failures: ``Failed to parse model file``, ``Loading of method ... failed with status 0x..``,
  ``Execution of method ... failed with status 0x..`` (and any ``E ... ]`` line).

With per-iteration lines the kit treats the first ``warmup`` executions as the warm-up (the very
first is the first inference) and the rest as the steady state, as the host runner does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from splitbench.measure.types import PartMeasurement, RunSettings, StatsSummary

_PREFIX = re.compile(r"^[A-Z] \d\d:\d\d:\d\d\.\d+ executorch:[^\]]*\]\s?")
_LOADED = re.compile(r"Model loaded in ([0-9.]+) ms")
_ITER = re.compile(r"Iteration (\d+) of (\d+): ([0-9.]+) ms")
_TOTAL = re.compile(r"Model executed successfully (\d+) time\(s\) in ([0-9.]+) ms")
_FAIL = re.compile(
    r"(Failed to parse model file.*|Loading of method .* failed with status 0x[0-9a-fA-F]+"
    r"|Execution of method .* failed with status 0x[0-9a-fA-F]+|FileDataLoader::from\(\) failed.*)"
)


@dataclass
class RunnerLog:
    init_ms: float | None = None
    iterations: list[float] = field(default_factory=list)
    total_runs: int | None = None
    total_ms: float | None = None
    error: str | None = None


def message(line: str) -> str:
    return _PREFIX.sub("", line.rstrip("\r"))


def parse_runner_log(text: str) -> RunnerLog:
    log = RunnerLog()
    for raw in text.splitlines():
        line = message(raw)
        if m := _LOADED.search(line):
            log.init_ms = float(m.group(1))
        elif m := _ITER.search(line):
            log.iterations.append(float(m.group(3)))
        elif m := _TOTAL.search(line):
            log.total_runs, log.total_ms = int(m.group(1)), float(m.group(2))
        elif log.error is None and (m := _FAIL.search(line)):
            log.error = m.group(1).strip()
    return log


def to_measurement(
    text: str, rc: int, settings: RunSettings, runtime: str, label: str = "executor_runner"
) -> PartMeasurement:
    """The part's record from ``executor_runner`` output (``rc``: its exit status)."""
    log = parse_runner_log(text)
    m = PartMeasurement(method="executor_runner", runtime=runtime, settings=settings)
    if log.error or log.total_runs is None:
        tail = [message(x) for x in text.strip().splitlines()[-1:]] or ["no output"]
        m.error = f"{label}: {log.error or f'exited with status {rc}: {tail[0][:200]}'}"
        return m
    m.init_ms = log.init_ms
    if log.iterations:
        warm = max(1, settings.warmup_runs)
        m.first_ms = log.iterations[0]
        m.warmup_ms = log.iterations[1:warm]
        m.steady_ms = log.iterations[warm:]
    else:
        avg = (log.total_ms or 0.0) / max(1, log.total_runs)
        m.steady_summary = StatsSummary(log.total_runs, avg, avg, avg, 0.0)
    if rc != 0:
        m.error = f"{label} exited with status {rc} after printing timings"
    return m
