"""``splitbench inspect``: operators in execution order and the cut of every split."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from splitbench.cli.app import (
    FormatOpt,
    InputNamesOpt,
    InputShapeOpt,
    ModelArg,
    OutputNamesOpt,
    app,
    console,
)
from splitbench.resolve import resolve


@app.command()
def inspect(
    model: ModelArg,
    input_shape: InputShapeOpt = None,
    input_names: InputNamesOpt = None,
    output_names: OutputNamesOpt = None,
    workdir: Annotated[
        Path | None, typer.Option(help="Where converted models are kept (default: user cache).")
    ] = None,
    fmt: FormatOpt = None,
    as_json: Annotated[
        bool,
        typer.Option(
            "--json",
            help="Print JSON for scripts: the operators, and per split the cut tensors with "
            "their dtypes, shapes and bytes.",
        ),
    ] = False,
) -> None:
    """List operators in execution order, and the cut (tensors, bytes) of every split."""
    from splitbench.cache import cache_dir
    from splitbench.cutplan import plan_cuts, weight_only_operators
    from splitbench.graph import load_graph
    from splitbench.module_paths import module_after, shortened

    resolved, shapes = resolve(
        model, workdir or cache_dir("converted"), input_names, output_names, input_shape, fmt
    )
    graph = load_graph(resolved.path, shapes)
    cuts = plan_cuts(graph)
    if as_json:
        weight_only = weight_only_operators(graph)

        def tensor(t: int) -> dict[str, object]:
            info = graph.tensors[t]
            return {
                "name": info.name,
                "dtype": info.dtype,
                "shape": list(info.shape),
                "bytes": info.nbytes,
            }

        doc = {
            "model": resolved.name,
            "file": str(resolved.path),
            "format": graph.format,
            "sha256": graph.sha256,
            "file_bytes": graph.file_bytes,
            "num_operators": graph.num_operators,
            "operators": [
                {
                    "index": op.index,
                    "operator": op.opcode,
                    "weight_only": op.index in weight_only,
                    "module": op.module,
                    "outputs": [graph.tensors[t].name for t in op.outputs if t >= 0],
                }
                for op in graph.operators
            ],
            "splits": [
                {
                    "split": cut.split,
                    "on_client": cut.split,
                    "on_server": graph.num_operators - cut.split,
                    "num_tensors": cut.num_tensors,
                    "intermediate_bytes": cut.nbytes,
                    "tensors": [tensor(t) for t in cut.tensors],
                }
                for cut in cuts
            ],
        }
        typer.echo(json.dumps(doc, indent=1))
        return
    console.print(
        f"{resolved.name}: {graph.num_operators} operators, {graph.file_bytes} bytes, "
        f"sha256 {graph.sha256[:16]}…"
    )
    # A model from PyTorch names its units by module path (layer3.1.conv2): "cut after layer2".
    modules = any(op.module for op in graph.operators)
    ops = Table(title="operators (execution order)")
    for col in ("#", "operator", *(("module",) if modules else ()), "outputs"):
        ops.add_column(col)
    for op in graph.operators:
        outs = ", ".join(
            f"{shortened(graph.tensors[t].name)} {list(graph.tensors[t].shape)} "
            f"{graph.tensors[t].dtype}"
            for t in op.outputs
        )
        ops.add_row(str(op.index), op.opcode, *((op.module or "(root)",) if modules else ()), outs)
    console.print(ops)
    table = Table(title="cut per split (k on client : N-k on server)")
    for col in ("split", *(("after module",) if modules else ()), "tensors", "bytes"):
        table.add_column(col)
    for cut in cuts:
        after = (module_after(graph, cut.split),) if modules else ()
        table.add_row(
            f"{cut.split}:{graph.num_operators - cut.split}",
            *after,
            "; ".join(shortened(name) for name in cut.names),
            str(cut.nbytes),
        )
    console.print(table)
