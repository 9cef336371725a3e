"""The plain records the results database hands out (one dataclass per table row kind)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from splitbench.measure.types import PartMeasurement, StatsSummary
from splitbench.results.identity import settings_from_json
from splitbench.targets.base import TargetInfo


@dataclass(frozen=True)
class ModelRecord:
    """A model file as the sweep saw it; the hash, not the path, identifies it."""

    sha256: str
    name: str
    path: str
    file_bytes: int
    num_operators: int
    output_bytes: int | None = None  # bytes of all model outputs (the result sent back)


@dataclass(frozen=True)
class CodecResult:
    """One codec on one split (table ``codec_results``): the cut sent compressed (``cut``) or
    the head delivered compressed (``delivery``), measured by :mod:`splitbench.compress`."""

    split: int
    kind: str  # "cut" | "delivery"
    codec: str
    coded_bytes: float
    encode_ms: float
    decode_ms: float
    max_abs_diff: float
    lossless: bool
    timed_on: str
    detail: dict


@dataclass(frozen=True)
class AnchorResult:
    """One picture codec of the all-on-the-server anchor (table ``anchor_results``): the phone
    uploads the coded picture, the server decodes it and runs the whole model
    (:mod:`splitbench.anchor.stage`)."""

    codec: str  # the label, e.g. "jpeg:90"
    name: str  # jpeg, webp, png, h264, h265, av1, raw
    param: int | None  # quality or CRF
    coded_bytes: float  # mean over the pictures
    encode_ms: float  # client side
    decode_ms: float  # server side: decode + conversion to the model's input
    max_abs_diff: float  # the model's outputs on decoded against original inputs
    metric_name: str  # task metric ("" when no scenario applies)
    metric: float | None
    timed_on: str
    note: str
    detail: dict


@dataclass(frozen=True)
class SplitRecord:
    """What one cut produced: sizes (measured from the written files) and the lossless check."""

    model_sha256: str
    split: int
    cut_tensors: tuple[str, ...]
    intermediate_bytes: int
    head_bytes: int  # 0 when the part is empty (split 0 has no head)
    tail_bytes: int  # 0 when the part is empty (split N has no tail)
    head_sha256: str | None = None
    tail_sha256: str | None = None
    max_abs_diff: float | None = None
    bit_exact: bool | None = None
    verify_passed: bool | None = None
    verify_error: str | None = None


@dataclass(frozen=True)
class TargetRecord:
    info: TargetInfo
    kit_version: str
    first_seen: str
    last_seen: str


@dataclass(frozen=True)
class StoredMeasurement:
    """A measurement as read back: the runner's record plus where and when it was taken."""

    id: int
    model_sha256: str
    split: int | None
    role: str
    target: str
    strategy: str
    part: PartMeasurement
    started_at: str | None
    finished_at: str
    evidence: tuple[str, ...] = ()
    conditions: dict[str, Any] = field(default_factory=dict)
    derived_from: int | None = None
    kit_version: str = ""
    settings_hash: str = ""  # the settings identity (see splitbench.results.identity)
    bout: int | None = None  # which bout of the part this was (0-based); None if unknown


def _opt_bool(value: int | None) -> bool | None:
    return None if value is None else bool(value)


def target_from_row(r: sqlite3.Row) -> TargetRecord:
    info = TargetInfo(
        name=r["name"],
        kind=r["kind"],
        cpu_model=r["cpu_model"],
        cores=r["cores"],
        runtime=r["runtime"],
        extra=json.loads(r["extra_json"]),
    )
    return TargetRecord(info, r["kit_version"], r["first_seen"], r["last_seen"])


def model_from_row(r: sqlite3.Row) -> ModelRecord:
    return ModelRecord(
        r["sha256"], r["name"], r["path"], r["file_bytes"], r["num_operators"], r["output_bytes"]
    )


def split_from_row(r: sqlite3.Row) -> SplitRecord:
    return SplitRecord(
        model_sha256=r["model_sha256"],
        split=r["split"],
        cut_tensors=tuple(json.loads(r["cut_tensors_json"])),
        intermediate_bytes=r["intermediate_bytes"],
        head_bytes=r["head_bytes"],
        tail_bytes=r["tail_bytes"],
        head_sha256=r["head_sha256"],
        tail_sha256=r["tail_sha256"],
        max_abs_diff=r["max_abs_diff"],
        bit_exact=_opt_bool(r["bit_exact"]),
        verify_passed=_opt_bool(r["verify_passed"]),
        verify_error=r["verify_error"],
    )


def measurement_from_row(r: sqlite3.Row, samples: Mapping[str, list[float]]) -> StoredMeasurement:
    summary = None
    if r["summary_count"] is not None:
        summary = StatsSummary(
            r["summary_count"],
            r["summary_min_ms"],
            r["summary_max_ms"],
            r["summary_avg_ms"],
            r["summary_std_ms"],
        )
    part = PartMeasurement(
        method=r["method"],
        runtime=r["runtime"],
        settings=settings_from_json(r["settings_json"]),
        init_ms=r["init_ms"],
        first_ms=r["first_ms"],
        warmup_ms=list(samples.get("warmup", [])),
        steady_ms=list(samples.get("steady", [])),
        steady_summary=summary,
        mem_init_mb=r["mem_init_mb"],
        mem_overall_mb=r["mem_overall_mb"],
        mem_peak_mb=r["mem_peak_mb"],
        error=r["error"],
    )
    return StoredMeasurement(
        id=r["id"],
        model_sha256=r["model_sha256"],
        split=r["split"],
        role=r["role"],
        target=r["target"],
        strategy=r["strategy"],
        part=part,
        started_at=r["started_at"],
        finished_at=r["finished_at"],
        evidence=tuple(json.loads(r["evidence_json"])),
        conditions=json.loads(r["conditions_json"]),
        derived_from=r["derived_from"],
        kit_version=r["kit_version"],
        settings_hash=r["settings_hash"] or "",
        bout=r["bout"],
    )
