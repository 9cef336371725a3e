"""The second timing method: split times predicted from one op-profiled run of the whole model.

benchmark_model's Run Order gives a time per operator; the head of split k is predicted as the sum
over operators < k on the client's profile and the tail as the sum over operators >= k on the
server's. Predictions are derived data: they are computed from the profile kept as evidence of
the whole-model measurement whenever a table is built, never stored as if measured.

A runner that cannot profile per operator (the kit's own LiteRT runner) leaves no Run Order in
its evidence; then there is no prediction, and the reason is given instead of a number.

Two rules hold for every format:

* **No cut through a kernel.** A kernel that computes several of the model's operators (a
  delegate partition, a fused Conv+activation) cannot be divided between head and tail; a split
  whose cut runs through one gets no prediction, and ``split_notes`` names the kernel and its
  operators (:func:`from_unit_groups`).
* **Calibrated to the measured whole model** (:func:`calibrate`). Profiling costs time per
  kernel, and the sum of kernel times leaves out what a run pays between kernels, so the
  profile's sum differs from the directly measured whole model of the same measurement. The
  difference is spread evenly over the kernels (a per-kernel constant, at most the cheapest
  kernel's time; beyond that a scale factor), so that the predicted whole model equals the
  measured one on each side. A prediction whose parts pay costs that depend on the cut
  (ExecuTorch's corrected per-operator program) is scaled as a whole instead
  (:func:`scaled_to_whole`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from splitbench.graph import ModelGraph
from splitbench.measure.types import PartMeasurement, RunSettings
from splitbench.results import ResultsDB


@dataclass(frozen=True)
class Prediction:
    """Predicted head (ops < k) and tail (ops >= k) times for every split k = 0..N."""

    head_ms: list[float | None]
    tail_ms: list[float | None]
    source: str  # the evidence file the Run Order was read from
    note: str = ""  # how the prediction was made, why some splits have none
    split_notes: dict[int, str] = field(default_factory=dict)  # split k → why it has none


@dataclass(frozen=True)
class Calibration:
    """Kernel times corrected so that they sum to the directly measured whole model: each
    kernel's time + ``per_kernel_ms``, times ``scale`` (see :func:`calibrate`)."""

    profiled_ms: float  # the profile's kernel times summed, per run
    measured_ms: float  # the whole model measured directly (mean per run)
    kernels: int
    per_kernel_ms: float
    scale: float = 1.0

    def apply(self, ms: float) -> float:
        return max(self.scale * (ms + self.per_kernel_ms), 0.0)

    @property
    def note(self) -> str:
        change = (self.measured_ms / self.profiled_ms - 1.0) * 100.0
        text = (
            f"calibrated to the measured whole model, {self.measured_ms:.3f} ms: the profile's "
            f"{self.kernels} kernels summed {self.profiled_ms:.3f} ms ({change:+.1f} %), so "
            f"{self.per_kernel_ms * 1000.0:+.1f} us per kernel"
        )
        return text if self.scale == 1.0 else f"{text}, then x{self.scale:.3f}"


def calibrate(kernel_ms: Sequence[float], measured_ms: float | None) -> Calibration | None:
    """The correction that makes ``kernel_ms`` sum to ``measured_ms`` (the whole model's
    directly measured mean of the same measurement); None when there is nothing to calibrate
    against.

    The difference is first spread as a constant per kernel (profiling and dispatch cost per
    kernel). A per-kernel cost cannot exceed the cheapest kernel's whole time, so when the
    profile is that much above the measurement the constant stops there and the rest is a
    scale factor: the machine ran slower during the profile than during the measurement."""
    times = [float(t) for t in kernel_ms]
    profiled = sum(times)
    if not times or measured_ms is None or measured_ms <= 0 or profiled <= 0:
        return None
    n = len(times)
    per_kernel = max((measured_ms - profiled) / n, -min(times))
    scale = measured_ms / (profiled + n * per_kernel)
    if abs(scale - 1.0) < 1e-12:
        scale = 1.0
    return Calibration(profiled, float(measured_ms), n, per_kernel, scale)


@dataclass(frozen=True)
class NoPrediction:
    reason: str


def predict_from_measurement(
    graph: ModelGraph, whole: PartMeasurement, run_dir: Path
) -> Prediction | NoPrediction:
    """Per-split times from the per-operator profile among a whole-model measurement's
    evidence files, read by the model's format (:meth:`Format.predict`)."""
    from splitbench.formats import get_format

    if not whole.ok:
        return NoPrediction(f"the whole model could not be measured: {whole.error}")
    evidence = [run_dir / p for p in whole.evidence]
    found = get_format(graph.format).predict(graph, whole, [p for p in evidence if p.is_file()])
    if found is not None:
        return found
    return NoPrediction(
        f"{whole.method} ({whole.runtime}) gave no per-operator profile: predicted times need "
        "TensorFlow Lite's benchmark_model with op profiling (--benchmark-binary), or an ONNX "
        "or ExecuTorch model on the host (ONNX Runtime's profiler, ExecuTorch's ETDump)"
    )


def from_run_order(
    graph: ModelGraph, evidence: Sequence[Path], measured_ms: float | None = None
) -> Prediction | None:
    """benchmark_model's op-profiling CSV (its Run Order) among ``evidence``, attributed to
    the graph's operators (delegate kernels resolved to the operators they ran), calibrated to
    ``measured_ms``, the whole model's directly measured mean, when given."""
    from splitbench_collect.op_profile import (
        ProfileFormatError,
        attribute_to_operators,
        cumulative_by_split,
        parse_run_order,
        resolve_delegate_kernels,
    )

    for path in sorted(evidence, key=lambda p: (p.suffix != ".csv", str(p))):  # CSVs first
        try:
            nodes = parse_run_order(path.read_text(errors="replace"))
        except ProfileFormatError:
            continue
        if not nodes:
            continue
        op_inputs = [[graph.tensors[t].name for t in op.inputs if t >= 0] for op in graph.operators]
        op_outputs = [[graph.tensors[t].name for t in op.outputs] for op in graph.operators]
        nodes = resolve_delegate_kernels(nodes, op_inputs, op_outputs)
        attr = attribute_to_operators(nodes, graph.num_operators)
        covered = set(attr.per_op_ms).union(*(g.op_indices for g in attr.groups))
        # only a profile that accounts for the whole run can be calibrated to it (rows of the
        # delegate-internal table, subgraph None, are inside the kernels already counted)
        whole_run = len(covered) >= graph.num_operators and not any(
            n.subgraph is not None for n in attr.unattributed
        )
        cal = calibrate(
            [*attr.per_op_ms.values(), *(g.per_run_ms for g in attr.groups)],
            measured_ms if whole_run else None,
        )
        if cal is not None:
            attr.per_op_ms = {i: cal.apply(t) for i, t in attr.per_op_ms.items()}
            attr.groups = [replace(g, per_run_ms=cal.apply(g.per_run_ms)) for g in attr.groups]
        times = cumulative_by_split(attr, graph.num_operators)
        spans = {
            g.name: f"{g.name} runs operators {min(g.op_indices)}-{max(g.op_indices)}"
            for g in attr.groups
        }
        reasons = sorted({r for t in times for r in t.undetermined_by})
        return Prediction(
            head_ms=[t.head_ms for t in times],
            tail_ms=[t.tail_ms for t in times],
            source=str(path),
            note="; ".join([*reasons, *([cal.note] if cal else [])]),
            split_notes={
                t.k: "the cut runs through a delegate kernel: "
                + "; ".join(spans[name] for name in t.undetermined_by if name in spans)
                for t in times
                if any(name in spans for name in t.undetermined_by)
            },
        )
    return None


def from_unit_groups(
    groups: Sequence[tuple[Sequence[int], float, str]],
    num_units: int,
    source: Path,
    note: str,
    *,
    measured_ms: float | None = None,
) -> Prediction:
    """Head of split k = the kernels whose units are all before k, tail = the rest, from one
    (units, ms per run, label) per kernel, calibrated to ``measured_ms`` when given. A kernel
    with units on both sides of a cut leaves that split without a prediction, its label saying
    why (see the module docstring)."""
    cal = calibrate([ms for _, ms, _ in groups], measured_ms)
    spans = [(min(u), max(u), cal.apply(ms) if cal else ms, label) for u, ms, label in groups]
    total = sum(ms for _, _, ms, _ in spans)
    head: list[float | None] = []
    tail: list[float | None] = []
    split_notes: dict[int, str] = {}
    for k in range(num_units + 1):
        through = list(dict.fromkeys(label for lo, hi, _, label in spans if lo < k <= hi))
        if through:
            head.append(None)
            tail.append(None)
            split_notes[k] = "the cut runs through a fused kernel: " + "; ".join(through)
            continue
        before = sum(ms for _, hi, ms, _ in spans if hi < k)
        head.append(before)
        tail.append(total - before)
    notes = [note] if note else []
    if cal is not None:
        notes.append(cal.note)
    if split_notes:
        notes.append(f"{len(split_notes)} splits cut through a fused kernel and have no prediction")
    return Prediction(head, tail, str(source), "; ".join(notes), split_notes)


def scaled_to_whole(prediction: Prediction, measured_whole_ms: float | None) -> Prediction:
    """``prediction`` scaled so that its whole model (head of the last split) equals the
    directly measured whole model — the calibration for a prediction whose parts pay costs that
    depend on the cut (ExecuTorch: layout changes at the cut, one call overhead per delegate a
    part runs), where :func:`calibrate`'s per-kernel constant has no meaning. What the profile
    still over- or under-counts is assumed to spread in proportion to time; the note says the
    factor, and without a measured or predicted whole model nothing is scaled."""
    predicted = prediction.head_ms[-1] if prediction.head_ms else None
    if not measured_whole_ms or not predicted or predicted <= 0:
        why = "no calibration: no directly measured whole model"
        return replace(prediction, note="; ".join(n for n in (prediction.note, why) if n))
    factor = measured_whole_ms / predicted

    def scaled(values: list[float | None]) -> list[float | None]:
        return [None if v is None else v * factor for v in values]

    said = (
        f"calibrated ×{factor:.3f} to the directly measured whole model "
        f"({measured_whole_ms:.3f} ms measured, {predicted:.3f} ms predicted)"
    )
    return replace(
        prediction,
        head_ms=scaled(prediction.head_ms),
        tail_ms=scaled(prediction.tail_ms),
        note="; ".join(n for n in (prediction.note, said) if n),
    )


def predictions_for_target(
    db: ResultsDB,
    graph: ModelGraph,
    target: str,
    run_dir: Path,
    settings: RunSettings | None = None,
    *,
    settings_hash: str | None = None,
) -> list[Prediction] | NoPrediction:
    """One prediction per bout of the whole model on ``target`` (each bout profiles, and keeps
    its own evidence), oldest first; the reason when no bout gives one. Taken over bouts like
    direct measurements, predictions carry intervals (:mod:`splitbench.stats.predicted`)."""
    stored = [
        m
        for m in db.measurements(
            graph.sha256,
            target=target,
            role="whole",
            strategy="direct",
            settings_hash=settings_hash,
        )
        if settings is None or m.part.settings == settings
    ]
    if not stored:
        return NoPrediction(f"the whole model has not been measured on {target}")
    found: list[Prediction] = []
    last: NoPrediction | None = None
    for m in stored:
        part = m.part
        part.evidence = list(m.evidence)
        pred = predict_from_measurement(graph, part, run_dir)
        if isinstance(pred, Prediction):
            found.append(pred)
        else:
            last = pred
    if found:
        return found
    assert last is not None
    return last
