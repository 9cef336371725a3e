"""``splitbench sweep``: split, check and measure every split point, then write the table."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from splitbench import __version__
from splitbench.cli.adb_options import AdbPortOpt, AdbServerOpt, AdbTimeoutOpt, DeviceCacheOpt
from splitbench.cli.app import (
    FormatOpt,
    InputNamesOpt,
    InputScaleOpt,
    InputShapeOpt,
    ModelArg,
    NetworkDrawsOpt,
    OutputNamesOpt,
    app,
    console,
    err_console,
)
from splitbench.cli.statistic_option import StatisticOpt, checked_statistic
from splitbench.cli.table_view import print_notes, print_removed, print_table, print_wrote
from splitbench.errors import DeviceError, Interrupted, SplitbenchError
from splitbench.presets import QUICK, preset_name

if TYPE_CHECKING:
    from splitbench.network import NetworkConfig
    from splitbench.sweep_run import SweepResult
    from splitbench.targets.base import Target


@app.command()
def sweep(
    ctx: typer.Context,
    model: ModelArg = "posenet",
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            help="Run directory (created; results.sqlite, "
            "splits.csv, splits.xlsx and plots go here).",
        ),
    ] = ...,  # type: ignore[assignment]
    client: Annotated[
        list[str] | None,
        typer.Option(
            help="Where heads run: host, adb (the one connected phone), adb:SERIAL, "
            "adb:HOST:PORT/SERIAL. Repeat for several phones."
        ),
    ] = None,
    clients: Annotated[
        str | None,
        typer.Option(
            help="'all': every phone of every adb server asked is a client, one worker each, "
            "in parallel."
        ),
    ] = None,
    server: Annotated[
        str, typer.Option(help="Where tails run: host, adb:SERIAL or adb:HOST:PORT/SERIAL.")
    ] = "host",
    threads: Annotated[int, typer.Option(min=1, help="Inference threads on each target.")] = 1,
    runs: Annotated[int, typer.Option(min=1, help="Minimum steady-state runs per part.")] = 50,
    min_secs: Annotated[
        float, typer.Option(min=0.0, help="Minimum steady-state seconds per part.")
    ] = 1.0,
    warmup: Annotated[int, typer.Option(min=0, help="Minimum warm-up runs per part.")] = 1,
    warmup_secs: Annotated[float, typer.Option(min=0.0, help="Minimum warm-up seconds.")] = 0.5,
    rounds: Annotated[
        int,
        typer.Option(
            min=1,
            help="Measure each part in this many bouts, one per pass over the splits, and pool "
            "them (--runs, --min-secs and the warm-up are totals over the bouts): slow drifts "
            "of the machine average out instead of landing on one split.",
        ),
    ] = 6,
    quick: Annotated[
        bool,
        typer.Option(
            "--quick",
            help="A first look in about a tenth of the default's time: the quick preset "
            f"({QUICK.flags()}) for the options you do not give. The summary, splits.csv, "
            "the workbook and the plots say 'quick' and show the spread; a later run without "
            "--quick into the same --out adds the careful measurements beside these.",
        ),
    ] = False,
    network: Annotated[
        Path | None,
        typer.Option(
            help="TOML file of network configurations (default: built-in "
            "4G/5G/Wi-Fi set, see docs/network.md)."
        ),
    ] = None,
    network_draws: NetworkDrawsOpt = 20,
    inputs: Annotated[
        Path | None,
        typer.Option(
            help="Folder of images for the lossless check (default: seeded random inputs)."
        ),
    ] = None,
    splits: Annotated[
        str | None, typer.Option(help="Only these splits, e.g. 0,5,10-20 (default: all).")
    ] = None,
    fresh: Annotated[
        bool, typer.Option(help="Forget earlier results in --out; start over.")
    ] = False,
    keep_parts: Annotated[
        bool, typer.Option(help="Keep the head/tail files in OUT/parts.")
    ] = False,
    input_shape: InputShapeOpt = None,
    input_names: InputNamesOpt = None,
    output_names: OutputNamesOpt = None,
    adb_server: AdbServerOpt = None,
    adb_port: AdbPortOpt = None,
    adb_timeout: AdbTimeoutOpt = 10.0,
    device_cache_mb: DeviceCacheOpt = 512.0,
    benchmark_binary: Annotated[
        Path | None,
        typer.Option(
            help="The phones' benchmark binary: TensorFlow Lite's benchmark_model, or with "
            "--format executorch ExecuTorch's executor_runner built for Android "
            "(see docs/formats.md)."
        ),
    ] = None,
    cooldown_temp: Annotated[
        float | None,
        typer.Option(
            help="On phones: before each part, wait until the phone is below this temperature (°C)."
        ),
    ] = None,
    cooldown_max_wait: Annotated[
        float, typer.Option(help="On phones: longest cool-down wait per part (s).")
    ] = 120.0,
    affinity: Annotated[
        str | None,
        typer.Option(
            help="On phones: CPU affinity mask for the runner (hex, e.g. f0 = big cores "
            "on many SoCs), applied with taskset when the phone has it."
        ),
    ] = None,
    strategy: Annotated[
        str,
        typer.Option(
            help="direct: measure every split's head and tail. profile-then-verify: predict every "
            "split from one op-profiled whole-model run per side, then measure only the splits "
            "that are best for at least one network (needs benchmark_model's op profiling). "
            "race: one bout of every split, then further bouts (up to --rounds) only for the "
            "splits still in contention for some network, until every network's best split is "
            "decided (see docs/sweep.md)."
        ),
    ] = "direct",
    tie_ms: Annotated[
        float | None,
        typer.Option(
            help="--strategy race: contenders whose end to end is within this many ms of the "
            "best count as a decided tie (default: 1 % of the best's end to end).",
        ),
    ] = None,
    max_minutes: Annotated[
        float | None,
        typer.Option(
            help="--strategy race: stop the race after this many minutes (from the start of "
            "the sweep) and say which networks are still undecided.",
        ),
    ] = None,
    timeout: Annotated[
        float,
        typer.Option(
            help="Seconds before a part's run on a phone is killed (a whole number, 1 or more)."
        ),
    ] = 600.0,
    retry_failed: Annotated[
        str,
        typer.Option(
            help="yes: parts that failed in an earlier run are measured again (a failure is "
            "kept as evidence but never counts as done). no: an earlier failure is final."
        ),
    ] = "yes",
    cut_codec: Annotated[
        str | None,
        typer.Option(
            help="Code the intermediate data at each cut: fp16, int8 (per-tensor affine, "
            "calibrated on the check inputs), int8+zstd, zstd (lossless) or nnc:QP. Adds "
            "cut_coded_bytes, cut_encode_ms, cut_decode_ms, cut_coded_max_abs_diff and "
            "e2e_coded_ms_<network> beside the uncoded columns."
        ),
    ] = None,
    delivery_codec: Annotated[
        str | None,
        typer.Option(
            help="Code each head's weights for delivery: nnc:QP, fp16, int8-weights, zstd or "
            "raw. Adds head_coded_bytes, head_encode_ms, head_decode_ms (timed on this host), "
            "head_coded_max_abs_diff and delivery_coded_ms_<network>."
        ),
    ] = None,
    anchor_codec: Annotated[
        str | None,
        typer.Option(
            help="The all-on-the-server anchor (seed clause 5): codecs of the picture the phone "
            "uploads, comma-separated codec[:quality or CRF]: jpeg:Q, webp:Q, png, h264:CRF, "
            "h265:CRF, av1:CRF (one intra frame per inference), raw (the input tensors as "
            "they are). Default for an image model: jpeg:90,webp:80,h264:23; otherwise raw. "
            "Writes anchors.csv (see docs/anchors.md).",
        ),
    ] = None,
    fmt: FormatOpt = None,
    input_scale: InputScaleOpt = "-1..1",
    jobs: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Worker processes that make parts where that is slow (ExecuTorch lowering); "
            "default: the number of cores.",
        ),
    ] = None,
    statistic: StatisticOpt = "median",
) -> None:
    """Split MODEL at every point, check each split is lossless, measure heads on the client and
    tails on the server, and write the split table with end-to-end latency per network."""
    from splitbench.cli_options import parse_split_list
    from splitbench.measure.types import RunSettings
    from splitbench.network import load_network_configs
    from splitbench.progress import SweepProgress
    from splitbench.signals import exit_code, signal_name
    from splitbench.sweep_run import SweepEvents, SweepRequest, run_sweep

    checked_statistic(statistic)
    if retry_failed not in ("yes", "no"):
        raise SplitbenchError(f"--retry-failed must be yes or no, got '{retry_failed}'")
    selected = tuple(parse_split_list(splits)) if splits is not None else None
    if quick:  # the preset fills in what the user did not type
        given = {
            name
            for name in ("runs", "min_secs", "warmup", "warmup_secs", "rounds")
            if (source := ctx.get_parameter_source(name)) is not None
            and source.name in ("COMMANDLINE", "ENVIRONMENT")
        }
        runs = runs if "runs" in given else QUICK.runs
        min_secs = min_secs if "min_secs" in given else QUICK.min_secs
        warmup = warmup if "warmup" in given else QUICK.warmup
        warmup_secs = warmup_secs if "warmup_secs" in given else QUICK.warmup_secs
        rounds = rounds if "rounds" in given else QUICK.rounds
    networks = load_network_configs(network, draws=network_draws)
    request = SweepRequest(
        model=model,
        out=out,
        networks=tuple(networks),
        settings=RunSettings(
            threads=threads,
            warmup_runs=warmup,
            warmup_min_secs=warmup_secs,
            num_runs=runs,
            min_secs=min_secs,
        ),
        rounds=rounds,
        clients=("all",) if clients == "all" else tuple(client or ["host"]),
        server=server,
        splits=selected,
        inputs_dir=inputs,
        input_scale=input_scale,
        input_shape=tuple(input_shape or ()),
        input_names=input_names,
        output_names=output_names,
        fmt=fmt,
        fresh=fresh,
        keep_parts=keep_parts,
        strategy=strategy,
        tie_ms=tie_ms,
        max_minutes=max_minutes,
        retry_failed=retry_failed == "yes",
        cut_codec=cut_codec,
        delivery_codec=delivery_codec,
        jobs=jobs,
        adb_port=adb_port,
        adb_servers=tuple(adb_server or ()),
        adb_timeout_s=adb_timeout,
        device_cache_mb=device_cache_mb,
        benchmark_binary=benchmark_binary,
        timeout_s=timeout,
        cooldown_temp_c=cooldown_temp,
        cooldown_max_wait_s=cooldown_max_wait,
        affinity=affinity,
        anchor_codecs=anchor_codec,
        asked={
            "threads": threads,
            "runs": runs,
            "min_secs": min_secs,
            "warmup_runs": warmup,
            "warmup_secs": warmup_secs,
            "rounds": rounds,
            "strategy": strategy,
            "statistic": statistic,
        },
        statistic=statistic,
    )

    def started(name: str, run_dir: Path, per_bout: RunSettings) -> None:
        console.print(f"[bold]splitbench {__version__}[/] sweep of {name} → {run_dir}")
        if preset_name(per_bout, rounds) == "quick":
            console.print(
                f"[bold yellow]quick[/] preset ({QUICK.flags()}): a first look with less time "
                "behind each number; rerun without --quick into the same --out for the careful "
                "measurements (these are kept beside them)"
            )

    with SweepProgress(err_console) as progress:
        events = SweepEvents(
            started=started,
            unreachable=lambda line: err_console.print(
                f"[yellow]unreachable:[/] {line}", highlight=False, soft_wrap=True
            ),
            progress=progress.update,
            stopped=lambda line: err_console.print(
                f"[yellow]stopped:[/] {line}", highlight=False, soft_wrap=True
            ),
            target_done=_report_target,
            race=lambda line: err_console.print(line, highlight=False, soft_wrap=True),
        )
        try:
            result = run_sweep(request, events)
        except KeyboardInterrupt as exc:
            stopped = Interrupted(
                f"interrupted ({signal_name(exc)}); finished measurements are saved — "
                "rerun the same command to resume"
            )
            stopped.exit_code = exit_code(exc)
            raise stopped from None
    _show(result, networks)
    outputs = result.outputs
    for line in [*outputs.holes, *outputs.whole_holes][:10]:
        err_console.print(f"[yellow]not measured:[/] {line}", highlight=False, soft_wrap=True)
    # a phone that stopped is the reason for its holes: say that first
    _require_every_phone(result.outcome.stopped, result.unreachable)
    if outputs.holes or outputs.whole_holes:
        from splitbench.report.write import incomplete

        raise incomplete(
            outputs.holes, outputs.parts_asked, outputs.whole_holes, retry=request.retry_failed
        )
    if outputs.network_error:  # the tables were written with the arithmetic: say why
        from splitbench.network.tcp import NetworkSimulationError

        raise NetworkSimulationError(outputs.network_error)


def _require_every_phone(stopped: dict[str, str], unreachable: dict[str, str]) -> None:
    """A phone that stopped (or a server that never answered) is a hole: say which, exit non-zero;
    the rerun of the same command measures only what is missing."""
    if not stopped and not unreachable:
        return
    parts = []
    if stopped:
        phones = "phone" if len(stopped) == 1 else "phones"
        parts.append(f"{len(stopped)} {phones} did not finish: {', '.join(stopped)}")
    if unreachable:
        parts.append(
            f"adb server {', '.join(unreachable)} did not answer, its phones were not measured"
        )
    raise DeviceError(
        "; ".join(parts) + " — finished measurements are saved; rerun the same command to resume"
    )


def _report_target(target: Target) -> None:
    """Phones report what was pushed and what looked wrong (charging, screen on, hot)."""
    if target.bytes_pushed is not None:
        console.print(f"{target.name}: {target.bytes_pushed} bytes pushed")
    for warning in target.warnings:
        err_console.print(f"[yellow]warning:[/] {target.name}: {warning}")


def _show(result: SweepResult, networks: list[NetworkConfig]) -> None:
    """The sweep's tables, what was written, and how long it took."""
    outcome = result.outcome
    if outcome.anchor_error:
        err_console.print(
            f"[yellow]anchors not measured:[/] {outcome.anchor_error}",
            highlight=False,
            soft_wrap=True,
        )
    if outcome.chosen_splits:
        console.print(
            "profile-then-verify measured directly only splits "
            + ", ".join(str(k) for k in outcome.chosen_splits)
        )
    if outcome.race:
        from splitbench.race import race_text

        console.print(race_text(outcome.race), highlight=False, soft_wrap=True)
    for spec, files in result.outputs.files.items():
        print_table(files.table, networks, spec, files.best)
        _print_coded_best(files, networks)
        _print_anchors(files, networks, outcome.graph.num_operators)
        wrote = [files.csv, files.xlsx, *([files.anchors_csv] if files.anchors_csv else [])]
        print_wrote([*wrote, *files.plots])
    console.print(f"wrote {result.outputs.page} (open it in a browser; it needs no network)")
    print_removed(result.outputs.removed)
    print_notes(result.outputs.notes)
    note = result.outputs.same_machine
    if note:
        console.print(f"[yellow]note:[/] {note}")
    console.print(
        f"measured {outcome.measured} parts (bouts of up to {outcome.rounds} per part; "
        f"{outcome.skipped} splits already done), "
        f"inference {outcome.inference_ms / 1000:.1f} s of {outcome.wall_s:.1f} s wall"
        + (f", anchor stage {outcome.anchor_s:.2f} s" if outcome.anchors else "")
    )


def _print_anchors(files, networks, num_operators: int) -> None:  # type: ignore[no-untyped-def]
    """Best all-on-the-server anchor per network, and the best split against it."""
    from splitbench.report.anchor_table import best_anchors, verdict, verdict_text

    anchors = files.anchors
    if anchors.empty:
        return
    best = best_anchors(anchors, networks)
    for cfg in networks:
        label = best.get(cfg.name)
        if label is None:
            continue
        row = anchors.loc[anchors["anchor"] == label].iloc[0]
        line = (
            f"best anchor for {cfg.name}: {label} upload ({row['coded_bytes'] / 1024:.1f} KB), "
            f"{row[f'e2e_ms_{cfg.name}']:.2f} ms end to end"
        )
        v = verdict(files.table, anchors, files.best, cfg)
        if v is not None:
            line += f"; {verdict_text(v, num_operators)}"
        console.print(line, highlight=False, soft_wrap=True)


def _print_coded_best(files, networks) -> None:  # type: ignore[no-untyped-def]
    """Best split per network with the cut codec, beside the uncoded best printed above."""
    if not files.best_coded:
        return
    table = files.table
    codec = table["cut_codec"].iloc[0]
    for cfg in networks:
        k = files.best_coded.get(cfg.name)
        if k is None:
            continue
        row = table.loc[table["split"] == k].iloc[0]
        diff = row["cut_coded_max_abs_diff"]
        if int(row["on_server"]) == 0:
            quality = "all on the client: nothing to code"
        elif row["cut_coded_lossless"] is True:
            quality = "lossless"
        else:
            quality = f"lossy, max |diff| {diff:.3g}"
        console.print(
            f"best split for {cfg.name} with --cut-codec {codec}: {k}:{int(row['on_server'])}, "
            f"{row[f'e2e_coded_ms_{cfg.name}']:.2f} ms end to end ({quality})"
        )
