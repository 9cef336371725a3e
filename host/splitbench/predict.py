"""The second timing method: split times predicted from one op-profiled run of the whole model.

benchmark_model's Run Order gives a time per operator; the head of split k is predicted as the sum
over operators < k on the client's profile and the tail as the sum over operators >= k on the
server's. Predictions are derived data: they are computed from the profile kept as evidence of
the whole-model measurement whenever a table is built, never stored as if measured.

A profile of a program that is not the one measured directly (ExecuTorch's per-operator
lowering) is corrected by its format and then calibrated to the directly measured whole model
(:func:`calibrate`), which the note says.

A runner that cannot profile per operator (the kit's own LiteRT runner) leaves no Run Order in
its evidence; then there is no prediction, and the reason is given instead of a number.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
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
    note: str = ""  # why some splits have no prediction


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


def from_run_order(graph: ModelGraph, evidence: Sequence[Path]) -> Prediction | None:
    """benchmark_model's op-profiling CSV (its Run Order) among ``evidence``, attributed to
    the graph's operators (delegate kernels resolved to the operators they ran)."""
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
        times = cumulative_by_split(attr, graph.num_operators)
        reasons = sorted({r for t in times for r in t.undetermined_by})
        return Prediction(
            head_ms=[t.head_ms for t in times],
            tail_ms=[t.tail_ms for t in times],
            source=str(path),
            note="; ".join(reasons),
        )
    return None


def from_unit_times(times: Sequence[float], source: Path, note: str) -> Prediction:
    """Head of split k = the units before k, tail = the rest, from one time per unit."""
    head = [0.0]
    for t in times:
        head.append(head[-1] + t)
    total = head[-1]
    return Prediction(
        head_ms=list(head), tail_ms=[total - h for h in head], source=str(source), note=note
    )


def calibrate(prediction: Prediction, measured_whole_ms: float | None) -> Prediction:
    """``prediction`` scaled so that its whole model (head of the last split) equals the
    directly measured whole model: what the profile still over- or under-counts (profiling cost,
    calls the real program makes fewer of) is assumed to spread in proportion to time. The note
    says the factor; without a measured or predicted whole model, nothing is scaled."""
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


def prediction_for_target(
    db: ResultsDB,
    graph: ModelGraph,
    target: str,
    run_dir: Path,
    settings: RunSettings | None = None,
    *,
    settings_hash: str | None = None,
) -> Prediction | NoPrediction:
    """The prediction from the latest whole-model measurement of ``graph`` on ``target``
    (with those per-bout settings, or of that settings identity, when given)."""
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
    latest = stored[-1]
    part = latest.part
    part.evidence = list(latest.evidence)
    return predict_from_measurement(graph, part, run_dir)
