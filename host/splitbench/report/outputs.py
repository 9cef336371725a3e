"""Every output of a run, written by one function that ``sweep``, ``report`` and ``explore``
share: per client the split table (``splits.csv``, ``splits.xlsx``, plots), then
``report.html`` for the whole run, and what the tables still lack (the holes).

What a run is comes from its :class:`~splitbench.run_record.RunRecord` (``run.json``), so a
report rebuilt later is built exactly like the sweep's own.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from splitbench.graph import ModelGraph
    from splitbench.network import NetworkConfig
    from splitbench.report.write import ReportFiles
    from splitbench.results.identity import SettingsRecord
    from splitbench.run_record import RunRecord


@dataclass
class RunOutputs:
    """What :func:`write_run_outputs` wrote and found."""

    files: dict[str, ReportFiles] = field(default_factory=dict)  # per client
    page: Path | None = None  # report.html, when written
    holes: list[str] = field(default_factory=list)  # parts asked for that have no time
    parts_asked: int = 0
    whole_holes: list[str] = field(default_factory=list)  # targets without a whole-model time
    network_error: str = ""  # why tcp profiles fell back to the ideal arithmetic
    notes: dict[str, str] = field(default_factory=dict)  # run-level notes, said once
    # the sentence for a run whose client and server are this host's CPU (None otherwise)
    same_machine: str | None = None
    removed: list[Path] = field(default_factory=list)  # files an earlier report wrote, now gone
    # what is left to do once the pictures are drawn (write_run_outputs(..., later=True))
    pending: Callable[[], None] | None = field(default=None, repr=False)

    def finish(self) -> None:
        """Wait for the pictures still being drawn, then record what was written."""
        if self.pending is not None:
            done, self.pending = self.pending, None
            try:
                done()
            except BaseException:
                self.stop()
                raise

    def stop(self) -> None:
        """Stop drawing (an error elsewhere): the children drawing pictures are killed."""
        self.pending = None
        for files in self.files.values():
            files.stop()

    def written(self) -> list[Path]:
        """Every file written: per client the CSVs, the workbook and the charts, then the page."""
        paths: list[Path] = []
        for files in self.files.values():
            paths += [files.csv, files.xlsx, *([files.anchors_csv] if files.anchors_csv else [])]
            paths += files.plots
        return paths + ([self.page] if self.page else [])


def page_networks(networks: list[NetworkConfig], error: str) -> list[NetworkConfig]:
    """The profiles as the tables used them: ``tcp`` ones fell back to ideal on ``error``."""
    from splitbench.network.config import as_ideal

    return as_ideal(networks) if error else networks


def write_run_outputs(
    run_dir: Path,
    run: RunRecord,
    networks: list[NetworkConfig],
    *,
    graph: ModelGraph | None = None,
    settings_hash: str | None = None,
    asked: dict[str, Any] | None = None,
    tag: str = "",
    write_files: bool = True,
    write_page: bool = True,
    statistic: str = "median",
    later: bool = False,
) -> RunOutputs:
    """Build every client's split table from the run's database and write the run's files.

    ``settings_hash`` picks one settings identity (default: the latest measured); ``tag`` is
    added to the file names (several identities in one directory). ``write_files=False`` builds
    the tables only (``report --html``, ``explore``); ``write_page=False`` skips ``report.html``.
    ``statistic``: what the part times and end to end use (``median`` or ``mean``).
    ``later``: return while the pictures may still be drawn (beside the caller's own work, e.g.
    printing the table); the caller then calls :meth:`RunOutputs.finish`, or
    :meth:`RunOutputs.stop` on an error.
    """
    out = RunOutputs()
    try:  # the pictures are drawn beside the rest (report.aside); an error stops their drawing
        _write(out, run_dir, run, networks, graph, settings_hash, asked, tag, write_files,
               write_page, statistic)  # fmt: skip
    except BaseException:
        out.stop()
        raise

    def done() -> None:
        for files in out.files.values():
            files.finish()
        if write_files:
            from splitbench.report.manifest import record_outputs

            out.removed = record_outputs(run_dir, tag, out.written())

    out.pending = done
    if not later:
        out.finish()
    return out


def _write(
    out: RunOutputs,
    run_dir: Path,
    run: RunRecord,
    networks: list[NetworkConfig],
    graph: ModelGraph | None,
    settings_hash: str | None,
    asked: dict[str, Any] | None,
    tag: str,
    write_files: bool,
    write_page: bool,
    statistic: str,
) -> None:
    from splitbench.report.run_page import write_run_html
    from splitbench.report.write import find_holes, run_notes, whole_model_holes, write_report
    from splitbench.results.store import DB_NAME
    from splitbench.targets.base import file_label

    db_path = run_dir / DB_NAME
    for client in run.clients:
        suffix = ("" if len(run.clients) == 1 else f"_{file_label(client)}") + tag
        files = write_report(
            db_path,
            run_dir,
            model_sha=run.model_sha,
            client=client,
            server=run.server,
            networks=networks,
            output_bytes=run.output_bytes,
            num_operators=run.num_operators,
            graph=graph,
            suffix=suffix,
            settings_hash=settings_hash,
            conversion_max_abs_diff=run.conversion_max_abs_diff,
            asked=asked,
            write_files=write_files,
            race=run.race,
            statistic=statistic,
            splits=run.splits,
            # profile-then-verify's table holds every split it predicted, not only those it
            # measured (run.json's splits)
            predicted_rows=(run.settings or {}).get("strategy") == "profile-then-verify",
            pictures_later=True,
        )
        out.files[client] = files
        out.network_error = out.network_error or files.network_error
        missing, parts = find_holes(files.table, run.splits, client=client, server=run.server)
        out.holes += [h for h in missing if h not in out.holes]
        out.parts_asked += parts
    from splitbench.report.run_page import same_machine_note
    from splitbench.results import ResultsDB

    with ResultsDB(db_path, create=False) as db:
        out.same_machine = same_machine_note(run.clients, run.server, db)
    out.notes = run_notes(out.files)
    if write_files and not tag:  # run.json says the notes of the run's own tables once
        from dataclasses import replace

        replace(run, notes=out.notes).save(run_dir)
    out.whole_holes = whole_model_holes(
        db_path, run.model_sha, [*run.clients, run.server], settings_hash
    )
    if write_page:
        out.page = write_run_html(
            db_path,
            run_dir,
            clients=run.clients,
            server=run.server,
            networks=page_networks(networks, out.network_error),
            files=out.files,
            extra={"network simulation": out.network_error} if out.network_error else None,
        )


def latest_settings(
    sets: Sequence[SettingsRecord], asked: Mapping[str, Any] | None
) -> SettingsRecord:
    """The settings set a run's tables show by default: those of the last sweep into the
    directory (as run.json recorded them), when they have measurements; else the most recently
    measured settings."""
    if asked:
        from splitbench.measure.types import RunSettings
        from splitbench.results import settings_hash
        from splitbench.sweep_plan import bout_settings

        try:
            total = RunSettings(
                threads=int(asked["threads"]),
                warmup_runs=int(asked["warmup_runs"]),
                warmup_min_secs=float(asked["warmup_secs"]),
                num_runs=int(asked["runs"]),
                min_secs=float(asked["min_secs"]),
            )
            rounds = int(asked["rounds"])
            key = settings_hash(bout_settings(total, rounds), rounds)
        except (KeyError, TypeError, ValueError):
            key = None
        for s in sets:
            if s.hash == key:
                return s
    return sets[-1]
