"""Write the sweep's deliverables from the results database: splits.csv, splits.xlsx, plots.

Everything here is derived from the database (raw samples), so ``splitbench report`` can
rebuild the files at any time, e.g. with another network configuration file.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import pandas as pd

from splitbench.errors import IncompleteRun
from splitbench.graph import ModelGraph
from splitbench.network import NetworkConfig
from splitbench.presets import QUICK, preset_name
from splitbench.report.aside import Aside, Job
from splitbench.results import ResultsDB, SettingsRecord

QUICK_NOTE = "QUICK first look: less time behind each number, see the spread (std) columns"


@dataclass(frozen=True)
class ReportFiles:
    table: pd.DataFrame
    csv: Path
    xlsx: Path
    plots: tuple[Path, ...]
    best: dict[str, int]
    best_coded: dict[str, int] | None = None  # with the cut codec, when the run had one
    meta: dict[str, Any] = field(default_factory=dict)  # what metadata_from_db gathered
    # Why tcp profiles were computed with the ideal arithmetic (ns-3 missing or failing).
    network_error: str = ""
    # the all-on-the-server anchors (anchors.csv; empty when the run has none)
    anchors: pd.DataFrame = field(default_factory=pd.DataFrame)
    anchors_csv: Path | None = None
    # run-level notes ({name: text}, e.g. prediction_note): said once, never per row
    notes: dict[str, str] = field(default_factory=dict)
    # the pictures still being drawn (write_report(..., pictures_later=True)): see finish()
    drawing: Aside | None = None

    def finish(self) -> None:
        """Every picture of :attr:`plots` drawn (waits for the ones still being drawn)."""
        if self.drawing is not None:
            self.drawing.finish()

    def stop(self) -> None:
        """Stop drawing (on an error elsewhere): the children are killed."""
        if self.drawing is not None:
            self.drawing.stop()


def write_report(
    db_path: Path,
    out_dir: Path,
    *,
    model_sha: str,
    client: str,
    server: str,
    networks: list[NetworkConfig],
    output_bytes: int,
    num_operators: int,
    graph: ModelGraph | None = None,
    suffix: str = "",
    settings_hash: str | None = None,
    conversion_max_abs_diff: float | None = None,
    write_files: bool = True,
    asked: Mapping[str, Any] | None = None,
    race: Mapping[str, Any] | None = None,
    splits: Sequence[int] | None = None,
    predicted_rows: bool = False,
    statistic: str = "median",
    pictures_later: bool = False,
) -> ReportFiles:
    """Build the split table for one client and write the CSV, workbook and plots.

    ``settings_hash`` picks the settings identity of the measurements (default: the latest
    measured). With ``graph`` given, the predicted timing method is added beside the direct one
    (from the whole-model op profiles kept as evidence in ``out_dir``). ``asked``: the run
    settings as the user typed them (from ``run.json``), shown in place of the totals the
    database implies (which are rounded up to whole bouts). ``write_files=False`` builds the
    table without writing anything (for ``report --html``). ``splits``: the splits the run asked
    for (None: every split); the table holds those — and with ``predicted_rows``
    (profile-then-verify) the ones with a prediction — and no filler. ``race``: run.json's
    record of a ``--strategy race`` (adds the ``race`` column). ``pictures_later``: return while
    the PNGs may still be drawn beside the caller's own work (:mod:`.aside`); the caller then
    calls :meth:`ReportFiles.finish` (or :meth:`ReportFiles.stop` on an error) itself."""
    from splitbench.report.export import write_anchor_csv, write_csv, write_xlsx
    from splitbench.report.split_table import NETWORK_ERROR, best_splits, build_split_table

    db = ResultsDB(db_path)
    used = _settings_used(db, model_sha, client, server, settings_hash)
    chosen = used.hash if used else settings_hash
    table = build_split_table(
        db,
        model_sha,
        client=client,
        server=server,
        networks=networks,
        output_bytes=output_bytes,
        num_operators=num_operators,
        settings=chosen,
        statistic=statistic,
    )
    network_error = str(table.attrs.get(NETWORK_ERROR, ""))
    if network_error:  # the workbook states the transport the numbers were computed with
        from splitbench.network.config import as_ideal

        networks = as_ideal(networks)
    notes: dict[str, str] = {}
    if graph is not None:
        from splitbench.predict import predictions_for_target
        from splitbench.report.predicted_columns import add_predicted_columns, prediction_note

        predicted = (
            predictions_for_target(db, graph, client, out_dir, settings_hash=chosen),
            predictions_for_target(db, graph, server, out_dir, settings_hash=chosen),
        )
        table = add_predicted_columns(table, *predicted, num_operators, statistic)
        if said := prediction_note(*predicted):
            notes["prediction_note"] = said
    table = rows_asked(table, splits, predicted=predicted_rows)
    if graph is not None and any(op.module for op in graph.operators):
        from splitbench.module_paths import module_after

        at = list(table.columns).index("on_server") + 1
        table.insert(at, "after_module", [module_after(graph, int(k)) for k in table["split"]])
    from splitbench.compress.split_columns import add_codec_columns, best_coded_splits

    table = add_codec_columns(
        table,
        db,
        model_sha,
        networks,
        output_bytes,
        num_operators,
        client=client,
        server=server,
    )
    if conversion_max_abs_diff is not None:
        # A PyTorch model's conversion error, the same for every row; max_abs_diff stays
        # head→tail against the converted whole model.
        at = list(table.columns).index("max_abs_diff") + 1
        table.insert(at, "conversion_max_abs_diff", float(conversion_max_abs_diff))
    table["client_kind"] = _client_kind(db, client)
    table["preset"] = preset_name(used.settings, used.rounds) if used else ""
    table["settings"] = chosen or ""
    if race is not None:
        from splitbench.race import RACE_COLUMN, race_column

        selected = None if splits is None else list(splits)
        table[RACE_COLUMN] = race_column(table["split"], race, selected)
    note = QUICK_NOTE if used and table["preset"].iloc[0] == "quick" else ""
    from splitbench.report.anchor_table import build_anchor_table

    anchors = build_anchor_table(
        db,
        model_sha,
        server=server,
        networks=networks,
        output_bytes=output_bytes,
        num_operators=num_operators,
        settings=chosen,
        statistic=statistic,
    )
    best = best_splits(table, networks)
    best_coded = best_coded_splits(table, networks)
    csv_path = out_dir / f"splits{suffix}.csv"
    xlsx_path = out_dir / f"splits{suffix}.xlsx"
    pictures = _pictures(table, networks, anchors, out_dir, suffix, note) if write_files else []
    anchors_csv = None
    with Aside(pictures) as aside:  # drawn while the metadata, the CSVs and the workbook are made
        meta = _metadata(db, table, model_sha, client, server, chosen, output_bytes, notes, asked)
        meta = _labelled(meta, table, statistic, note)
        if write_files:
            write_csv(table, csv_path)
            write_xlsx(table, networks, xlsx_path, meta, anchors)
            if not anchors.empty:
                anchors_csv = write_anchor_csv(anchors, out_dir / f"anchors{suffix}.csv")
    if not pictures_later:
        aside.finish()
    return ReportFiles(
        table,
        csv_path,
        xlsx_path,
        tuple(path for path, _draw in pictures),
        best,
        best_coded or None,
        meta,
        network_error=network_error,
        anchors=anchors,
        anchors_csv=anchors_csv,
        notes=notes,
        drawing=aside if pictures_later else None,
    )


def _pictures(
    table: pd.DataFrame,
    networks: list[NetworkConfig],
    anchors: pd.DataFrame,
    out_dir: Path,
    suffix: str,
    note: str,
) -> list[Job]:
    """The table's PNGs, each with what draws it: the best split against the uplink rate, then
    one latency chart per network. The costliest first (a curve per network over 400 uplink
    rates), so the last pictures shared out between the processes drawing are the small ones."""
    from splitbench.report.plots import best_split_vs_uplink_png, stacked_latency_png

    pictures: list[Job] = []
    if networks:
        best_png = out_dir / f"best_split_vs_uplink{suffix}.png"
        draw = partial(best_split_vs_uplink_png, table, best_png, networks, note=note)
        pictures.append((best_png, draw))
    for cfg in networks:
        stacked = out_dir / f"latency_stacked_{cfg.name}{suffix}.png"
        draw = partial(stacked_latency_png, table, cfg, stacked, note=note, anchors=anchors)
        pictures.append((stacked, draw))
    return pictures


def _metadata(
    db: ResultsDB,
    table: pd.DataFrame,
    model_sha: str,
    client: str,
    server: str,
    chosen: str | None,
    output_bytes: int,
    notes: dict[str, str],
    asked: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """The workbook's Metadata sheet: from the database, with the run's notes, what the client
    is, and the run settings as the user typed them (``asked``) beside those measured."""
    from splitbench.report.export import metadata_from_db

    meta = metadata_from_db(db, model_sha, client, server, chosen, output_bytes=output_bytes)
    if notes:
        meta["notes"] = dict(notes)
    if isinstance(meta.get("client"), dict):  # the workbook's Metadata says what the client is
        meta["client"] = {"what": table["client_kind"].iloc[0], **meta["client"]}
    if asked:
        derived = meta.get("run_settings", {})
        meta["run_settings"] = {
            "hash": derived.get("hash"),
            **asked,
            "measured_per_bout": derived.get("per_bout"),
        }
    return meta


def _labelled(
    meta: dict[str, Any], table: pd.DataFrame, statistic: str, note: str
) -> dict[str, Any]:
    """The metadata with the preset and the statistic named, and the QUICK label first."""
    if isinstance(meta.get("run_settings"), dict):
        meta["run_settings"] = {
            "preset": str(table["preset"].iloc[0]),
            **meta["run_settings"],
            "statistic": f"{statistic} (part times and end to end; 95 % intervals by bout)",
        }
    if note:  # first on the metadata sheet; report.html puts the label beside each section
        meta = {"preset": f"{note} ({QUICK.flags()})", **meta}
        if isinstance(meta.get("run_settings"), dict):
            meta["run_settings"]["label"] = note
    return meta


def run_notes(files: Mapping[str, ReportFiles]) -> dict[str, str]:
    """The run-level notes of every client's table, once each (named per client when the run
    has several)."""
    out: dict[str, str] = {}
    for client, written in files.items():
        for key, text in written.notes.items():
            out[key if len(files) == 1 else f"{key} ({client})"] = text
    return out


def rows_asked(
    table: pd.DataFrame, splits: Sequence[int] | None, *, predicted: bool = False
) -> pd.DataFrame:
    """The rows a reader asked for: the splits of the run's selection (None: every split) and,
    with ``predicted`` (profile-then-verify predicts more splits than it measures), those with a
    per-operator prediction. Any other split would be a row of dashes: it is left out."""
    if splits is None:
        return table
    keep = table["split"].astype(int).isin(set(splits))
    if not predicted:
        return table.loc[keep].reset_index(drop=True)
    for side, empty in (("client", table["on_client"] == 0), ("server", table["on_server"] == 0)):
        col = f"{side}_ms_predicted"
        if col in table.columns:  # an empty part's 0 is no prediction
            keep |= pd.to_numeric(table[col], errors="coerce").notna() & ~empty
    return table.loc[keep].reset_index(drop=True)


def _client_kind(db: ResultsDB, client: str) -> str:
    """What the client is (``this host``, ``phone``, ``emulated phone (this host's CPU)``), from
    the target recorded in the database: the one label every output uses."""
    from splitbench.targets.base import kind_label

    record = db.target(client)
    return kind_label(record.info if record else client)


def _settings_used(
    db: ResultsDB, model_sha: str, client: str, server: str, settings_hash: str | None
) -> SettingsRecord | None:
    """The settings identity the table shows: the one asked for, else the latest measured on
    these targets (the split table's own rule)."""
    known = db.settings_sets(model_sha, [client, server])
    if settings_hash is None:
        return known[-1] if known else None
    return next((r for r in known if r.hash == settings_hash), None)


def find_holes(
    table: pd.DataFrame, splits: list[int] | None, *, client: str, server: str
) -> tuple[list[str], int]:
    """What the table lacks among ``splits`` (None: every split), and how many parts were
    asked for: one text per head or tail that has no time, with its error when it failed.
    Empty parts (split 0's head, split N's tail, weight-only parts) cost 0 and are never holes;
    splits that profile-then-verify deliberately did not measure are not in ``splits``."""
    wanted = None if splits is None else set(splits)
    holes: list[str] = []
    total = 0
    for _, row in table.iterrows():
        k = int(row["split"])
        if wanted is not None and k not in wanted:
            continue
        for side, target, role in (("client", client, "head"), ("server", server, "tail")):
            ms = row[f"{side}_ms"]
            if ms == 0 and not row[f"{side}_error"]:
                continue  # an empty part: nothing to measure
            total += 1
            if ms == ms:  # not NaN: measured
                continue
            error = row[f"{side}_error"]
            what = f"split {k} {role} on {target}"
            holes.append(f"{what}: {error}" if error else f"{what}: not measured")
    return holes, total


def whole_model_holes(
    db_path: Path, model_sha: str, targets: list[str], settings_hash: str | None
) -> list[str]:
    """Targets on which the whole model (the anchors) has no successful measurement."""
    out: list[str] = []
    with ResultsDB(db_path, create=False) as db:
        for target in dict.fromkeys(targets):
            found = db.measurements(
                model_sha,
                target=target,
                role="whole",
                strategy="direct",
                settings_hash=settings_hash,
            )
            if not any(m.part.ok for m in found):
                error = found[-1].part.error if found else "not measured"
                out.append(f"whole model on {target}: {error}")
    return out


def incomplete(holes: list[str], total: int, whole: list[str], *, retry: bool) -> IncompleteRun:
    """The last line of a command whose table has holes: how many, the first reason, and what
    to do."""
    parts = []
    if holes:
        parts.append(f"{len(holes)} of {total} parts not measured")
    if whole:
        parts.append(f"the whole model not measured on {len(whole)} target(s)")
    first = (holes or whole)[0]
    todo = (
        "rerun the same command to retry them"
        if retry
        else "rerun with --retry-failed yes to retry them"
    )
    return IncompleteRun(f"{' and '.join(parts)} (first: {first}); {todo}")
