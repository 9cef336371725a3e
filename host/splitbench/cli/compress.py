"""``splitbench compress``: the model-compression evaluation (seed clauses 2.1.2, 10.1, 10.6).

Thin: parses options, builds the scenario and coders, runs :func:`evaluate` (or the
bit-incremental evaluation) and prints the table. Heavy imports happen inside the command.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from splitbench.cli.app import InputShapeOpt, app
from splitbench.errors import SplitbenchError


def _progress_line(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


@app.command()
def compress(
    model: Annotated[
        str,
        typer.Argument(
            metavar="MODEL",
            help="A .tflite file, a built-in name (posenet, mediapipe:NAME; see `splitbench "
            "models`) or a PyTorch model (file.py:factory, torchvision:NAME, facenet:NAME: "
            "its state_dict(), or its TFLite conversion with --format tflite). Its float "
            "weights are coded.",
        ),
    ],
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            help="Output directory: results.csv, size_vs_perf.png, bitstreams/, decoded/.",
        ),
    ] = ...,  # type: ignore[assignment]
    coder: Annotated[
        str,
        typer.Option(
            help="Coders, comma-separated: nnc, fp16, int8-weights, zstd, raw (the seeds' dummy "
            "coder: parameters as float32). The default keeps fp16 (lossy) and zstd (lossless) "
            "beside NNC as baselines."
        ),
    ] = "nnc,fp16,zstd",
    qp: Annotated[
        str,
        typer.Option(
            help="NNC quantisation parameters, comma-separated (step size 2^(QP/4)), e.g. "
            "-15,-20,-25,-30,-35,-40,-45; one row per QP. Range -128..127."
        ),
    ] = "-38",
    nonweight_qp: Annotated[int, typer.Option(help="NNC QP of 1-D parameters (biases).")] = -75,
    use_dq: Annotated[bool, typer.Option(help="NNC dependent scalar quantisation.")] = True,
    param_opt: Annotated[bool, typer.Option(help="NNC DeepCABAC parameter optimisation.")] = True,
    opt_qp: Annotated[bool, typer.Option(help="NNC per-tensor QP from tensor statistics.")] = False,
    cabac_unary_length_minus1: Annotated[
        int, typer.Option(help="NNC length of the unary binarisation part, minus one.")
    ] = 10,
    zstd_level: Annotated[int, typer.Option(help="Zstandard level of the zstd coder.")] = 19,
    scenario: Annotated[
        str,
        typer.Option(
            help="How performance is measured: auto (the default: the model's task scenario "
            "when it has one, else fidelity), fidelity (any model: relative L2 error of the "
            "outputs on sample photos scaled by --input-scale), pose-landmarks (mediapipe "
            "pose/hand landmark models: mean landmark displacement in pixels), lfw-faces "
            "(mediapipe face detectors, facenet:onet/rnet: face/non-face accuracy on the LFW "
            "subset)."
        ),
    ] = "auto",
    input_scale: Annotated[
        str | None,
        typer.Option(
            "--input-scale",
            help="fidelity: how photos become float inputs (-1..1, 0..1, 0..255, imagenet); "
            "default: imagenet for torchvision models, else -1..1.",
        ),
    ] = None,
    incremental: Annotated[
        str | None,
        typer.Option(
            help="Bit-incremental delivery (seed clause 10.6), LOW,HIGH bits, e.g. 8,16: the "
            "LOW-bit model, the update to HIGH bits, and the HIGH-bit model sent directly."
        ),
    ] = None,
    network: Annotated[
        Path | None,
        typer.Option(help="TOML network configurations for --incremental start-up latency."),
    ] = None,
    fmt: Annotated[
        str | None,
        typer.Option(
            "--format",
            help="What a PyTorch model is compressed as: state-dict (the default for modules: "
            "its state_dict() float tensors, decoded models are state dict files) or tflite "
            "(its litert-torch conversion; the only route for a .pt2 export).",
        ),
    ] = None,
    fresh: Annotated[
        bool, typer.Option(help="Start over instead of keeping an earlier run's rows.")
    ] = False,
    input_shape: InputShapeOpt = None,
) -> None:
    """Compress a model's parameters with each coder configuration and measure what it does to
    the model: the seeds' results.csv (anc_size, rec_size, compress_ratio, ...) and a cSize vs
    performance plot; decoded models are kept, runnable."""
    from splitbench.cli_options import comma_list, parse_input_shapes, parse_int_list
    from splitbench.compress.anchor import open_anchor
    from splitbench.compress.coders import NncOptions, make_coders
    from splitbench.compress.scenarios import default_scenario, make_scenario

    coder_names = comma_list(coder, "--coder", "nnc,fp16", what="coder")
    qps = parse_int_list(qp, "--qp", "-15,-20,-25")
    nnc = NncOptions(nonweight_qp, use_dq, param_opt, opt_qp, cabac_unary_length_minus1)
    if incremental is None:
        coders = make_coders(coder_names, qps, nnc=nnc, zstd_level=zstd_level)  # checks names
    out = out.expanduser()
    from splitbench.measure.inputs import SCALES, default_input_scale

    if input_scale is not None and input_scale not in SCALES:
        raise SplitbenchError(f"--input-scale {input_scale}: use one of {', '.join(SCALES)}")
    scale = input_scale or default_input_scale(model)
    if scenario == "auto":
        scenario = default_scenario(model)
    anchor_model = open_anchor(model, out, fmt, parse_input_shapes(input_shape or []))
    the_scenario = make_scenario(scenario, anchor_model.path, anchor_model.io, scale=scale)
    if incremental is not None:
        _incremental(anchor_model, the_scenario, incremental, nnc, network, out)
        return

    from splitbench.compress.evaluate import evaluate
    from splitbench.compress.plot import plot_size_vs_perf

    anchor, rows = evaluate(
        the_scenario,
        coders,
        out,
        anchor_model.io,
        model_name=anchor_model.name,
        fresh=fresh,
        progress=_progress_line,
    )
    png = plot_size_vs_perf(
        rows,
        out / "size_vs_perf.png",
        title=f"{anchor_model.name} — {the_scenario.name} ({the_scenario.data_set_name})",
    )
    _print_rows(anchor, rows, the_scenario.metric_name)
    print(f"wrote {out / 'results.csv'}, {png}, bitstreams/ and decoded/ in {out}")


def _print_rows(anchor, rows, metric: str) -> None:  # type: ignore[no-untyped-def]
    from rich.table import Table

    table = Table(
        title=f"{anchor.name}: anchor {anchor.size:,} B, {metric} {anchor.perf:.4f}; "
        "sizes in bytes, times in s"
    )
    for col in ("config", "rec_size", "cSize %", metric, "enc s", "dec s"):
        table.add_column(col, justify="left" if col == "config" else "right")
    for r in rows:  # one precision per column
        table.add_row(
            str(r["unique_tag"]),
            f"{int(r['rec_size']):,}",
            f"{100 * float(r['compress_ratio']):.2f}",
            f"{float(r['rec_perf']):.4f}",
            f"{float(r['enc_time']):.2f}",
            f"{float(r['dec_time']):.2f}",
        )
    from splitbench.cli.app import console

    console.print(table)


def _incremental(anchor, scenario, spec, nnc, network, out) -> None:  # type: ignore[no-untyped-def]
    from splitbench.cli_options import parse_int_list
    from splitbench.compress.incremental import print_incremental, run_incremental
    from splitbench.network import load_network_configs

    bits = parse_int_list(spec, "--incremental", "8,16")
    if len(bits) != 2 or not 2 <= bits[0] < bits[1] <= 16:
        raise SplitbenchError("--incremental takes LOW,HIGH bits with 2 <= LOW < HIGH <= 16")
    networks = load_network_configs(network)
    result = run_incremental(
        scenario,
        anchor.path,
        anchor.io,
        anchor.name,
        bits[0],
        bits[1],
        nnc,
        networks,
        out,
        progress=_progress_line,
    )
    print_incremental(result, networks)
