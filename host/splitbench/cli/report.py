"""``splitbench report``: rebuild a run's CSV/XLSX/plots/report.html from its database."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from splitbench.cli.app import app, console
from splitbench.cli.table_view import print_table
from splitbench.errors import SplitbenchError


@app.command()
def report(
    out: Annotated[Path, typer.Argument(help="Run directory of an earlier sweep.")],
    network: Annotated[Path | None, typer.Option(help="TOML network configurations.")] = None,
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
) -> None:
    """Rebuild splits.csv, splits.xlsx, the plots and report.html from a run's database (e.g.
    for other networks)."""
    from splitbench.graph import load_graph
    from splitbench.network import load_network_configs
    from splitbench.report import write_report
    from splitbench.report_html import same_machine_note, write_run_html
    from splitbench.run_record import RunRecord
    from splitbench.sweep import DB_NAME

    run = RunRecord.load(out)
    networks = load_network_configs(network)
    graph = load_graph(Path(run.model_path)) if Path(run.model_path).is_file() else None
    written = {}
    for client in run.clients:
        suffix = "" if len(run.clients) == 1 else f"_{client.replace(':', '_')}"
        files = write_report(
            out / DB_NAME,
            out,
            model_sha=run.model_sha,
            client=client,
            server=run.server,
            networks=networks,
            output_bytes=run.output_bytes,
            num_operators=run.num_operators,
            graph=graph,
            suffix=suffix,
            conversion_max_abs_diff=run.conversion_max_abs_diff,
            asked=run.settings,
            write_files=not html,
        )
        written[client] = files
        if not html:
            print_table(files.table, networks, client, files.best)
    page = write_run_html(
        out / DB_NAME,
        out,
        clients=run.clients,
        server=run.server,
        networks=networks,
        files=written,
    )
    console.print(f"wrote {page} (open it in a browser; it needs no network)")
    if model_explorer:
        from splitbench.explorer import write_explorer_data

        if graph is None:
            raise SplitbenchError(f"{run.model_path}: the run's model file is gone")
        tables = {client: files.table for client, files in written.items()}
        for client, paths in write_explorer_data(out, graph, networks, tables).items():
            console.print(f"wrote Model Explorer node data for {client}: {paths[0].parent}")
    note = same_machine_note(run.clients, run.server)
    if note:
        console.print(f"[yellow]note:[/] {note}")
