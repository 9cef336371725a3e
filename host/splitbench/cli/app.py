"""The typer app, the consoles and the argument types every command shares.

Kept light on purpose: ``splitbench --help`` and ``splitbench models`` import this module and
the command modules, so nothing here (nor at the top of a command module) may import numpy,
pandas, TensorFlow, LiteRT or the sweep. Each command imports what it needs when it runs.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from rich.console import Console

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

app = typer.Typer(
    name="splitbench",
    help="Measure where to cut a neural network between a phone and a server, and what each "
    "cut costs: client time, server time, intermediate data, part sizes, end-to-end latency.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    # Plain click help: typer's rich panels import rich.markdown and markdown-it, which cost
    # more than the rest of `splitbench --help` together (issue 13: start-up under 0.3 s).
    rich_markup_mode=None,
)


@app.callback()
def _group() -> None:
    # With a callback typer keeps `splitbench COMMAND`, even when main has registered only the
    # command being run (without one, a lone command would become the whole program).
    pass


def __getattr__(name: str) -> Console:
    """``console`` and ``err_console``, made (and rich imported) on first use: ``split`` and
    ``models`` print plain lines and start without rich."""
    if name not in ("console", "err_console"):
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from rich.console import Console

    made = Console(stderr=name == "err_console")
    if name == "console" and not made.is_terminal:  # logs, pipes: wide enough for split tables
        made = Console(width=160)
    globals()[name] = made
    return made


ModelArg = Annotated[
    str,
    typer.Argument(
        metavar="MODEL",
        help="A .tflite file, a Keras .keras/.h5 file, a SavedModel folder, a TF1 frozen .pb "
        "(with --input-names/--output-names), an .onnx file, a PyTorch file.py:factory or "
        ".pt2 export, or a built-in name: posenet, mediapipe:NAME, torchvision:NAME, "
        "facenet:NAME (see `splitbench models`).",
    ),
]
InputShapeOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--input-shape",
        help="Fix an input shape, NAME:1,224,224,3 (repeat for several inputs), or 1,3,224,224 "
        "for a model with one input. PyTorch factories that return no example inputs need it.",
    ),
]
InputScaleOpt = Annotated[
    str,
    typer.Option(
        "--input-scale",
        help="How --inputs images become float input values: -1..1 (pixel/127.5-1, PoseNet and "
        "MobileNet), 0..1 (pixel/255), 0..255 (pixels as they are), imagenet ((pixel/255 - mean) "
        "/ std per channel, torchvision's models).",
    ),
]
FormatOpt = Annotated[
    str | None,
    typer.Option(
        "--format",
        help="What a PyTorch model becomes: tflite (default; litert-torch, runs on phones), "
        "onnx (torch.onnx.export; ONNX Runtime on the host) or executorch (XNNPACK-lowered "
        ".pte parts; ExecuTorch runtime on the host, executor_runner on phones). Other models "
        "keep their format.",
    ),
]
InputNamesOpt = Annotated[
    str | None, typer.Option(help="Input tensor names of a frozen .pb graph, comma-separated.")
]
OutputNamesOpt = Annotated[
    str | None, typer.Option(help="Output tensor names of a frozen .pb graph, comma-separated.")
]
NetworkDrawsOpt = Annotated[
    int,
    typer.Option(
        help="Simulated transfers per size for tcp network profiles with loss or a rate "
        "distribution (seeds and rate quantiles): uplink_ms is their median, e2e_p90_ms "
        "their 90th percentile.",
    ),
]
