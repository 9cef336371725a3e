"""What ``report.html`` shows, as plain data: built here in Python from the split tables and the
network model, so the page's JavaScript only draws and sorts and never does arithmetic of its
own (the page, the CSV, the workbook and the PNGs cannot disagree).

Format-agnostic: every column a table has is carried; columns other stages add (codec columns
such as ``cut_coded_bytes`` and ``e2e_coded_ms_<network>``, ``conversion_max_abs_diff``, ...)
appear in the page when present and are simply absent otherwise.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from splitbench.network import NetworkConfig
from splitbench.report.plots import best_split_curve, latency_components, uplink_axis
from splitbench.report.split_stats import STATISTIC, unstable_parts, verdicts_of
from splitbench.report.split_table import e2e_column

# Columns shown by default in the per-split table, in this order (when present); every other
# column of the table is behind "all columns".
MAIN_COLUMNS = (
    "split",
    "client_ms",
    "server_ms",
    "intermediate_bytes",
    "cut_coded_bytes",
    "head_model_bytes",
    "tail_model_bytes",
    "lossless",
    "bit_exact",
    "max_abs_diff",
    "conversion_max_abs_diff",
)
ERROR_COLUMNS = (
    "client_error",
    "server_error",
    "client_unstable",
    "server_unstable",
    "verify_error",
)
COMPONENTS = ("client", "uplink", "server", "downlink")


@dataclass(frozen=True)
class ClientSection:
    """One client's split table (a run with several phones has one per phone)."""

    client: str
    table: pd.DataFrame
    best: Mapping[str, int]
    settings_label: str = ""
    # the all-on-the-server anchors (anchors.csv): one row per picture codec
    anchors: pd.DataFrame = field(default_factory=pd.DataFrame)


@dataclass(frozen=True)
class RunFacts:
    """What was run, for the top of the page. ``targets`` maps a target name to its facts."""

    model: Mapping[str, Any]
    targets: Mapping[str, Mapping[str, Any]]
    settings: Mapping[str, Any]
    measurements: Mapping[str, Any]
    kit_version: str
    generated_at: str
    notes: Mapping[str, str] = field(default_factory=dict)
    extra: Mapping[str, Any] = field(default_factory=dict)


def _clean(value: Any) -> Any:
    """JSON-safe: NaN/NA become null, numpy scalars plain numbers."""
    if value is None or value is pd.NA:
        return None
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _floats(values: Any) -> list[float | None]:
    return [_clean(float(v)) for v in np.asarray(values, dtype=float)]


def best_summary(
    table: pd.DataFrame, cfg: NetworkConfig, num_operators: int
) -> dict[str, Any] | None:
    """Best split for one network with its margin to the runner-up and to the two anchors
    (all on the phone: split N; all on the server: split 0). None when nothing was measured."""
    col = e2e_column(cfg)
    if col not in table.columns:
        return None
    e2e = pd.to_numeric(table[col], errors="coerce").astype(float)
    splits = table["split"].astype(int)
    valid = e2e.notna()
    if not valid.any():
        return None
    order = sorted(zip(e2e[valid], splits[valid], strict=True), key=lambda t: (t[0], t[1]))
    best_ms, best_k = order[0]

    def at(k: int) -> float | None:
        hit = e2e[splits == k]
        return None if hit.empty or pd.isna(hit.iloc[0]) else float(hit.iloc[0])

    def margin(other: float | None) -> dict[str, float] | None:
        if other is None:
            return None
        return {"ms": other - best_ms, "pct": 100.0 * (other - best_ms) / best_ms if best_ms else 0}

    runner = order[1] if len(order) > 1 else None
    phone, server = at(num_operators), at(0)
    parts = latency_components(table, cfg)
    inter = pd.to_numeric(table["intermediate_bytes"], errors="coerce").astype(float)

    def composition(k: int) -> dict[str, float | None]:
        """Where split k's end-to-end time goes: the 'why' behind a ranking."""
        i = int(np.flatnonzero(splits.to_numpy() == k)[0])
        out = {name: _clean(float(parts[name][i])) for name in COMPONENTS}
        out["intermediate_bytes"] = _clean(float(inter.iloc[i]))
        return out

    def interval(k: int, column: str) -> tuple[float, float]:
        row = table.loc[splits == k]
        lo, hi = f"{column.replace('_ms', '_lo_ms', 1)}", f"{column.replace('_ms', '_hi_ms', 1)}"
        if row.empty or lo not in table.columns:
            return (math.nan, math.nan)
        return float(row[lo].iloc[0]), float(row[hi].iloc[0])

    best_lo, best_hi = interval(int(best_k), col)
    return {
        "network": cfg.name,
        "statistic": str(table.attrs.get(STATISTIC, "")),
        "best": int(best_k),
        "best_ms": float(best_ms),
        "best_lo_ms": _clean(best_lo),
        "best_hi_ms": _clean(best_hi),
        "verdict": _verdict(table, cfg),
        # the runner-up's and the best's end-to-end intervals overlap: the margin is noise
        "runner_up_in_noise": None
        if runner is None
        else _overlap((best_lo, best_hi), interval(int(runner[1]), col)),
        "runner_up": None if runner is None else int(runner[1]),
        "runner_up_ms": None if runner is None else float(runner[0]),
        "runner_up_margin": None if runner is None else margin(float(runner[0])),
        "all_on_phone_ms": phone,
        "all_on_phone_margin": margin(phone),
        "all_on_server_ms": server,
        "all_on_server_margin": margin(server),
        "coded": _coded_best(table, cfg),
        "ideal": _ideal_best(table, cfg, float(best_ms), int(best_k)),
        "composition": {
            "best": composition(int(best_k)),
            "runner_up": None if runner is None else composition(int(runner[1])),
            # per measured component: True when best and runner-up differ only within the
            # noise (their 95 % intervals overlap); the "why" sentence leaves those out
            "in_noise": None
            if runner is None
            else {
                side: _overlap(
                    interval(int(best_k), f"{side}_ms"), interval(int(runner[1]), f"{side}_ms")
                )
                for side in ("client", "server")
            },
        },
    }


def _overlap(a: tuple[float, float], b: tuple[float, float]) -> bool:
    """Two 95 % intervals overlap (unknown intervals count as not overlapping)."""
    if not all(math.isfinite(v) for v in (*a, *b)):
        return False
    return a[0] <= b[1] and b[0] <= a[1]


def _verdict(table: pd.DataFrame, cfg: NetworkConfig) -> dict[str, Any] | None:
    """The verdict of one network (:mod:`splitbench.stats.verdict`) as page data."""
    v = verdicts_of(table).get(cfg.name)
    if v is None:
        return None
    return {
        "tied": v.tied,
        "contenders": list(v.contenders),
        "p_best": _clean(v.p_best.get(v.best)),
        "text": v.text(),
    }


def _ideal_best(
    table: pd.DataFrame, cfg: NetworkConfig, best_ms: float, best_k: int
) -> dict[str, Any] | None:
    """For a ``tcp`` profile: the arithmetic's best split and how far the simulated TCP end to
    end is from the arithmetic at the TCP best split; None for an ideal profile."""
    col = f"e2e_ideal_ms_{cfg.name}"
    if col not in table.columns:
        return None
    ideal = pd.to_numeric(table[col], errors="coerce").astype(float)
    if not ideal.notna().any():
        return None
    i = ideal.idxmin()
    at_best = ideal[table["split"] == best_k]
    same = None if at_best.empty or pd.isna(at_best.iloc[0]) else float(at_best.iloc[0])
    p90 = pd.to_numeric(table.get(f"e2e_p90_ms_{cfg.name}"), errors="coerce")
    p90_best = None if p90 is None else _clean(float(p90[table["split"] == best_k].iloc[0]))
    return {
        "best": int(table.loc[i, "split"]),
        "best_ms": float(ideal.loc[i]),
        "at_tcp_best_ms": same,
        "tcp_minus_ideal_ms": None if same is None else best_ms - same,
        "tcp_best_p90_ms": p90_best,
    }


def _coded_best(table: pd.DataFrame, cfg: NetworkConfig) -> dict[str, Any] | None:
    """The best split when the cut is coded (``e2e_coded_ms_<network>``, added by a sweep with
    ``--cut-codec``); None without that column."""
    col = f"e2e_coded_ms_{cfg.name}"
    if col not in table.columns:
        return None
    e2e = pd.to_numeric(table[col], errors="coerce").astype(float)
    if not e2e.notna().any():
        return None
    i = e2e.idxmin()
    return {"best": int(table.loc[i, "split"]), "best_ms": float(e2e.loc[i])}


def _section(
    sec: ClientSection, networks: Sequence[NetworkConfig], uplinks: np.ndarray
) -> dict[str, Any]:
    table = sec.table
    n = int(table["on_client"].iloc[0]) + int(table["on_server"].iloc[0])
    components = {}
    curves = {}
    for cfg in networks:
        parts = latency_components(table, cfg)
        components[cfg.name] = {k: _floats(v) for k, v in parts.items()}
        components[cfg.name].update(_error_bars(table, cfg))
        best, best_ms = best_split_curve(
            table, uplinks, downlink_mbps=cfg.downlink_mbps, rtt_ms=cfg.rtt_ms
        )
        _, server_ms = best_split_curve(
            table[table["split"] == 0], uplinks, downlink_mbps=cfg.downlink_mbps, rtt_ms=cfg.rtt_ms
        )
        curves[cfg.name] = {
            "best": [None if k < 0 else int(k) for k in best],
            "best_ms": _floats(best_ms),
            "all_on_server_ms": _floats(server_ms),
        }
    _, phone_ms = best_split_curve(
        table[table["split"] == n], uplinks[:1], downlink_mbps=1, rtt_ms=0
    )
    columns = [str(c) for c in table.columns]
    ms_range = _uplink_ms_range(curves, networks, uplinks, _clean(float(phone_ms[0])))
    main = [c for c in MAIN_COLUMNS if c in columns]
    main += [c for c in columns if c.startswith(("e2e_ms_", "e2e_coded_ms_"))]
    main += [c for c in ERROR_COLUMNS if c in columns]
    more = [c for c in columns if c not in main and c not in ("on_client", "on_server")]
    rows = [{str(k): _clean(v) for k, v in rec.items()} for rec in table.to_dict("records")]
    # Empty parts are 0 by either method; a prediction exists where some other split has one.
    predicted = any(
        c in columns and (pd.to_numeric(table[c], errors="coerce").fillna(0) != 0).any()
        for c in ("client_ms_predicted", "server_ms_predicted")
    )
    return {
        "client": sec.client,
        "settings_label": sec.settings_label,
        "num_operators": n,
        "rows": rows,
        "columns": {"main": main, "more": more},
        "components": components,
        "curves": curves,
        "all_on_phone_ms": _clean(float(phone_ms[0])),
        "uplink_ms_range": ms_range,
        "best": {cfg.name: best_summary(table, cfg, n) for cfg in networks},
        "has_predicted": bool(predicted),
        "coded": [c for c in columns if c.startswith("e2e_coded_ms_")],
        "anchors": _anchors(sec, networks, n),
        "statistic": str(table.attrs.get(STATISTIC, "")),
        "unstable": unstable_parts(table, n),
    }


def _error_bars(table: pd.DataFrame, cfg: NetworkConfig) -> dict[str, list[float | None]]:
    """The end-to-end 95 % interval as error bars (above and below the point) per split."""
    lo, hi = f"e2e_lo_ms_{cfg.name}", f"e2e_hi_ms_{cfg.name}"
    if lo not in table.columns:
        return {}
    e2e = pd.to_numeric(table[e2e_column(cfg)], errors="coerce").to_numpy(dtype=float)
    low = pd.to_numeric(table[lo], errors="coerce").to_numpy(dtype=float)
    high = pd.to_numeric(table[hi], errors="coerce").to_numpy(dtype=float)
    return {
        "e2e": _floats(e2e),
        "e2e_err_plus": _floats(high - e2e),
        "e2e_err_minus": _floats(e2e - low),
    }


def _anchors(
    sec: ClientSection, networks: Sequence[NetworkConfig], n: int
) -> dict[str, Any] | None:
    """The anchor rows and, per network, the best split against the best anchor (the verdict
    and its sentence, computed here so the page does no arithmetic)."""
    from splitbench.report.anchor_table import verdict, verdict_text

    anchors = sec.anchors
    if anchors.empty:
        return None
    verdicts: dict[str, Any] = {}
    for cfg in networks:
        v = verdict(sec.table, anchors, dict(sec.best), cfg)
        if v is not None:
            verdicts[cfg.name] = {
                k: _clean(x) for k, x in {**v, "text": verdict_text(v, n)}.items()
            }
    rows = [{str(k): _clean(v) for k, v in rec.items()} for rec in anchors.to_dict("records")]
    return {"rows": rows, "columns": [str(c) for c in anchors.columns], "verdict": verdicts}


def _uplink_ms_range(
    curves: Mapping[str, Mapping[str, list[float | None]]],
    networks: Sequence[NetworkConfig],
    uplinks: np.ndarray,
    phone_ms: float | None,
) -> list[float] | None:
    """The latency axis of the best-split-vs-uplink chart, as in the PNG: every best-split curve
    and each network's anchors at its own uplink fit; all-on-server at a very slow uplink (which
    can take minutes) leaves through the top."""
    lows: list[float] = []
    highs: list[float] = [] if phone_ms is None else [phone_ms]
    for cfg in networks:
        c = curves[cfg.name]
        best = [v for v in c["best_ms"] if v is not None]
        if best:
            lows.append(min(best))
            highs.append(max(best))
        server = np.array([np.nan if v is None else v for v in c["all_on_server_ms"]])
        if not np.isnan(server).all():
            at = float(np.interp(np.log(cfg.uplink_mbps), np.log(uplinks), server))
            highs.append(at)
    if not lows or not highs:
        return None
    return [min(lows) / 1.3, max(highs) * 2.0]


def report_payload(
    sections: Sequence[ClientSection],
    networks: Sequence[NetworkConfig],
    facts: RunFacts,
    *,
    same_machine: str | None = None,
) -> dict[str, Any]:
    """Everything the page needs, JSON-serialisable."""
    uplinks = uplink_axis(networks, points=200)
    return {
        "facts": {
            "model": {k: _clean(v) for k, v in facts.model.items()},
            "targets": {
                name: {k: _clean(v) for k, v in info.items()}
                for name, info in facts.targets.items()
            },
            "settings": {k: _clean(v) for k, v in facts.settings.items()},
            "measurements": {k: _clean(v) for k, v in facts.measurements.items()},
            "kit_version": facts.kit_version,
            "generated_at": facts.generated_at,
            "notes": dict(facts.notes),
            "extra": {k: _clean(v) for k, v in facts.extra.items()},
        },
        "same_machine": same_machine,
        "networks": [
            {
                "name": cfg.name,
                "uplink_mbps": cfg.uplink_mbps,
                "downlink_mbps": cfg.downlink_mbps,
                "rtt_ms": cfg.rtt_ms,
                "source": cfg.source,
                "transport": cfg.transport,
                "connection": cfg.connection,
                "loss": cfg.loss,
                "draws": cfg.draws if cfg.simulated and cfg.variable else None,
                "uplink_dist": None if cfg.uplink_dist is None else vars(cfg.uplink_dist),
                "downlink_dist": None if cfg.downlink_dist is None else vars(cfg.downlink_dist),
            }
            for cfg in networks
        ],
        "uplinks": _floats(uplinks),
        "sections": [_section(sec, networks, uplinks) for sec in sections],
    }
