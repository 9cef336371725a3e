"""A part's bouts: which of them its statistics pool, and their samples, read raw from the
database or taken from the statistics kept beside it (:mod:`splitbench.stats.kept`).

A sweep measures each part in several bouts spread over its passes (``--rounds``); a table uses
one settings identity (the latest measured unless told) and pools the successful bouts of each
part under it; never bouts measured with other run settings.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import Any

from splitbench.measure.types import RunSettings, StatsSummary
from splitbench.report.split_stats import part_seed
from splitbench.results import ResultsDB, StoredMeasurement, settings_key
from splitbench.results.identity import settings_hash as identity_hash
from splitbench.stats import kept as kept_stats
from splitbench.stats.kept import KeptPart, part_key


def kept_or_samples(
    db: ResultsDB, found: list[StoredMeasurement], keys: Iterable[tuple[str, list[int]]]
) -> tuple[dict[str, KeptPart], list[StoredMeasurement]]:
    """The statistics kept beside the database, and ``found`` with the raw samples of the
    parts (key, bout ids) that have none kept yet: only those samples are read."""
    kept = kept_stats.load(db.path)
    need = {i for key, ids in keys if key not in kept for i in ids}
    if need:
        loaded = {m.id: m for m in db.with_samples([m for m in found if m.id in need])}
        found = [loaded.get(m.id, m) for m in found]
    return kept, found


def keep(
    db: ResultsDB, kept: dict[str, KeptPart], new: dict[str, KeptPart], mine: Sequence[str]
) -> None:
    """Keep ``new`` beside the database, with the parts of this table (``mine``) last, so the
    parts in use are the last to go when the file is full; nothing is written without news."""
    if not new:
        return
    in_use = set(mine)
    others = {k: v for k, v in kept.items() if k not in in_use}
    kept_stats.save(db.path, {**others, **{k: kept[k] for k in mine if k in kept}, **new})


def resampled(key: str, kept: dict[str, KeptPart], side: dict[str, Any]) -> KeptPart | None:
    """What a part's raw samples just gave (``side``, a table's part), to keep under ``key``;
    None when it was read from the kept statistics, or has no samples (a summary, a failure)."""
    if not key or key in kept or not side["stats"].n_bouts:
        return None
    return KeptPart(side["stats"], side["warmup_ms"])


def bouts_key(
    used: Sequence[StoredMeasurement], statistic: str, seed: int
) -> tuple[str, list[int]]:
    """The key of the statistics of a part pooling ``used``, and those bouts' ids."""
    said = ((m.id, m.finished_at) for m in used)
    return part_key(said, statistic, seed), [m.id for m in used]


def wanted_settings(
    found: Sequence[StoredMeasurement], settings: RunSettings | str | None
) -> set[str]:
    """The settings hashes a table may use: the one asked for, else the latest measured."""
    if isinstance(settings, str):
        return {settings}
    if isinstance(settings, RunSettings):
        key = settings_key(settings)
        return {m.settings_hash for m in found if settings_key(m.part.settings) == key} or {
            identity_hash(settings, 1)
        }
    latest = max(found, key=lambda m: m.id, default=None)
    return {latest.settings_hash} if latest is not None else set()


def pooled_by_split(found: Iterable[StoredMeasurement], wanted: set[str]) -> dict[int, Pooled]:
    """Per split, the part's measurement with every successful bout pooled into one.

    A sweep measures each part in several bouts spread over its passes (``--rounds``), so slow
    drifts of the machine average out; the samples of all bouts with the same run settings
    belong to one measurement. A part with no successful bout is represented by its failure.
    """
    return {k: pool_bouts(ms) for k, ms in bouts_by_split(found, wanted).items()}


def bouts_by_split(
    found: Iterable[StoredMeasurement], wanted: set[str]
) -> dict[int, list[StoredMeasurement]]:
    bouts: dict[int, list[StoredMeasurement]] = {}
    for m in found:  # oldest first
        if m.split is None or m.settings_hash not in wanted:
            continue
        bouts.setdefault(m.split, []).append(m)
    return bouts


def used_bouts(bouts: list[StoredMeasurement]) -> list[StoredMeasurement]:
    """The bouts whose samples a part's statistics pool: the successful ones, or only the
    latest of them when their run settings differ (never pooled across settings)."""
    ok = [m for m in bouts if m.part.ok]
    if any(m.part.settings != ok[0].part.settings for m in ok):  # frozen: field by field
        return ok[-1:]
    return ok


def part_keys(
    found: Sequence[StoredMeasurement], wanted: set[str], statistic: str
) -> dict[tuple[str, int], tuple[str, list[int]]]:
    """Per (side, split): the key of its kept statistics and the ids of the bouts behind it."""
    keys: dict[tuple[str, int], tuple[str, list[int]]] = {}
    for role, side in (("head", "client"), ("tail", "server")):
        mine = (m for m in found if m.role == role)
        for k, bouts in bouts_by_split(mine, wanted).items():
            used = used_bouts(bouts)
            if used:
                keys[(side, k)] = bouts_key(used, statistic, part_seed(k, side))
    return keys


# A part's measurement with its successful bouts pooled, and the steady samples of each bout.
Pooled = tuple[StoredMeasurement, list[list[float]]]


def pool_bouts(bouts: list[StoredMeasurement]) -> Pooled:
    """One measurement for the successful bouts of one part under one set of run settings
    (samples concatenated, KPIs averaged), with the samples still grouped by bout: samples
    within a bout are not independent, so the statistics resample whole bouts."""
    ok = used_bouts(bouts)
    if not ok:
        return bouts[-1], []
    if len(ok) == 1:
        return ok[0], [list(ok[0].part.steady_ms)]
    parts = [m.part for m in ok]

    def mean_of(values: list[float | None]) -> float | None:
        known = [v for v in values if v is not None]
        return statistics.fmean(known) if known else None

    first = parts[0]
    pooled = replace(
        first,
        init_ms=mean_of([p.init_ms for p in parts]),
        first_ms=mean_of([p.first_ms for p in parts]),
        warmup_ms=[v for p in parts for v in p.warmup_ms],
        steady_ms=[v for p in parts for v in p.steady_ms],
        steady_summary=pooled_summary([p.steady_summary for p in parts]),
        mem_init_mb=mean_of([p.mem_init_mb for p in parts]),
        mem_overall_mb=mean_of([p.mem_overall_mb for p in parts]),
        mem_peak_mb=max((p.mem_peak_mb for p in parts if p.mem_peak_mb is not None), default=None),
        evidence=[e for p in parts for e in p.evidence],
    )
    merged = replace(ok[-1], part=pooled, evidence=tuple(e for m in ok for e in m.evidence))
    return merged, [list(p.steady_ms) for p in parts]


def pooled_summary(summaries: list[StatsSummary | None]) -> StatsSummary | None:
    """Count/min/max/avg/std of the union of runs, from per-bout summaries (exact pooled
    variance: within-bout plus between-bout)."""
    known = [s for s in summaries if s is not None]
    if not known or len(known) != len(summaries):
        return None
    count = sum(s.count for s in known)
    if count == 0:
        return None
    avg = sum(s.avg_ms * s.count for s in known) / count
    var = sum(s.count * (s.std_ms**2 + (s.avg_ms - avg) ** 2) for s in known) / count
    return StatsSummary(
        count=count,
        min_ms=min(s.min_ms for s in known),
        max_ms=max(s.max_ms for s in known),
        avg_ms=avg,
        std_ms=var**0.5,
    )
