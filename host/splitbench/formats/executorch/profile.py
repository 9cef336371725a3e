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

The profiling program is not the real one, and its events are corrected to it:

* batch norms are folded into their convolutions before the per-operator lowering, as XNNPACK
  folds them in the real program (:mod:`.fold`);
* each per-operator delegate converts its input NCHW→NHWC and its output back (XNNPACK's
  layout transposes, the ``Transpose`` kernels before and after the call's compute kernels):
  the real program converts only where a delegate starts or ends: at the model's inputs and
  outputs, around operators on the portable kernels, and at a split's cut (the head converts
  the cut it returns, the tail the cut it takes). Only those are counted;
* a delegate call's time beyond its kernels (one call per operator here, a few in the real
  program) is not counted;
* what is left is scaled so the predicted whole model equals the directly measured one
  (:func:`splitbench.predict.calibrate`).

``prediction_note`` says how large each correction was.

The profiling run happens in a child process: ExecuTorch's ETDump
event buffer grows as needed, but its fixed debug buffer (intermediate outputs; the kit keeps
none) makes the runtime abort the process when it is too small, and an abort of the runtime,
whatever its cause, must never end a sweep: it costs the prediction, with one line saying why.

The ETDump, the ETRecord and the profiling ``.pte`` are kept as evidence in the run directory.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from splitbench.formats.executorch.units import ProgramUnits
from splitbench.measure.types import PartMeasurement, RunSettings

if TYPE_CHECKING:
    from torch.export import ExportedProgram

    from splitbench.formats.executorch.lower import EdgeModel

PROFILE_RUNS = 10  # executions recorded in the ETDump (per event: the median after the first)
PROFILE_VERSION = 2  # in the profiling files' names: bump when the profiling program changes


@dataclass(frozen=True)
class OpEvent:
    """One operator-level event of the ETDump's Execute block, averaged over the runs.

    For a delegate call, the XNNPACK kernels it ran split its time: layout transposes before
    its first compute kernel (``transpose_in_ms``) and after its last (``transpose_out_ms``),
    and the call's own cost beyond its kernels (``overhead_ms``); what is left is
    :attr:`compute_ms`."""

    name: str  # DELEGATE_CALL or OPERATOR_CALL (a portable kernel)
    op_types: tuple[str, ...]
    debug_handles: tuple[int, ...]
    units: tuple[int, ...]  # split units the handles resolve to (empty when none)
    ms: float  # median of the runs after the first (see typical_ms)
    samples_ms: tuple[float, ...]
    delegated: bool = False
    transposes_in: int = 0  # layout transposes among its kernels, before its compute
    transposes_out: int = 0  # and after it
    transpose_in_ms: float = 0.0
    transpose_out_ms: float = 0.0
    overhead_ms: float = 0.0

    @property
    def compute_ms(self) -> float:
        layout = self.transpose_in_ms + self.transpose_out_ms
        return max(0.0, self.ms - layout - self.overhead_ms)


@dataclass(frozen=True)
class SplitTimes:
    head_ms: list[float | None]
    tail_ms: list[float | None]
    note: str


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


def read_events(
    etdump: Path, etrecord: Path, handle_units: dict[int, tuple[int, ...]]
) -> list[OpEvent]:
    """Operator-level events of the Execute block: one per delegate call (its XNNPACK kernels,
    logged under the same instruction, split its time: :class:`OpEvent`) and one per portable
    operator (its ``OPERATOR_CALL``; the ``native_call_*`` event inside it is the same time)."""
    from executorch.devtools import Inspector

    from splitbench.measure.quiet import native_stderr_silenced

    with native_stderr_silenced():
        inspector = Inspector(etdump_path=str(etdump), etrecord=str(etrecord))
    events: list[OpEvent] = []
    for block in inspector.event_blocks:
        if block.name != "Execute":
            continue
        kernels: dict[Any, list[Any]] = {}
        for ev in block.events:
            if ev.is_delegated_op and ev.perf_data is not None:
                kernels.setdefault(ev._instruction_id, []).append(ev)
        for ev in block.events:
            # The runtime's Method::execute spans the whole run (and carries the first handle).
            if ev.is_delegated_op or ev.perf_data is None or "::" in ev.name:
                continue
            if ev.name.startswith("native_call_"):
                continue
            raw = ev.debug_handles
            handles = (
                tuple(raw) if isinstance(raw, (list, tuple)) else (() if raw is None else (raw,))
            )
            units = tuple(sorted({u for h in handles for u in handle_units.get(h, ())}))
            samples = tuple(float(x) for x in ev.perf_data.raw)
            ms = typical_ms(samples)
            delegated = ev.name == "DELEGATE_CALL"
            parts = _kernel_times(kernels.get(ev._instruction_id, []), ms) if delegated else {}
            events.append(
                OpEvent(
                    ev.name,
                    tuple(ev.op_types or ()),
                    tuple(int(h) for h in handles),
                    units,
                    ms,
                    samples,
                    delegated,
                    **parts,
                )
            )
    return events


def is_layout_transpose(kernel: str) -> bool:
    """XNNPACK's NCHW↔NHWC conversion of a delegate's input or output."""
    return kernel.startswith("Transpose")


def _kernel_times(kernels: list[Any], call_ms: float) -> dict[str, Any]:
    """A delegate call's kernels, in the order they ran: layout transposes before its first
    compute kernel and after its last, and the call's time beyond all its kernels. A call whose
    kernels are all transposes ran a real permute: those are its compute, not layout."""
    ordered = sorted(kernels, key=lambda k: min(k._start_time or [0]))
    names = [k.name for k in ordered]
    times = [typical_ms(tuple(float(x) for x in k.perf_data.raw)) for k in ordered]
    compute = [i for i, name in enumerate(names) if not is_layout_transpose(name)]
    if not compute:
        return {"overhead_ms": max(0.0, call_ms - sum(times))}
    first, last = compute[0], compute[-1]
    return {
        "transposes_in": first,
        "transposes_out": len(names) - 1 - last,
        "transpose_in_ms": sum(times[:first]),
        "transpose_out_ms": sum(times[last + 1 :]),
        "overhead_ms": max(0.0, call_ms - sum(times)),
    }


def typical_ms(samples: tuple[float, ...]) -> float:
    """An operator's time: the median of its runs after the first (the first pays one-time
    costs), so that one run descheduled on a shared machine does not decide it."""
    import statistics

    if not samples:
        return math.nan
    runs = samples[1:] if len(samples) >= 3 else samples
    return float(statistics.median(runs))


def split_times(events: list[OpEvent], units: ProgramUnits, folded: int = 0) -> SplitTimes:
    """Head and tail time of every split 0..N from the events (see the module docstring),
    counting what the real split programs pay: each call's compute, a layout transpose only
    at a delegate's edge in the real program, no per-operator delegate-call overhead."""
    n = units.num_units
    ops = [u.op for u in units.units]
    head_add = [0.0] * (n + 2)
    tail_add = [0.0] * (n + 2)
    head_cut = [0.0] * (n + 2)  # a head's conversion of the cut it returns
    tail_cut = [0.0] * (n + 2)  # a tail's conversion of the cut it takes
    spans: dict[int, str] = {}
    unmapped = 0.0
    edges = _Edges(units, events)
    kept = [0, 0.0]  # transposes the whole real program pays too: count, ms
    for ev in events:
        if not ev.units:
            unmapped += ev.ms
            continue
        lo, hi = ev.units[0], ev.units[-1]
        producers, readers = edges.outside(ev.units)
        fixed = ev.compute_ms
        if ev.transposes_in and edges.starts_delegate(producers):
            fixed += ev.transpose_in_ms
            kept = [kept[0] + ev.transposes_in, kept[1] + ev.transpose_in_ms]
        elif ev.transposes_in and producers:
            for k in range(min(producers) + 1, lo + 1):  # the cut carries one of its inputs
                tail_cut[k] += ev.transpose_in_ms
        if ev.transposes_out and edges.ends_delegate(ev.units, readers):
            fixed += ev.transpose_out_ms
            kept = [kept[0] + ev.transposes_out, kept[1] + ev.transpose_out_ms]
        elif ev.transposes_out and readers:
            for k in range(hi + 1, max(readers) + 1):  # the cut carries one of its outputs
                head_cut[k] += ev.transpose_out_ms
        head_add[hi + 1] += fixed  # counts in the head of every k > hi
        tail_add[lo] += fixed  # counts in the tail of every k <= lo
        for k in range(lo + 1, hi + 1):
            spans[k] = "+".join(ops[u].split(".")[1] for u in range(lo, hi + 1))
    head: list[float | None] = []
    run = 0.0
    for k in range(n + 1):
        run += head_add[k]
        head.append(None if k in spans else run + head_cut[k])
    tail: list[float | None] = [0.0] * (n + 1)
    acc = 0.0
    for k in range(n, -1, -1):
        acc += tail_add[k]
        tail[k] = None if k in spans else acc + tail_cut[k]
    notes = [correction_note(events, int(kept[0]), kept[1], folded)]
    if spans:
        ks = sorted(spans)
        notes.append(
            f"no prediction at {len(ks)} split(s) ({', '.join(map(str, ks[:12]))}"
            f"{', …' if len(ks) > 12 else ''}): one fused XNNPACK call ({spans[ks[0]]}, …) spans"
            " the cut, and the profile cannot divide its time"
        )
    if unmapped:
        notes.append(f"{unmapped:.3f} ms of events without split units left out")
    return SplitTimes(head, tail, "; ".join(notes))


def correction_note(events: list[OpEvent], kept: int, kept_ms: float, folded: int) -> str:
    """How far the per-operator program was corrected to the real one, for the whole model
    (``kept``: transposes the real whole program pays too, at its inputs and outputs)."""
    calls = [e for e in events if e.delegated and e.units]
    count = sum(e.transposes_in + e.transposes_out for e in calls)
    layout_ms = sum(e.transpose_in_ms + e.transpose_out_ms for e in calls)
    overhead = sum(e.overhead_ms for e in calls)
    text = (
        f"per-operator ETDump corrected to the real program: {count - kept} of {count} layout "
        f"transposes not counted ({layout_ms - kept_ms:.3f} ms; a head or tail still pays the "
        f"conversion at its cut), {len(calls)} delegate-call overheads not counted "
        f"({overhead:.3f} ms)"
    )
    return text + (f", {folded} batch norms folded into their convolutions" if folded else "")


class _Edges:
    """Where the real program's delegates start and end: at a model input or output, at an
    operator left on the portable kernels, or at the cut."""

    def __init__(self, units: ProgramUnits, events: list[OpEvent]) -> None:
        self.units = units
        self.portable = {u for e in events if not e.delegated for u in e.units}
        self.model_outputs = {
            units.values[name].producer for name in units.outputs if name in units.values
        }
        self.readers: dict[int, set[int]] = {}
        for unit in units.units:
            for name in unit.reads:
                self.readers.setdefault(units.values[name].producer, set()).add(unit.index)

    def outside(self, group: tuple[int, ...]) -> tuple[set[int], set[int]]:
        """Units (-1: a model input) whose values ``group`` reads, and units reading its
        values, outside ``group``."""
        inside = set(group)
        producers = {
            self.units.values[name].producer
            for u in group
            for name in self.units.units[u].reads
            if self.units.values[name].producer not in inside
        }
        readers = {r for u in group for r in self.readers.get(u, ()) if r not in inside}
        return producers, readers

    def starts_delegate(self, producers: set[int]) -> bool:
        return any(p < 0 or p in self.portable for p in producers)

    def ends_delegate(self, group: tuple[int, ...], readers: set[int]) -> bool:
        return any(u in self.model_outputs for u in group) or bool(readers & self.portable)


def handle_units(whole: Path) -> tuple[dict[int, tuple[int, ...]], ProgramUnits, int]:
    """Debug handle → split units, from the edge program the profiling program was lowered
    from; its units; and how many batch norms the profiling program folded."""
    from splitbench.formats.executorch.model import export_for, load_edge

    edge = load_edge(export_for(whole))
    mapping, folded = edge_handle_units(edge)
    return mapping, edge.units, folded


def edge_handle_units(edge: EdgeModel) -> tuple[dict[int, tuple[int, ...]], int]:
    """:func:`program_handle_units` of the whole-model program the profiling program is lowered
    from (cut out of ``edge`` as every part is: a program read back from disk does not list a
    node's users, which the fold's test reads)."""
    from splitbench.formats.executorch.lower import _verifier
    from splitbench.formats.executorch.splitter import part_program, whole_spec

    program = part_program(edge.program, edge.units, whole_spec(edge.units), _verifier(edge))
    return program_handle_units(program, edge.units)


def program_handle_units(
    program: ExportedProgram, units: ProgramUnits
) -> tuple[dict[int, tuple[int, ...]], int]:
    """Debug handle of each unit's node → its unit; a convolution's handle also names the batch
    norm folded into it (:mod:`.fold`), so that call spans both units."""
    from splitbench.formats.executorch.fold import folded_batch_norms

    index = {u.name: u.index for u in units.units}
    mapping: dict[int, tuple[int, ...]] = {}
    for node in program.graph.nodes:
        handle = node.meta.get("debug_handle")
        if node.name in index and isinstance(handle, int):
            mapping[handle] = (index[node.name],)
    handles = {n.name: n.meta.get("debug_handle") for n in program.graph.nodes}
    folded = folded_batch_norms(program)
    for conv, bn in folded.items():
        handle = handles.get(conv)
        if isinstance(handle, int) and conv in index and bn in index:
            mapping[handle] = (index[conv], index[bn])
    return mapping, len(folded)


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
    from splitbench.predict import NoPrediction, Prediction, calibrate

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
    return calibrate(predicted, whole.steady_median_ms)


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
