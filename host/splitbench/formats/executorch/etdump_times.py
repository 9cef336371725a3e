"""Split times from the ETDump of the per-operator profiling program (see :mod:`.profile`).

Head of split ``k`` = the events whose units are all ``< k``, tail = all ``>= k``; a split
inside one event (a fused call spanning the cut) has **no** prediction.

The profiling program is not the real one, and its events are corrected to it:

* batch norms are folded into their convolutions before the per-operator lowering, as XNNPACK
  folds them in the real program (:mod:`.fold`);
* each per-operator delegate converts its input NCHW→NHWC and its output back (XNNPACK's
  layout transposes, the ``Transpose`` kernels before and after the call's compute kernels):
  the real program converts only where a delegate starts or ends: at the model's inputs and
  outputs, around operators on the portable kernels, and at a split's cut (the head converts
  the cut it returns, the tail the cut it takes). Only those are counted;
* a delegate call's time beyond its kernels is paid once per operator here, once per delegate
  in the real program: a part counts the median call overhead once per delegate it would run
  (one per run of delegated operators between portable ones);
* what is left is scaled so the predicted whole model equals the directly measured one
  (:func:`splitbench.predict.scaled_to_whole`).

``prediction_note`` says how large each correction was.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from splitbench.formats.executorch.units import ProgramUnits

if TYPE_CHECKING:
    from torch.export import ExportedProgram

    from splitbench.formats.executorch.lower import EdgeModel


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
    if not samples:
        return math.nan
    runs = samples[1:] if len(samples) >= 3 else samples
    return float(statistics.median(runs))


def split_times(events: list[OpEvent], units: ProgramUnits, folded: int = 0) -> SplitTimes:
    """Head and tail time of every split 0..N from the events (see the module docstring),
    counting what the real split programs pay: each call's compute, a layout transpose only
    at a delegate's edge in the real program, and one delegate-call overhead (the median of
    the profile's) per delegate the part runs, not one per operator."""
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
    mapped = [e for e in events if e.units]
    overheads = [e.overhead_ms for e in mapped if e.delegated]
    call_ms = statistics.median(overheads) if overheads else 0.0
    head: list[float | None] = []
    run = 0.0
    for k in range(n + 1):  # a head's events are a prefix of the run, a tail's the rest
        run += head_add[k]
        own_calls = call_ms * delegates([e for e in mapped if e.units[-1] < k])
        head.append(None if k in spans else run + head_cut[k] + own_calls)
    tail: list[float | None] = [0.0] * (n + 1)
    acc = 0.0
    for k in range(n, -1, -1):
        acc += tail_add[k]
        own_calls = call_ms * delegates([e for e in mapped if e.units[0] >= k])
        tail[k] = None if k in spans else acc + tail_cut[k] + own_calls
    calls = (delegates(mapped), call_ms)
    notes = [correction_note(events, int(kept[0]), kept[1], folded, calls)]
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


def delegates(events: list[OpEvent]) -> int:
    """Delegates a real program of these events (in the order they ran) calls: one per run of
    delegated events between operators on the portable kernels."""
    return sum(
        e.delegated and (i == 0 or not events[i - 1].delegated) for i, e in enumerate(events)
    )


def correction_note(
    events: list[OpEvent], kept: int, kept_ms: float, folded: int, real_calls: tuple[int, float]
) -> str:
    """How far the per-operator program was corrected to the real one, for the whole model
    (``kept``: transposes the real whole program pays too, at its inputs and outputs;
    ``real_calls``: the delegates it calls and the overhead counted for each)."""
    calls = [e for e in events if e.delegated and e.units]
    count = sum(e.transposes_in + e.transposes_out for e in calls)
    layout_ms = sum(e.transpose_in_ms + e.transpose_out_ms for e in calls)
    overhead = sum(e.overhead_ms for e in calls)
    text = (
        f"per-operator ETDump corrected to the real program: {count - kept} of {count} layout "
        f"transposes not counted ({layout_ms - kept_ms:.3f} ms; a head or tail still pays the "
        f"conversion at its cut), {len(calls)} delegate-call overheads ({overhead:.3f} ms) "
        f"counted as the real program's {real_calls[0]} ({real_calls[1]:.3f} ms each)"
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
