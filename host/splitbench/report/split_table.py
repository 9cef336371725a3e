"""The split table: one row per split point, from the raw samples in a results database.

This is where statistics are made — from raw samples, at reporting time (pyperf's rule) — and
where measured times meet the network model of :mod:`splitbench.network`. The table is the
single source for ``splits.csv``, the workbook and the plots, so they can never disagree.

Conventions that matter to a reader of the numbers:

* Split ``k`` runs operators ``0..k-1`` on the client (the head) and the rest on the server (the
  tail). An empty part costs exactly 0: split 0 has no head, split N no tail.
* A part that could not be measured has NaN times (and NaN end-to-end latency), never 0, and
  its failure text in ``client_error`` / ``server_error``. A part not measured yet is NaN with
  no error.
* Run settings are part of a measurement's identity: a table uses one settings identity (the
  latest measured one unless told), so unlike measurements are never mixed. Within it, the
  successful bouts of a part are pooled; a part with none shows its latest failure.
* ``client_ms`` / ``server_ms`` are the chosen statistic (median by default, or mean) of the
  pooled samples, with a 95 % interval from resampling the bouts (:mod:`splitbench.stats`);
  end to end gets an interval and every split its probability of being best
  (:mod:`.split_stats`).
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from splitbench.measure.types import PartMeasurement, RunSettings
from splitbench.network import NetworkConfig, delivery_ms, e2e_ms
from splitbench.network.config import as_ideal
from splitbench.network.tcp import NetworkSimulationError, TransferTimes, transfer_times
from splitbench.report.bouts import (
    Pooled,
    bouts_key,
    keep,
    kept_or_samples,
    part_keys,
    pool_bouts,
    pooled_by_split,
    resampled,
    used_bouts,
    wanted_settings,
)
from splitbench.report.split_stats import STAT_FIELDS, add_intervals, part_seed, stat_values
from splitbench.results import ResultsDB, SplitRecord
from splitbench.stats.kept import KeptPart
from splitbench.stats.parts import (
    PartStats,
    check_statistic,
    empty_part,
    part_stats,
    summary_only,
    unknown_part,
)

NAN = float("nan")
WHOLE_SEED = 0  # the whole model's draws (its key names its own bouts, never a split's)

# Per-side columns, in table order: timing statistics (STAT_FIELDS), then the seed's KPIs
# (clause 10.2.7).
KPI_FIELDS = (
    "init_ms",
    "first_ms",
    "warmup_ms",
    "mem_init_mb",
    "mem_mb",
    "mem_peak_mb",
    "runs",
)


def e2e_column(cfg: NetworkConfig) -> str:
    return f"e2e_ms_{cfg.name}"


def delivery_column(cfg: NetworkConfig) -> str:
    return f"delivery_ms_{cfg.name}"


# A table's attribute (DataFrame.attrs) holding why tcp profiles fell back to the arithmetic.
NETWORK_ERROR = "network_error"


def build_split_table(
    db: ResultsDB | Path,
    model_sha: str,
    client: str,
    server: str,
    networks: Sequence[NetworkConfig],
    output_bytes: int,
    num_operators: int,
    *,
    settings: RunSettings | str | None = None,
    strategy: str = "direct",
    statistic: str = "median",
) -> pd.DataFrame:
    """One row per split ``0..num_operators`` for one client target and one server target.

    ``settings`` selects one settings identity: its hash (see ``ResultsDB.settings_sets``), or
    per-bout :class:`RunSettings` (any number of bouts). When None, the most recently measured
    identity of these targets is used — mixing settings in one table would compare unlike with
    unlike. ``strategy`` picks ``direct`` or ``predicted`` rows. ``statistic`` (``median`` or
    ``mean``) is what ``client_ms``/``server_ms`` and end to end use; ``df.attrs`` holds it
    and the verdict per network (:mod:`.split_stats`).
    """
    check_statistic(statistic)
    args = (model_sha, client, server, networks, output_bytes, num_operators, settings, strategy)
    args = (*args, statistic)
    if isinstance(db, ResultsDB):
        return _build(db, *args)
    with ResultsDB(db, create=False) as opened:
        return _build(opened, *args)


def _build(
    db: ResultsDB,
    model_sha: str,
    client: str,
    server: str,
    networks: Sequence[NetworkConfig],
    output_bytes: int,
    num_operators: int,
    settings: RunSettings | str | None,
    strategy: str,
    statistic: str,
) -> pd.DataFrame:
    n = num_operators
    splits = {rec.split: rec for rec in db.splits(model_sha)}
    found = [
        *db.measurements(
            model_sha, target=client, role="head", strategy=strategy, with_samples=False
        ),
        *db.measurements(
            model_sha, target=server, role="tail", strategy=strategy, with_samples=False
        ),
    ]
    wanted = wanted_settings(found, settings)
    keys = part_keys(found, wanted, statistic)
    kept, found = kept_or_samples(db, found, keys.values())
    new: dict[str, KeptPart] = {}
    heads = pooled_by_split((m for m in found if m.role == "head"), wanted)
    tails = pooled_by_split((m for m in found if m.role == "tail"), wanted)
    model = db.model(model_sha)
    input_bytes = splits[0].intermediate_bytes if 0 in splits else None
    cut_sizes = [rec.intermediate_bytes for k, rec in splits.items() if k < n]
    times, networks, error = _simulated(networks, cut_sizes, output_bytes)

    rows: list[dict[str, Any]] = []
    parts: dict[str, list[PartStats]] = {"client": [], "server": []}
    for k in range(n + 1):
        rec = splits.get(k)
        row: dict[str, Any] = {
            "split": k,
            "on_client": k,
            "on_server": n - k,
            "cut_tensors": json.dumps(list(rec.cut_tensors)) if rec else None,
        }
        # A part with no file is empty: split 0's head, split N's tail, and a head or tail holding
        # only weight-transforming operators (they travel with the weights they feed).
        sides = {}
        for side, pooled, empty in (
            ("client", heads.get(k), k == 0 or (rec is not None and rec.head_bytes == 0)),
            ("server", tails.get(k), k == n or (rec is not None and rec.tail_bytes == 0)),
        ):
            key = keys.get((side, k), ("", []))[0]
            found_side = _side(
                pooled,
                empty=empty,
                statistic=statistic,
                seed=part_seed(k, side),
                kept=kept.get(key),
            )
            if (just := resampled(key, kept, found_side)) is not None:
                new[key] = just
            sides[side] = found_side
        client_side, server_side = sides["client"], sides["server"]
        parts["client"].append(client_side["stats"])
        parts["server"].append(server_side["stats"])
        row["client_ms"] = client_side["ms"]
        row["server_ms"] = server_side["ms"]
        for prefix, side in (("client", client_side), ("server", server_side)):
            for name in STAT_FIELDS:
                row[f"{prefix}_{name}"] = side[name]
        for prefix, side in (("client", client_side), ("server", server_side)):
            for name in KPI_FIELDS:
                row[f"{prefix}_{name}"] = side[name]
        row.update(_sizes(rec, output_bytes, model.file_bytes if model else None, input_bytes))
        if k == n and rec is not None:  # all on the client: the outputs stay, nothing crosses
            row["intermediate_bytes"], row["intermediate_ratio"] = 0, 0.0
        for cfg in networks:
            row.update(_e2e(row, cfg, times, output_bytes, k, n))
        for cfg in networks:
            head = _float(row["head_model_bytes"])
            row[delivery_column(cfg)] = NAN if np.isnan(head) else delivery_ms(head, cfg)
        row["client_error"] = client_side["error"]
        row["server_error"] = server_side["error"]
        row["client_unstable"] = client_side["unstable"]
        row["server_unstable"] = server_side["unstable"]
        rows.append(row)
    keep(db, kept, new, [key for key, _ids in keys.values()])
    df = _typed(pd.DataFrame(rows))
    df = add_intervals(df, parts["client"], parts["server"], networks, n, statistic)
    if error:
        df.attrs[NETWORK_ERROR] = error
    return df


def _simulated(
    networks: Sequence[NetworkConfig], cut_sizes: list[int], output_bytes: int
) -> tuple[TransferTimes | None, Sequence[NetworkConfig], str]:
    """The simulated transfers of the ``tcp`` profiles; when ns-3 cannot run, the profiles fall
    back to the ideal arithmetic and the reason is returned (the caller says it on one line)."""
    if not any(cfg.simulated for cfg in networks):
        return None, networks, ""
    try:
        return transfer_times(networks, cut_sizes, [output_bytes]), networks, ""
    except NetworkSimulationError as exc:
        ideal = as_ideal(list(networks))
        return None, ideal, f"{exc}; tcp profiles computed with the ideal arithmetic instead"


def _e2e(
    row: dict[str, Any],
    cfg: NetworkConfig,
    times: TransferTimes | None,
    output_bytes: int,
    k: int,
    n: int,
) -> dict[str, float]:
    """The end-to-end columns of one profile for one row.

    Ideal: ``e2e_ms_<network>`` by the arithmetic. TCP: the uplink and downlink medians of the
    simulated draws, ``e2e_ms`` = client + uplink + server + downlink, ``e2e_p90_ms`` = client +
    server + the 90th percentile of the draws' uplink + downlink, and the arithmetic beside them
    as ``e2e_ideal_ms``. Split N crosses no network: every column is the client time.
    """
    client, server = _float(row["client_ms"]), _float(row["server_ms"])
    cut = _float(row["intermediate_bytes"])
    ideal = e2e_ms(client, server, cut, output_bytes, cfg, split=k, num_operators=n)
    if times is None or not cfg.simulated:
        return {e2e_column(cfg): ideal}
    if k == n:
        up = down = np.zeros(1)
    else:
        up = times.of(cfg, "up", cut)
        down = times.of(cfg, "down", output_bytes)
    both = up + down
    return {
        f"uplink_ms_{cfg.name}": float(np.median(up)),
        f"downlink_ms_{cfg.name}": float(np.median(down)),
        e2e_column(cfg): client + float(np.median(up)) + server + float(np.median(down)),
        f"e2e_p90_ms_{cfg.name}": client + server + float(np.percentile(both, 90)),
        f"e2e_ideal_ms_{cfg.name}": ideal,
    }


def whole_model_ms(
    db: ResultsDB,
    model_sha: str,
    target: str,
    settings: str | None,
    statistic: str = "median",
) -> float:
    """Steady-state time (``statistic``) of the whole model on ``target`` (role ``whole``), its
    bouts pooled under one settings identity (the latest measured when ``settings`` is None);
    NaN when it was not measured. The all-on-the-server anchor's server time
    (:mod:`.anchor_table`)."""
    found = db.measurements(
        model_sha, target=target, role="whole", strategy="direct", with_samples=False
    )
    wanted = wanted_settings(found, settings)
    mine = [m for m in found if m.settings_hash in wanted]
    if not mine:
        return NAN
    used = used_bouts(mine)
    key, ids = bouts_key(used, statistic, WHOLE_SEED) if used else ("", [])
    kept, mine = kept_or_samples(db, mine, [(key, ids)])
    side = _side(
        pool_bouts(mine), empty=False, statistic=statistic, seed=WHOLE_SEED, kept=kept.get(key)
    )
    if (just := resampled(key, kept, side)) is not None:
        keep(db, kept, {key: just}, [key])
    return float(side["ms"])


def _side(
    pooled: Pooled | None, *, empty: bool, statistic: str, seed: int, kept: KeptPart | None = None
) -> dict[str, Any]:
    """Timing statistics and KPIs of one part; 0 for an empty part, NaN for an unknown one.
    ``stats`` is its :class:`PartStats` (draws for the end-to-end interval); ``kept``: what
    its raw samples gave before (:mod:`splitbench.stats.kept`), read instead of them."""
    fields = ("ms", *STAT_FIELDS, *KPI_FIELDS)
    if empty:
        zero = empty_part(statistic)
        return {**dict.fromkeys(fields, 0.0), "runs": 0, "error": None, "unstable": None,
                "stats": zero}  # fmt: skip
    out: dict[str, Any] = {**dict.fromkeys(fields, NAN), "error": None, "unstable": None}
    out["stats"] = unknown_part(statistic)
    if pooled is None:
        return out
    m, bouts = pooled
    part = m.part
    if not part.ok:
        out["error"] = part.error
        return out
    if kept is not None:
        out.update(_timing(kept.stats))
    elif part.steady_ms:
        out.update(_timing(part_stats(bouts, statistic, seed=seed)))
    elif part.steady_summary is not None:  # e.g. benchmark_model stdout: no raw samples
        summary = part.steady_summary
        out["stats"] = summary_only(summary.avg_ms, summary.std_ms, summary.count)
        out["ms"], out["mean_ms"] = summary.avg_ms, summary.avg_ms
        out["std_ms"] = summary.std_ms
        out["runs"] = summary.count
    out.update(_kpis(part))
    if kept is not None:
        out["warmup_ms"] = kept.warmup_ms
    return out


def _timing(s: PartStats) -> dict[str, Any]:
    return {
        "stats": s,
        "ms": s.estimate,
        **stat_values(s),
        "runs": s.n_samples,
        "unstable": s.unstable,
    }


def _kpis(part: PartMeasurement) -> dict[str, float]:
    out: dict[str, float] = {}
    out["init_ms"] = _float(part.init_ms)
    out["first_ms"] = _float(part.first_ms)
    out["warmup_ms"] = statistics.fmean(part.warmup_ms) if part.warmup_ms else NAN
    out["mem_init_mb"] = _float(part.mem_init_mb)
    out["mem_mb"] = _float(part.mem_overall_mb)
    out["mem_peak_mb"] = _float(part.mem_peak_mb)
    return out


def _sizes(
    rec: SplitRecord | None,
    output_bytes: int,
    model_bytes: int | None,
    input_bytes: int | None,
) -> dict[str, Any]:
    """Sizes and the lossless check, plus the seed's clause-6 ratios: head size against the
    whole (anchor) model, intermediate data against the input the anchor would upload."""
    if rec is None:
        return {
            "intermediate_bytes": None,
            "output_bytes": output_bytes,
            "head_model_bytes": None,
            "tail_model_bytes": None,
            "head_model_ratio": NAN,
            "intermediate_ratio": NAN,
            "max_abs_diff": NAN,
            "bit_exact": None,
            "lossless": None,
            "verify_error": None,
        }
    return {
        "intermediate_bytes": rec.intermediate_bytes,
        "output_bytes": output_bytes,
        "head_model_bytes": rec.head_bytes,
        "tail_model_bytes": rec.tail_bytes,
        "head_model_ratio": rec.head_bytes / model_bytes if model_bytes else NAN,
        "intermediate_ratio": rec.intermediate_bytes / input_bytes if input_bytes else NAN,
        "max_abs_diff": _float(rec.max_abs_diff),
        "bit_exact": None if rec.verify_error else rec.bit_exact,
        "lossless": None if rec.verify_error else rec.verify_passed,
        "verify_error": rec.verify_error,
    }


def _float(value: object) -> float:
    if value is None or value is pd.NA:
        return NAN
    return float(value)  # type: ignore[arg-type]


def _typed(df: pd.DataFrame) -> pd.DataFrame:
    """Integer columns stay integers (nullable where a split has no record yet)."""
    ints = ["split", "on_client", "on_server", "client_runs", "server_runs"]
    ints += ["intermediate_bytes", "output_bytes", "head_model_bytes", "tail_model_bytes"]
    for col in ints:
        df[col] = pd.array(
            [
                None if v is None or (isinstance(v, float) and np.isnan(v)) else int(v)
                for v in df[col]
            ],
            dtype="Int64",
        )
    for col in ("bit_exact", "lossless"):
        df[col] = pd.array(list(df[col]), dtype="boolean")
    for col in (
        "cut_tensors",
        "client_error",
        "server_error",
        "client_unstable",
        "server_unstable",
    ):
        df[col] = df[col].astype(object).where(df[col].notna(), None)
    return df


def best_splits(df: pd.DataFrame, networks: Sequence[NetworkConfig]) -> dict[str, int]:
    """Per configuration, the split with the lowest end-to-end latency.

    Rows with NaN (a part not measured or failed) are ignored; ties go to the lowest split, the
    one that keeps less on the phone. A configuration with no measured row is left out.
    """
    best: dict[str, int] = {}
    for cfg in networks:
        col = df[e2e_column(cfg)].astype(float)
        valid = col.dropna()
        if valid.empty:
            continue
        best[cfg.name] = int(df.loc[valid.idxmin(), "split"])
    return best
