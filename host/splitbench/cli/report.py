"""``splitbench report``: rebuild a run's CSV/XLSX/plots from its database."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from splitbench.cli.app import app
from splitbench.cli.table_view import print_table


@app.command()
def report(
    out: Annotated[Path, typer.Argument(help="Run directory of an earlier sweep.")],
    network: Annotated[Path | None, typer.Option(help="TOML network configurations.")] = None,
) -> None:
    """Rebuild splits.csv, splits.xlsx and plots from a run's database (e.g. for new networks)."""
    from splitbench.graph import load_graph
    from splitbench.network import load_network_configs
    from splitbench.report import write_report
    from splitbench.run_record import RunRecord
    from splitbench.sweep import DB_NAME

    run = RunRecord.load(out)
    networks = load_network_configs(network)
    graph = load_graph(Path(run.model_path)) if Path(run.model_path).is_file() else None
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
        )
        print_table(files.table, networks, client, files.best)
