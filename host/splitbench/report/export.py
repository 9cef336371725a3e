"""Files people open: ``splits.csv`` (a stable public interface) and ``splits.xlsx`` (laid out
like the seed scenario's result table, so results can be pasted into a contribution as is).

Both are written from the split table of :mod:`splitbench.report.split_table` and add no
numbers of their own beyond unit conversion (bytes to KB, 1 KB = 1024 bytes).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
from openpyxl import Workbook
from openpyxl.cell.cell import Cell
from openpyxl.comments import Comment
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from splitbench import __version__ as KIT_VERSION
from splitbench.measure.types import RunSettings
from splitbench.network import NetworkConfig
from splitbench.report.columns import COLUMNS, Column, definition
from splitbench.report.split_table import best_splits, e2e_column
from splitbench.results import ResultsDB, SettingsRecord, TargetRecord
from splitbench.units import KB

# The columns of splits.csv that scripts may rely on. Keep these names stable.
REQUIRED_CSV_COLUMNS = (
    "split",
    "cut_tensors",
    "client_ms",
    "server_ms",
    "intermediate_bytes",
    "head_model_bytes",
    "tail_model_bytes",
    "max_abs_diff",
)

SHEET_TABLE = "Split table"
SHEET_META = "Metadata"
SHEET_KPIS = "KPIs per split"
SHEET_ANCHORS = "Anchors"
BEST_FILL = PatternFill(fill_type="solid", start_color="FFC6EFCE", end_color="FFC6EFCE")
# the contenders of a network whose best split the data cannot separate from others
TIE_FILL = PatternFill(fill_type="solid", start_color="FFFFEB9C", end_color="FFFFEB9C")
HEADER_FONT = Font(bold=True)


def _check_columns(df: pd.DataFrame, networks: Sequence[NetworkConfig] = ()) -> None:
    wanted = [*REQUIRED_CSV_COLUMNS, *(e2e_column(cfg) for cfg in networks)]
    missing = [c for c in wanted if c not in df.columns]
    if missing:
        raise ValueError(f"split table lacks column(s) {', '.join(missing)}")


def write_csv(df: pd.DataFrame, path: Path) -> Path:
    """``splits.csv``: every column of the split table, one row per split, NaN as empty.
    Every column must be defined in :mod:`splitbench.report.columns`."""
    from splitbench.report import columns

    _check_columns(df)
    columns.check(df.columns)
    if not any(c.startswith("e2e_ms_") for c in df.columns):
        raise ValueError("split table has no e2e_ms_<config> column (no network configuration)")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(path, index=False, na_rep="")
    return path


def write_anchor_csv(df: pd.DataFrame, path: Path) -> Path:
    """``anchors.csv``: one row per all-on-the-server anchor (picture codec). Every column must
    be defined in :data:`splitbench.report.columns.ANCHOR_COLUMNS`."""
    from splitbench.report import columns

    columns.check(df.columns, columns.ANCHOR_COLUMNS)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(path, index=False, na_rep="")
    return path


def write_xlsx(
    df: pd.DataFrame,
    networks: Sequence[NetworkConfig],
    path: Path,
    meta: Mapping[str, Any] | None = None,
    anchors: pd.DataFrame | None = None,
) -> Path:
    """``splits.xlsx``: the scenario's result table (best split per configuration highlighted),
    the metadata a reader needs to trust it, every per-split KPI and the anchors (one row per
    picture codec of the all-on-the-server anchor)."""
    _check_columns(df, networks)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    wb = Workbook()
    table = wb.active
    assert table is not None
    table.title = SHEET_TABLE
    _write_table(table, df, networks)
    per_split, notes = split_off_notes(df)
    meta = dict(meta or {})
    if notes:
        meta["notes"] = {**dict(meta.get("notes", {})), **notes}
    _write_meta(wb.create_sheet(SHEET_META), networks, meta)
    _write_kpis(wb.create_sheet(SHEET_KPIS), per_split)
    if anchors is not None and not anchors.empty:
        from splitbench.report.columns import ANCHOR_COLUMNS

        _write_kpis(wb.create_sheet(SHEET_ANCHORS), anchors, ANCHOR_COLUMNS)
    wb.save(path)
    return path


def split_off_notes(df: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, str]]:
    """Text columns that say the same thing on every row (e.g. ``prediction_note``: why no
    per-operator prediction exists) belong in the metadata once, not repeated per split.
    Returns the table without them and ``{column: text}``."""
    notes: dict[str, str] = {}
    if len(df) < 2:
        return df, notes
    for col in df.columns:
        values = df[col]
        if not pd.api.types.is_string_dtype(values) or values.isna().any():
            continue
        first = values.iloc[0]
        if isinstance(first, str) and len(first) > 40 and (values == first).all():
            notes[str(col)] = first
    return df.drop(columns=list(notes)), notes


def metadata_from_db(
    db: ResultsDB,
    model_sha: str,
    client: str,
    server: str,
    settings_hash: str | None = None,
    *,
    output_bytes: int | None = None,
) -> dict[str, Any]:
    """What a reader needs to trust a table, gathered from the database for ``write_xlsx``:
    the model and its hash, both targets (CPU, cores, runtime, kit version, device details),
    the settings as the user asked for them (totals over the bouts, not the per-bout share the
    runner was given), and the methods and runtimes the measurements were taken with (only
    those of the settings identity ``settings_hash`` when given, else the latest measured).

    ``output_bytes`` fills the model's output size when the database has none recorded."""
    meta: dict[str, Any] = {}
    model = db.model(model_sha)
    meta["model"] = dataclasses.asdict(model) if model else {"sha256": model_sha}
    if meta["model"].get("output_bytes") is None and output_bytes is not None:
        meta["model"]["output_bytes"] = output_bytes
    for role, name in (("client", client), ("server", server)):
        record = db.target(name)
        meta[role] = _target_meta(record) if record else {"name": name}
    sets = db.settings_sets(model_sha, targets=sorted({client, server}))
    chosen = next((s for s in sets if s.hash == settings_hash), None)
    if chosen is None and settings_hash is None and sets:
        chosen = sets[-1]
        settings_hash = chosen.hash
    used = [
        m
        for m in db.measurements(model_sha, settings_hash=settings_hash, with_samples=False)
        if m.target in (client, server)
    ]
    meta["run_settings"] = asked_settings(chosen) if chosen else {"hash": settings_hash}
    meta["measurements"] = {
        "count": len(used),
        "failed": sum(not m.part.ok for m in used),
        "methods": sorted({f"{m.part.method} ({m.part.runtime})" for m in used}),
        "first_finished": min((m.finished_at for m in used), default=None),
        "last_finished": max((m.finished_at for m in used), default=None),
    }
    if len(sets) > 1:
        meta["other_settings_in_db"] = [s.describe() for s in sets if s is not chosen]
    return meta


def asked_settings(record: SettingsRecord) -> dict[str, Any]:
    """The run settings as the user gave them on the command line: ``--runs``, ``--min-secs``
    and the warm-up are totals over the ``--rounds`` bouts, so the per-bout settings the runner
    received are multiplied back. With the bout count unknown (an old database) the per-bout
    values are shown as such."""
    s, rounds = record.settings, record.rounds
    if rounds is None:
        return {
            "hash": record.hash,
            "per_bout": _settings_text(s),
            "rounds": "unknown (recorded before bouts were counted)",
        }
    return {
        "hash": record.hash,
        "threads": s.threads,
        "runs": s.num_runs * rounds,
        "min_secs": _round(s.min_secs * rounds),
        "warmup_runs": s.warmup_runs * rounds,
        "warmup_secs": _round(s.warmup_min_secs * rounds),
        "rounds": rounds,
        "max_secs_per_part": _round(s.max_secs * rounds),
        "per_bout": _settings_text(s),
    }


def _settings_text(s: RunSettings) -> str:
    """The per-bout settings in words, times to 3 significant digits (1 s over 6 bouts is
    "0.167 s", not "0.166667 s")."""
    return (
        f"threads {s.threads}, runs >= {s.num_runs}, min {s.min_secs:.3g} s, warm-up >= "
        f"{s.warmup_runs} runs / {s.warmup_min_secs:.3g} s, max {s.max_secs:.3g} s"
    )


def _round(value: float) -> float:
    """Undo the float noise of dividing by the bout count (1/6 * 6 = 1.0000000000000002)."""
    return float(f"{value:.6g}")


def _target_meta(record: TargetRecord) -> dict[str, Any]:
    info = record.info
    return {
        "name": info.name,
        "kind": info.kind,
        "cpu_model": info.cpu_model,
        "cores": info.cores,
        "runtime": info.runtime,
        "kit_version": record.kit_version,
        "first_seen": record.first_seen,
        **dict(info.extra),
    }


def scenario_headers(networks: Sequence[NetworkConfig]) -> list[str]:
    return [
        "Split point (client:server)",
        "Operators on client",
        "Operators on server",
        "Processing time on client (ms)",
        "Intermediate model size (head, KB)",
        "Intermediate data size (KB)",
        "Processing time on server (ms)",
        *(f"End-to-end latency {cfg.name} (ms)" for cfg in networks),
        "Lossless",
        *(f"End-to-end 95 % interval {cfg.name} (ms)" for cfg in networks),
        *(f"P(best) {cfg.name}" for cfg in networks),
        "Unstable",
    ]


def _write_table(ws: Worksheet, df: pd.DataFrame, networks: Sequence[NetworkConfig]) -> None:
    from splitbench.report.split_stats import STATISTIC, verdicts_of

    headers = scenario_headers(networks)
    _header_row(ws, headers)
    best = best_splits(df, networks)
    verdicts = verdicts_of(df)
    first_e2e = 8  # 1-based column of the first end-to-end latency
    # to_dict, not itertuples: names like e2e_ms_5G-median are not Python identifiers.
    for r, rec in enumerate(df.to_dict("records"), start=2):
        values = [
            f"{rec['on_client']}:{rec['on_server']}",
            _cell(rec["on_client"]),
            _cell(rec["on_server"]),
            _cell(rec["client_ms"]),
            _kb(rec["head_model_bytes"]),
            _kb(rec["intermediate_bytes"]),
            _cell(rec["server_ms"]),
            *(_cell(rec[e2e_column(cfg)]) for cfg in networks),
            _lossless(rec["lossless"]),
            *(_interval_text(rec, cfg) for cfg in networks),
            *(_cell(rec.get(f"p_best_{cfg.name}")) for cfg in networks),
            _unstable_text(rec),
        ]
        for c, value in enumerate(values, start=1):
            _put(ws, r, c, value)
        for c in (4, 7, *range(first_e2e, first_e2e + len(networks))):
            ws.cell(row=r, column=c).number_format = "0.00"
        for c in (5, 6):
            ws.cell(row=r, column=c).number_format = "0.0"
        for c, key in ((4, "client_error"), (7, "server_error")):
            if rec.get(key):
                ws.cell(row=r, column=c).comment = Comment(str(rec[key]), "splitbench")
        for c in range(first_e2e + 2 * len(networks) + 1, first_e2e + 3 * len(networks) + 1):
            ws.cell(row=r, column=c).number_format = "0.000"
        for i, cfg in enumerate(networks):
            v = verdicts.get(cfg.name)
            cell = ws.cell(row=r, column=first_e2e + i)
            if v is not None and v.tied and rec["split"] in v.contenders:
                cell.fill = TIE_FILL
            elif best.get(cfg.name) == rec["split"]:
                cell.fill = BEST_FILL
                cell.font = HEADER_FONT
    note_row = len(df) + 3
    statistic = df.attrs.get(STATISTIC)
    client = f"Client: {df['client_kind'].iloc[0]}. " if "client_kind" in df and len(df) else ""
    notes = [
        f"{client}Highlighted green: the best split per network configuration; yellow: splits "
        "tied for best within the measurement noise (P(best) >= 0.05 each). "
        "Empty time: the part could not be measured (see the cell comment). 1 KB = 1024 bytes.",
        *(
            [
                f"Processing times are the {statistic} of each part's samples; the 95 % "
                "intervals resample the bouts of client and server (docs/statistics.md)."
            ]
            if statistic
            else []
        ),
        *(v.text() + "." for v in verdicts.values()),
    ]
    for i, text in enumerate(notes):
        _put(ws, note_row + i, 1, text)
    ws.freeze_panes = "B2"
    _widths(ws, headers, minimum=10)


def _interval_text(rec: Mapping[str, Any], cfg: NetworkConfig) -> str | None:
    lo, hi = rec.get(f"e2e_lo_ms_{cfg.name}"), rec.get(f"e2e_hi_ms_{cfg.name}")
    if lo is None or hi is None or lo != lo or hi != hi:
        return None
    return f"{lo:.2f}–{hi:.2f}"


def _unstable_text(rec: Mapping[str, Any]) -> str | None:
    found = [
        f"{role}: {rec[f'{side}_unstable']}"
        for side, role in (("client", "head"), ("server", "tail"))
        if isinstance(rec.get(f"{side}_unstable"), str) and rec[f"{side}_unstable"]
    ]
    return "; ".join(found) or None


def _write_meta(ws: Worksheet, networks: Sequence[NetworkConfig], meta: Mapping[str, Any]) -> None:
    _header_row(ws, ["Key", "Value"])
    rows: list[tuple[str, Any]] = [
        ("generated_at", datetime.now(UTC).isoformat(timespec="seconds")),
        ("splitbench_version", KIT_VERSION),
    ]
    rows += _flatten(meta)
    r = 2
    for key, value in rows:
        _put(ws, r, 1, key)
        _put(ws, r, 2, value)
        r += 1
    r += 1
    net_headers = [
        "Network",
        "Uplink (Mbit/s)",
        "Downlink (Mbit/s)",
        "RTT (ms)",
        "Source",
        "Loss",
        "Transport",
    ]
    for c, title in enumerate(net_headers, start=1):
        _put(ws, r, c, title).font = HEADER_FONT
    for cfg in networks:
        r += 1
        row = (
            cfg.name,
            cfg.uplink_mbps,
            cfg.downlink_mbps,
            cfg.rtt_ms,
            cfg.source,
            cfg.loss,
            _transport_text(cfg),
        )
        for c, value in enumerate(row, start=1):
            _put(ws, r, c, value)
    ws.column_dimensions["A"].width = 34
    ws.column_dimensions["B"].width = 60
    for col in "CDF":
        ws.column_dimensions[col].width = 18
    ws.column_dimensions["E"].width = 100
    ws.column_dimensions["G"].width = 40


def _transport_text(cfg: NetworkConfig) -> str:
    """How a profile's transfers are computed, with the rate distributions when given."""
    if not cfg.simulated:
        return "ideal (arithmetic)"
    text = f"tcp (ns-3), {cfg.connection} connection"
    if cfg.variable:
        text += f", {cfg.draws} draws"
    for what, dist in (("uplink", cfg.uplink_dist), ("downlink", cfg.downlink_dist)):
        if dist is not None:
            text += f", {what} p10/p50/p90 {dist.p10:g}/{dist.p50:g}/{dist.p90:g} Mbit/s"
    return text


# How a number of each unit (splitbench.report.columns) is shown: the stored value is exact, the
# cell shows what a measurement can tell (no 16-digit floats such as 0.0005660000000000001).
UNIT_FORMATS = {"ms": "0.000", "bytes": "#,##0", "ratio": "0.0000", "MB": "0.00", "count": "0"}
SMALL_FORMAT = "0.00E+00"  # unitless floats: differences such as max_abs_diff


def _write_kpis(ws: Worksheet, df: pd.DataFrame, registry: tuple[Column, ...] = COLUMNS) -> None:
    headers = [str(c) for c in df.columns]
    _header_row(ws, headers)
    units = []
    for name in headers:
        found = definition(name, registry)
        units.append(found.unit if found else "")
    for r, row in enumerate(df.itertuples(index=False), start=2):
        for c, value in enumerate(row, start=1):
            cell = _put(ws, r, c, _cell(value))
            if isinstance(cell.value, float):
                cell.number_format = UNIT_FORMATS.get(units[c - 1], SMALL_FORMAT)
    ws.freeze_panes = "B2"
    _widths(ws, headers, minimum=8)


def _header_row(ws: Worksheet, headers: Sequence[str]) -> None:
    for c, title in enumerate(headers, start=1):
        cell = _put(ws, 1, c, title)
        cell.font = HEADER_FONT
        cell.alignment = Alignment(wrap_text=True, vertical="top")


def _put(ws: Worksheet, row: int, column: int, value: Any) -> Cell:
    """Write one cell. A string is always stored as text: openpyxl would store one starting
    with "=" as a live formula, and names in a workbook come from the user (model and tensor
    file names, target serials, network names, notes, error messages)."""
    cell = ws.cell(row=row, column=column, value=value)
    if isinstance(value, str):
        cell.data_type = "s"
    return cell


def _widths(ws: Worksheet, headers: Sequence[str], *, minimum: int) -> None:
    for c, title in enumerate(headers, start=1):
        ws.column_dimensions[get_column_letter(c)].width = max(minimum, min(len(title), 24) + 2)


def _cell(value: Any) -> Any:
    """A value openpyxl can store: NaN/NA become an empty cell (an unknown is not a zero)."""
    if value is None or value is pd.NA:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if hasattr(value, "item"):  # numpy / pandas scalars
        value = value.item()
    return value


def _kb(nbytes: Any) -> float | None:
    value = _cell(nbytes)
    return None if value is None else value / KB


def _lossless(value: Any) -> str | None:
    value = _cell(value)
    if value is None:
        return None
    return "yes" if value else "no"


def _flatten(meta: Mapping[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    """Nested metadata (targets, settings, versions) as dotted key/value rows."""
    rows: list[tuple[str, Any]] = []
    for key, value in meta.items():
        name = f"{prefix}{key}"
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            value = dataclasses.asdict(value)
        if isinstance(value, Mapping):
            rows += _flatten(value, f"{name}.")
        elif isinstance(value, list | tuple):
            if all(isinstance(v, str | int | float) for v in value):
                rows.append((name, ", ".join(str(v) for v in value)))
            else:
                for i, item in enumerate(value):
                    rows += _flatten({str(i): item}, f"{name}.")
        elif value is None or isinstance(value, str | int | float | bool):
            rows.append((name, value))
        else:
            rows.append((name, str(value)))
    return rows
