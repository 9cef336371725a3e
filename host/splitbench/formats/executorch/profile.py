"""Per-operator profile on this host: ETDump of a profiling program, read with ETRecord.

A normally lowered program runs the whole model as one XNNPACK delegate: its ETDump events
are per XNNPACK kernel ("Convolution (NHWC, F32) IGEMM #1") without debug handles, and the
ETRecord's delegate map is empty, so nothing maps them back to split units. The profiling
program is lowered from the same edge program with ``XnnpackPartitioner(per_op_mode=True)``:
one delegate call per operator (an operator and the activation XNNPACK fuses into it stay one
call), each ETDump event carrying the debug handles of the edge nodes it ran. Those handles
name split units, so

* head of split ``k`` = sum of the events whose units are all ``< k``,
* tail of split ``k`` = sum of the events whose units are all ``>= k``,
* a split inside one event (a fused block spanning the cut) has **no** prediction: the
  profile cannot say how that event's time divides.

How its events become split times, corrected to the real program, is :mod:`.etdump_times`.
The profiling run happens in a child process: ExecuTorch's ETDump event buffer grows as needed,
but its fixed debug buffer (intermediate outputs; the kit keeps none) makes the runtime abort
the process when it is too small, and an abort of the runtime, whatever its cause, must never
end a sweep: it costs the prediction, with one line saying why.

The ETDump, the ETRecord and the profiling ``.pte`` are kept as evidence in the run directory.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from splitbench.formats.executorch.etdump_times import (
    SplitTimes,
    handle_units,
    read_events,
    split_times,
)
from splitbench.measure.types import PartMeasurement, RunSettings

PROFILE_RUNS = 10  # executions recorded in the ETDump (per event: the median after the first)
PROFILE_VERSION = 2  # in the profiling files' names: bump when the profiling program changes


def profile_files(whole: Path, threads: int) -> tuple[Path, Path, Path]:
    """(profiling .pte, ETRecord, ETDump) paths for a whole-model ``.pte``."""
    stem = whole.with_suffix("")
    return (
        stem.with_name(stem.name + f".per-op{PROFILE_VERSION}.pte"),
        stem.with_name(stem.name + f".per-op{PROFILE_VERSION}.etrecord"),
        stem.with_name(stem.name + f".per-op{PROFILE_VERSION}.t{threads}.etdump"),
    )


def make_profiling_program(whole: Path) -> tuple[Path, Path]:
    """Lower the whole model per operator (``per_op_mode``) with its ETRecord, once."""
    from splitbench.formats.executorch.lower import PartCache, part_meta
    from splitbench.formats.executorch.model import cache_root, export_for, load_edge
    from splitbench.formats.executorch.splitter import whole_spec

    pte, etrecord, _ = profile_files(whole, 1)
    if pte.is_file() and etrecord.is_file():
        return pte, etrecord
    export = export_for(whole)
    edge = load_edge(export)
    spec = whole_spec(edge.units)
    cache = PartCache(edge, cache_root(export) / "parts")
    part = cache.get(
        spec,
        per_op_mode=True,
        meta=part_meta(spec, role="profile", version=PROFILE_VERSION),
        etrecord=etrecord,
    )
    pte.write_bytes(part.path.read_bytes())
    return pte, etrecord


def run_etdump(
    pte: Path, etdump: Path, runs: int, threads: int, *, debug_buffer_size: int = 0
) -> None:
    """Run ``pte`` ``runs`` times with ETDump on, in a child process; raise ``RuntimeError``
    with one line when it fails (an abort of the runtime included: its native output stays in
    the child's captured stderr). ``debug_buffer_size``: bytes for intermediate outputs (0:
    none kept, the ETDump then holds timings only and has no fixed-size buffer to overflow)."""
    import signal

    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "splitbench.formats.executorch.etdump_run",
            str(pte),
            str(etdump),
            str(runs),
            str(threads),
            str(debug_buffer_size),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=1800,
    )
    if done.returncode == 0 and etdump.is_file():
        return
    lines = [line.strip() for line in done.stderr.splitlines() if line.strip()]
    if done.returncode == -signal.SIGABRT:
        overflow = any("Ran out of space" in line or "debug buffer" in line for line in lines)
        why = (
            f"its ETDump debug buffer ({debug_buffer_size} bytes) is too small"
            if overflow
            else (lines[-1] if lines else "no output")
        )
        raise RuntimeError(f"the ExecuTorch runtime aborted the ETDump run: {why}")
    how = f"signal {-done.returncode}" if done.returncode < 0 else f"exit {done.returncode}"
    raise RuntimeError(f"the ETDump run ended with {how}: {lines[-1] if lines else 'no output'}")


def is_whole_model(path: Path) -> bool:
    from splitbench.formats.executorch.model import read_meta
    from splitbench.formats.executorch.runner import PteFailure

    try:
        meta = read_meta(path)
    except PteFailure:
        return False
    return bool(meta and meta.get("role") == "whole" and (path.parent / meta["export"]).is_file())


def profile_whole(whole: Path, threads: int, out_dir: Path) -> list[Path]:
    """ETDump + ETRecord (+ the profiling .pte) of a whole model in ``out_dir`` (the run's
    evidence), made once per thread count."""
    import shutil

    pte, etrecord = make_profiling_program(whole)
    out_dir.mkdir(parents=True, exist_ok=True)
    kept = []
    for src in (etrecord, pte):
        dst = out_dir / src.name
        if not dst.is_file() or dst.stat().st_size != src.stat().st_size:
            shutil.copyfile(src, dst)
        kept.append(dst)
    etdump = out_dir / profile_files(whole, threads)[2].name
    if not etdump.is_file():
        run_etdump(pte, etdump, PROFILE_RUNS, threads)
    return [etdump, *kept]


def measure_with_profile(
    path: Path, settings: RunSettings, profile_dir: Path | None = None
) -> PartMeasurement:
    """Measure a ``.pte`` directly; with ``profile_dir``, for a whole model also keep its
    per-operator profile (ETDump + ETRecord) there, among the evidence: the source of the
    predicted columns. A profile that fails costs the prediction only (noted in ``meta``)."""
    from splitbench.formats.executorch.runner import measure_pte

    m = measure_pte(Path(path), settings)
    if m.ok and profile_dir is not None and is_whole_model(Path(path)):
        try:
            found = profile_whole(Path(path), settings.threads, Path(profile_dir))
            m.evidence = [*m.evidence, *(str(p) for p in found)]
        except Exception as exc:
            m.meta["profile_error"] = " ".join(str(exc).split())[:300]
    return m


def predict(
    whole: PartMeasurement, evidence: list[Path], graph_path: Path
) -> tuple[SplitTimes, Path] | str:
    """Split times from the ETDump among ``evidence``, or why there are none."""
    etdumps = [p for p in evidence if p.suffix == ".etdump" and p.is_file()]
    etrecords = [p for p in evidence if p.suffix == ".etrecord" and p.is_file()]
    if not etdumps or not etrecords:
        reason = whole.meta.get("profile_error") if whole.meta else None
        return reason or f"{whole.method} ({whole.runtime}) left no ETDump profile"
    mapping, units, folded = handle_units(graph_path)
    events = read_events(etdumps[0], etrecords[0], mapping)
    return split_times(events, units, folded), etdumps[0]


def predict_from_etdump(graph: Any, whole: PartMeasurement, evidence: Sequence[Path]) -> Any:
    """A :class:`~splitbench.predict.Prediction` from the ETDump among ``evidence``, a
    :class:`~splitbench.predict.NoPrediction` saying why not, or None without any profile."""
    from splitbench.predict import NoPrediction, Prediction, scaled_to_whole

    if not any(p.suffix == ".etdump" for p in evidence):
        reason = whole.meta.get("profile_error") if whole.meta else None
        return NoPrediction(reason) if reason else None
    found = predict(whole, list(evidence), graph.path)
    if isinstance(found, str):
        return NoPrediction(found)
    times, source = found
    predicted = Prediction(
        head_ms=times.head_ms, tail_ms=times.tail_ms, source=str(source), note=times.note
    )
    return scaled_to_whole(predicted, whole.steady_median_ms)


def describe(etdump: Path, etrecord: Path) -> list[dict[str, object]]:
    """What was read from an ETDump (``splitbench collate --profile``): one row per event."""
    from executorch.devtools import Inspector

    from splitbench.measure.quiet import native_stderr_silenced

    with native_stderr_silenced():
        inspector = Inspector(etdump_path=str(etdump), etrecord=str(etrecord))
    rows: list[dict[str, object]] = []
    for block in inspector.event_blocks:
        for ev in block.events:
            raw = list(ev.perf_data.raw) if ev.perf_data else []
            handles = ev.debug_handles
            rows.append(
                {
                    "block": block.name,
                    "event": ev.name,
                    "op_types": " ".join(ev.op_types or []),
                    "debug_handles": json.dumps(
                        list(handles) if isinstance(handles, (list, tuple)) else handles
                    ),
                    "delegated_kernel": bool(ev.is_delegated_op),
                    "runs": len(raw),
                    "avg_ms": (sum(raw) / len(raw)) if raw else None,
                }
            )
    return rows
