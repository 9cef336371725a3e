"""``splitbench report``: rebuild a run's CSV/XLSX/plots/report.html from its database."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from splitbench.cli.app import NetworkDrawsOpt, app, console, err_console
from splitbench.cli.statistic_option import ReportStatisticOpt, checked_statistic
from splitbench.cli.table_view import print_notes, print_removed, print_table, print_wrote
from splitbench.errors import SplitbenchError


@app.command()
def report(
    out: Annotated[Path, typer.Argument(metavar="DIR", help="Run directory of an earlier sweep.")],
    network: Annotated[Path | None, typer.Option(help="TOML network configurations.")] = None,
    network_draws: NetworkDrawsOpt = 20,
    html: Annotated[
        bool,
        typer.Option(
            "--html",
            help="Write only report.html (the self-contained page), not the CSV/XLSX/PNGs.",
        ),
    ] = False,
    model_explorer: Annotated[
        bool,
        typer.Option(
            "--model-explorer",
            help="Also write node-data files for Google's Model Explorer under "
            "DIR/model_explorer/ (per node: client and server time, bytes crossing a cut after "
            "it, end-to-end latency per network, best split); `splitbench explore DIR` opens "
            "them.",
        ),
    ] = False,
    settings: Annotated[
        str,
        typer.Option(
            help="Which run settings the tables use: latest (those of the last sweep into DIR, "
            "else the most recently measured), all "
            "(one set of files per settings, suffixed _settings-HASH), or a HASH (or its "
            "first characters) as listed by this command."
        ),
    ] = "latest",
    statistic: ReportStatisticOpt = None,
) -> None:
    """Rebuild splits.csv, splits.xlsx, the plots and report.html from a run's database (e.g.
    for other networks).

    Run settings (--runs, --rounds, ...) are part of what identifies a measurement, so a run
    directory can hold several sets; the command says which one each table uses. The exit
    status is non-zero when a table has a part that is not measured."""
    from splitbench.graph import load_graph
    from splitbench.network import load_network_configs
    from splitbench.network.tcp import NetworkSimulationError
    from splitbench.report.outputs import RunOutputs, latest_settings, write_run_outputs
    from splitbench.report.write import incomplete
    from splitbench.results import ResultsDB
    from splitbench.results.store import DB_NAME
    from splitbench.run_record import RunRecord

    if statistic is not None:
        checked_statistic(statistic)
    run = RunRecord.load(out)
    statistic = statistic or str((run.settings or {}).get("statistic") or "median")
    networks = load_network_configs(network, draws=network_draws)
    with ResultsDB(out / DB_NAME, create=False) as db:  # checked; never modified when damaged
        sets = db.settings_sets(run.model_sha, [*run.clients, run.server])
    if not sets:
        raise SplitbenchError(f"{out / DB_NAME} holds no measurement of {run.model_name} yet")
    chosen = _choose(sets, settings, out, run.settings)
    graph = load_graph(Path(run.model_path)) if Path(run.model_path).is_file() else None
    found = RunOutputs()
    note: str | None = None
    for picked in chosen:
        others = f"; {len(sets) - 1} other set(s): --settings all or HASH" if len(sets) > 1 else ""
        console.print(f"settings {picked.describe()}{others if settings == 'latest' else ''}")
        written = write_run_outputs(
            out,
            run,
            networks,
            graph=graph,
            settings_hash=picked.hash,
            # run.json has the settings as typed for the last sweep: the latest set
            asked=run.settings if picked is latest_settings(sets, run.settings) else None,
            tag="" if settings != "all" or len(sets) == 1 else f"_settings-{picked.hash}",
            write_files=not html,
            write_page=picked is chosen[-1],  # one page: the settings asked for
            statistic=statistic,
            later=True,  # the pictures are drawn while the tables are printed
        )
        try:
            for client, files in written.files.items():
                if not html:
                    print_table(files.table, networks, client, files.best)
            written.finish()
        except BaseException:
            written.stop()
            raise
        for files in written.files.values():
            if not html:
                wrote = [files.csv, files.xlsx, *([files.anchors_csv] if files.anchors_csv else [])]
                print_wrote([*wrote, *files.plots])
        found.holes += written.holes
        found.parts_asked += written.parts_asked
        found.whole_holes += written.whole_holes
        found.network_error = found.network_error or written.network_error
        note = note or written.same_machine
        print_notes(written.notes)
        print_removed(written.removed)
        if written.page is not None:
            console.print(f"wrote {written.page} (open it in a browser; it needs no network)")
            if model_explorer:
                from splitbench.explorer import write_explorer_data

                if graph is None:
                    raise SplitbenchError(f"{run.model_path}: the run's model file is gone")
                tables = {client: files.table for client, files in written.files.items()}
                for client, paths in write_explorer_data(out, graph, networks, tables).items():
                    console.print(f"wrote Model Explorer node data for {client}: {paths[0].parent}")
    if run.race:  # the sweep was a race: where it stopped, what it eliminated
        from splitbench.race import race_text

        console.print(race_text(run.race), highlight=False, soft_wrap=True)
    if note:
        console.print(f"[yellow]note:[/] {note}")
    for line in [*found.holes, *found.whole_holes][:10]:
        err_console.print(f"[yellow]not measured:[/] {line}", highlight=False, soft_wrap=True)
    if found.holes or found.whole_holes:
        raise incomplete(found.holes, found.parts_asked, found.whole_holes, retry=True)
    if found.network_error:
        raise NetworkSimulationError(found.network_error)


def _choose(sets, wanted: str, out: Path, asked=None):  # type: ignore[no-untyped-def]
    if wanted == "latest":
        from splitbench.report.outputs import latest_settings

        return [latest_settings(sets, asked)]
    if wanted == "all":
        return list(sets)
    found = [s for s in sets if s.hash.startswith(wanted.lower())]
    if len(found) == 1:
        return found
    listing = ", ".join(s.describe() for s in sets)
    what = "matches several settings" if found else "is not a settings hash"
    raise SplitbenchError(f"--settings {wanted} {what} in {out}; there are: {listing}")
