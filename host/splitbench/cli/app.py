"""The typer app, the consoles and the argument types every command shares.

Kept light on purpose: ``splitbench --help`` and ``splitbench models`` import this module and
the command modules, so nothing here (nor at the top of a command module) may import numpy,
pandas, TensorFlow, LiteRT or the sweep. Each command imports what it needs when it runs.
"""

from __future__ import annotations

import os
from typing import Annotated

import typer
from rich.console import Console

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

app = typer.Typer(
    name="splitbench",
    help="Measure where to cut a neural network between a phone and a server, and what each "
    "cut costs: client time, server time, intermediate data, part sizes, end-to-end latency.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
console = Console()
if not console.is_terminal:  # logs and pipes: wide enough for the split table
    console = Console(width=160)
err_console = Console(stderr=True)

ModelArg = Annotated[
    str,
    typer.Argument(
        help="A .tflite file, a Keras .keras/.h5 file, a SavedModel folder, a TF1 frozen .pb "
        "(with --input-names/--output-names), or a built-in name: posenet, mediapipe:NAME "
        "(see `splitbench models`).",
    ),
]
InputShapeOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--input-shape",
        help="Fix a dynamic input shape, NAME:1,224,224,3 (repeat for several inputs).",
    ),
]
InputNamesOpt = Annotated[
    str | None, typer.Option(help="Input tensor names of a frozen .pb graph, comma-separated.")
]
OutputNamesOpt = Annotated[
    str | None, typer.Option(help="Output tensor names of a frozen .pb graph, comma-separated.")
]
