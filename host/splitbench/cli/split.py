"""``splitbench split``: head/tail files of one split or of every split."""

from __future__ import annotations

import gc
import os
import time
from pathlib import Path
from typing import Annotated

import typer

from splitbench.cli.app import (
    FormatOpt,
    InputNamesOpt,
    InputShapeOpt,
    ModelArg,
    OutputNamesOpt,
    app,
)
from splitbench.errors import SplitbenchError
from splitbench.resolve import resolve
from splitbench.units import mb_text


@app.command()
def split(
    model: ModelArg,
    out: Annotated[Path, typer.Option("--out", help="Folder for the parts.")],
    at: Annotated[int | None, typer.Option("--at", help="Split index k (0..N).")] = None,
    all_splits: Annotated[bool, typer.Option("--all", help="Every split 0..N.")] = False,
    input_shape: InputShapeOpt = None,
    input_names: InputNamesOpt = None,
    output_names: OutputNamesOpt = None,
    fmt: FormatOpt = None,
) -> None:
    """Write head/tail files (.tflite, .onnx or .pte) for one split (--at K) or every split
    (--all)."""
    # Not splitbench.sweep's select_splits: the sweep module pulls in pandas and the database.
    from splitbench.cutplan import check_split
    from splitbench.graph import load_graph
    from splitbench.splitter import ModelSplitter

    if (at is None) == (not all_splits):
        raise SplitbenchError("give exactly one of --at K or --all")
    resolved, shapes = resolve(model, out / "model", input_names, output_names, input_shape, fmt)
    graph = load_graph(resolved.path, shapes)
    if at is not None:
        check_split(graph, at)
    splitter = ModelSplitter(graph)
    if at is None:  # formats that make parts slowly (ExecuTorch) start them all in parallel
        splitter.prefetch(range(splitter.num_splits), jobs=os.cpu_count() or 1)
    # write_all packs the next part while the last one is written: --all runs at disk speed.
    # --all on two cores or more: a forked child writes the tails while this process writes the
    # heads (TFLite and ONNX parts).
    processes = min(2, os.cpu_count() or 1) if at is None else 1
    start, parts, written = time.perf_counter(), 0, 0
    try:
        for files in splitter.write_all(out, None if at is None else [at], processes=processes):
            print(  # plain lines: rich (its import, its rendering) would cost a tenth of it
                f"split {files.split}:{graph.num_operators - files.split}  head "
                f"{files.head_bytes} B  tail {files.tail_bytes} B  → {files.split_dir}"
            )
            parts += (files.head_path is not None) + (files.tail_path is not None)
            written += files.head_bytes + files.tail_bytes
    finally:
        splitter.close()  # an interrupted --all does not wait for parts still lowering
    how = "tails written by a second process" if splitter.processes_used == 2 else "one process"
    print(
        f"wrote {parts} parts, {mb_text(written)}, in {time.perf_counter() - start:.2f} s ({how})"
    )
    # Python's exit collects every object the imports made (numpy, the schema, typer): 30 ms,
    # a tenth of `split --all`. Frozen objects are skipped and left to the operating system;
    # nothing here needs a finaliser (the parts are written and closed, the child waited for).
    gc.freeze()
