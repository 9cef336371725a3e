"""``splitbench explore``: the run's model in Google's Model Explorer, the costs on its nodes."""

from __future__ import annotations

import signal
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from splitbench.cli.app import app, console
from splitbench.errors import SplitbenchError


def explorer_tables(out: Path, network: Path | None):  # type: ignore[no-untyped-def]
    """The run, its graph, networks and every client's split table (nothing written)."""
    from splitbench.graph import load_graph
    from splitbench.network import load_network_configs
    from splitbench.report.outputs import write_run_outputs
    from splitbench.run_record import RunRecord

    run = RunRecord.load(out)
    if not Path(run.model_path).is_file():
        raise SplitbenchError(
            f"{run.model_path}: the run's model file is gone (needed for the graph)"
        )
    graph = load_graph(Path(run.model_path))
    networks = load_network_configs(network)
    built = write_run_outputs(out, run, networks, write_files=False, write_page=False)
    return run, graph, networks, {client: files.table for client, files in built.files.items()}


def _stop_on_signals() -> None:
    """Ctrl-C (and a plain ``kill``) stop the server even when the shell started it with
    SIGINT ignored (a background job)."""

    def interrupt(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, interrupt)
    signal.signal(signal.SIGTERM, interrupt)


@app.command()
def explore(
    out: Annotated[Path, typer.Argument(metavar="DIR", help="Run directory of an earlier sweep.")],
    port: Annotated[
        int, typer.Option(min=0, max=65535, help="Port on 127.0.0.1 (0: a free one).")
    ] = 0,
    client: Annotated[
        str | None, typer.Option(help="Which client's costs to show (default: the first).")
    ] = None,
    network: Annotated[Path | None, typer.Option(help="TOML network configurations.")] = None,
) -> None:
    """Open the run's model in Google's Model Explorer with the measured costs on its nodes:
    client and server time and the bytes crossing a cut placed after each node, end-to-end
    latency per network with the best cut highlighted. Serves on 127.0.0.1 until Ctrl-C, only
    to requests with the secret token of the printed URL, and no file but the run's."""
    from splitbench.explorer import free_port, serve, write_explorer_data

    run, graph, networks, tables = explorer_tables(out, network)
    chosen = client or run.clients[0]
    if chosen not in tables:
        raise SplitbenchError(f"no client {chosen!r} in {out} (clients: {', '.join(run.clients)})")
    files = write_explorer_data(out, graph, networks, tables)[chosen]
    port = port or free_port()
    _stop_on_signals()
    # Model Explorer's server runs with stdout captured: the one line goes to the real stdout.
    real = Console(file=sys.stdout, highlight=False, soft_wrap=True)

    def echo(url: str) -> None:
        real.print(
            f"Model Explorer for {run.model_name} (client {chosen}), node data from "
            f"{files[0].parent}; open {url} (only with its token; Ctrl-C stops it)"
        )

    serve(graph.path, files, port=port, echo=echo)
    console.print("stopped")
