"""``splitbench collate``: the split table from benchmark_model outputs a user already has."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from splitbench.cli.app import app, console
from splitbench.errors import SplitbenchError
from splitbench.resolve import resolve


@app.command()
def collate(
    client: Annotated[
        Path | None,
        typer.Option(
            help="benchmark_model output of the whole model on the client "
            "(stdout with op profiling, or the profiling CSV)."
        ),
    ] = None,
    server: Annotated[Path | None, typer.Option(help="The same for the server.")] = None,
    model: Annotated[
        str | None, typer.Option(help="The model both outputs were made with.")
    ] = None,
    out: Annotated[Path | None, typer.Option(help="Folder for splits.csv and splits.xlsx.")] = None,
    profile: Annotated[
        Path | None, typer.Option(help="Only print the parsed Run Order of this file as CSV.")
    ] = None,
    network: Annotated[Path | None, typer.Option(help="TOML network configurations.")] = None,
    etrecord: Annotated[
        Path | None,
        typer.Option(
            help="With --profile FILE.etdump: the ETRecord of the program that wrote it (both "
            "are kept in a sweep's evidence folder)."
        ),
    ] = None,
) -> None:
    """Build the split table from benchmark_model outputs you already have (no copying by hand),
    or, with --profile, print the Run Order that was read from one file."""
    from splitbench_collect.op_profile import read_run_order, run_order_to_csv

    if profile is not None:
        if not profile.is_file():
            raise SplitbenchError(f"{profile}: no such file")
        if profile.suffix == ".etdump" or etrecord is not None:
            _print_etdump(profile, etrecord)
            return
        sys.stdout.write(run_order_to_csv(read_run_order(profile)))
        return
    if not (client and server and model and out):
        raise SplitbenchError(
            "collate needs --client FILE --server FILE --model MODEL --out DIR (or --profile FILE)"
        )
    for path in (client, server):
        if not path.is_file():
            raise SplitbenchError(f"{path}: no such file")
    from splitbench_collect.collate import collate as build
    from splitbench_collect.collate import profile_check_lines, read_side

    from splitbench.cache import cache_dir
    from splitbench.graph import load_graph
    from splitbench.network import load_network_configs
    from splitbench.report.export import write_csv, write_xlsx

    networks = load_network_configs(network)
    resolved, shapes = resolve(model, cache_dir("converted"), None, None, None)
    graph = load_graph(resolved.path, shapes)
    table = build(graph, read_side(client, graph), read_side(server, graph), networks)
    out.mkdir(parents=True, exist_ok=True)
    write_csv(table, out / "splits.csv")
    write_xlsx(
        table,
        networks,
        out / "splits.xlsx",
        {
            "model": resolved.name,
            "model_sha256": graph.sha256,
            "client_profile": str(client),
            "server_profile": str(server),
            "method": "predicted from op profiles",
        },
    )
    for line in profile_check_lines(read_side(client, graph), read_side(server, graph)):
        console.print(line)
    console.print(f"wrote {out / 'splits.csv'} and {out / 'splits.xlsx'}")


def _print_etdump(etdump: Path, etrecord: Path | None) -> None:
    """What ExecuTorch's Inspector read from an ETDump with its ETRecord, one row per event."""
    import csv

    if etrecord is None:
        raise SplitbenchError(
            f"{etdump.name} is an ETDump: give the ETRecord of its program with --etrecord FILE"
        )
    if not etrecord.is_file():
        raise SplitbenchError(f"{etrecord}: no such file")
    from splitbench.formats.executorch.profile import describe

    try:
        rows = describe(etdump, etrecord)
    except Exception as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise SplitbenchError(
            f"cannot read {etdump.name} with {etrecord.name}: {first[:200]}"
        ) from None
    if not rows:
        raise SplitbenchError(f"{etdump.name} holds no events")
    writer = csv.DictWriter(sys.stdout, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
