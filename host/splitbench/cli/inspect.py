"""``splitbench inspect``: operators in execution order and the cut of every split."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from splitbench.cli.app import InputNamesOpt, InputShapeOpt, ModelArg, OutputNamesOpt, app, console
from splitbench.cli.resolve import resolve


@app.command()
def inspect(
    model: ModelArg,
    input_shape: InputShapeOpt = None,
    input_names: InputNamesOpt = None,
    output_names: OutputNamesOpt = None,
    workdir: Annotated[
        Path | None, typer.Option(help="Where converted models are kept (default: user cache).")
    ] = None,
) -> None:
    """List operators in execution order, and the cut (tensors, bytes) of every split."""
    from splitbench.cache import cache_dir
    from splitbench.cutplan import plan_cuts
    from splitbench.graph import load_graph

    resolved, shapes = resolve(
        model, workdir or cache_dir("converted"), input_names, output_names, input_shape
    )
    graph = load_graph(resolved.path, shapes)
    console.print(
        f"{resolved.name}: {graph.num_operators} operators, {graph.file_bytes} bytes, "
        f"sha256 {graph.sha256[:16]}…"
    )
    ops = Table(title="operators (execution order)")
    for col in ("#", "operator", "outputs"):
        ops.add_column(col)
    for op in graph.operators:
        outs = ", ".join(
            f"{graph.tensors[t].name} {list(graph.tensors[t].shape)} {graph.tensors[t].dtype}"
            for t in op.outputs
        )
        ops.add_row(str(op.index), op.opcode, outs)
    console.print(ops)
    cuts = Table(title="cut per split (k on client : N-k on server)")
    for col in ("split", "tensors", "bytes"):
        cuts.add_column(col)
    for cut in plan_cuts(graph):
        cuts.add_row(
            f"{cut.split}:{graph.num_operators - cut.split}", "; ".join(cut.names), str(cut.nbytes)
        )
    console.print(cuts)
