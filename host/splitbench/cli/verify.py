"""``splitbench verify``: the lossless check of head→tail against the whole model per split."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from splitbench.cli.app import (
    FormatOpt,
    InputNamesOpt,
    InputScaleOpt,
    InputShapeOpt,
    ModelArg,
    OutputNamesOpt,
    app,
    console,
    err_console,
)
from splitbench.errors import SplitbenchError
from splitbench.resolve import resolve


@app.command()
def verify(
    model: ModelArg,
    at: Annotated[
        str | None,
        typer.Option("--at", help="Splits to check, e.g. 3 or 0,5,10-20 (default: all)."),
    ] = None,
    inputs: Annotated[Path | None, typer.Option(help="Folder of input images.")] = None,
    count: Annotated[int, typer.Option(min=1, help="Random input sets when no --inputs.")] = 3,
    input_shape: InputShapeOpt = None,
    input_names: InputNamesOpt = None,
    output_names: OutputNamesOpt = None,
    fmt: FormatOpt = None,
    input_scale: InputScaleOpt = "-1..1",
) -> None:
    """Check that head→tail gives the whole model's outputs (max |diff| ≤ 1e-3) for each split."""
    import tempfile

    from splitbench.cache import cache_dir
    from splitbench.cli_options import parse_split_list
    from splitbench.graph import load_graph
    from splitbench.measure.inputs import make_inputs
    from splitbench.splitter import ModelSplitter
    from splitbench.sweep_plan import select_splits
    from splitbench.verify import verify_parts

    resolved, shapes = resolve(
        model, cache_dir("converted"), input_names, output_names, input_shape, fmt
    )
    graph = load_graph(resolved.path, shapes)
    ks = select_splits(graph, parse_split_list(at, "--at") if at else None)
    input_sets = make_inputs(
        resolved.path, inputs_dir=inputs, count=count, seed=0, scale=input_scale
    )
    splitter = ModelSplitter(graph)
    view = Table(title=f"lossless check of {resolved.name} ({len(input_sets)} inputs)")
    for col in ("split", "max |diff|", "result"):
        view.add_column(col)
    failures = 0
    from splitbench.progress import SweepProgress

    with tempfile.TemporaryDirectory() as tmp, SweepProgress(err_console) as progress:
        for done, k in enumerate(ks):
            progress.update("checked", done, len(ks))
            files = splitter.write_parts(k, Path(tmp))
            result = verify_parts(resolved.path, files.head_path, files.tail_path, input_sets)
            shutil.rmtree(files.split_dir, ignore_errors=True)
            if result.error:
                verdict = f"not run: {result.error}"
            elif result.bit_exact:
                verdict = "pass (bit-exact)"
            else:
                verdict = "pass" if result.passed else "FAIL"
            failures += 0 if result.passed else 1
            diff = "-" if result.error else f"{result.max_abs_diff:.3g}"
            view.add_row(f"{k}:{graph.num_operators - k}", diff, verdict)
        progress.update("checked", len(ks), len(ks))
    console.print(view)
    if failures:
        raise SplitbenchError(f"{failures} split(s) are not lossless (tolerance 1e-3)")
