"""The ``splitbench`` command line. Thin: it parses options and calls the stage modules.

Every user error is a :class:`~splitbench.errors.SplitbenchError`: one line on stderr and a
non-zero exit, never a traceback.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from splitbench import __version__
from splitbench.errors import Interrupted, SplitbenchError

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


def _resolve(model: str, workdir: Path, input_names, output_names, input_shape):  # type: ignore[no-untyped-def]
    from splitbench.cli_options import parse_input_shapes, parse_names
    from splitbench.model_source import resolve_model

    shapes = parse_input_shapes(input_shape or [])
    resolved = resolve_model(
        model,
        workdir=workdir,
        input_names=parse_names(input_names),
        output_names=parse_names(output_names),
        input_shapes=shapes,
    )
    if resolved.kind not in ("tflite", "builtin", "mediapipe"):
        # Check the converted file now, so that an error names what the user gave, not the
        # converted file's name in the run directory.
        from splitbench.errors import ModelError
        from splitbench.graph import load_graph

        try:
            load_graph(resolved.path, shapes)
        except ModelError as exc:
            raise ModelError(
                str(exc).replace(str(resolved.path), model).replace(resolved.path.name, model)
            ) from None
    return resolved, shapes


@app.command()
def sweep(
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
            help="Where heads run: host, adb (the one connected phone), adb:SERIAL. "
            "Repeat for several phones."
        ),
    ] = None,
    clients: Annotated[
        str | None, typer.Option(help="'all': every connected phone is a client, in parallel.")
    ] = None,
    server: Annotated[str, typer.Option(help="Where tails run: host or adb:SERIAL.")] = "host",
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
    network: Annotated[
        Path | None,
        typer.Option(
            help="TOML file of network configurations (default: built-in "
            "4G/5G/Wi-Fi set, see README)."
        ),
    ] = None,
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
    adb_port: Annotated[
        int | None, typer.Option(help="adb server port (default $ANDROID_ADB_SERVER_PORT or 5037).")
    ] = None,
    benchmark_binary: Annotated[
        Path | None, typer.Option(help="TensorFlow Lite benchmark_model binary for the phones.")
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
            "that are best for at least one network (needs benchmark_model's op profiling)."
        ),
    ] = "direct",
    timeout: Annotated[
        float, typer.Option(help="Seconds before a part's run on a phone is killed.")
    ] = 600.0,
) -> None:
    """Split MODEL at every point, check each split is lossless, measure heads on the client and
    tails on the server, and write the split table with end-to-end latency per network."""
    from splitbench.cli_options import parse_split_list
    from splitbench.measure.types import RunSettings
    from splitbench.network import load_network_configs
    from splitbench.progress import SweepProgress
    from splitbench.sweep import STRATEGIES, Sweep, SweepPlan, bout_settings, require_ok
    from splitbench.targets.factory import AdbOptions, expand_specs, make_target

    if strategy not in STRATEGIES:
        raise SplitbenchError(f"unknown --strategy '{strategy}': use {' or '.join(STRATEGIES)}")
    networks = load_network_configs(network)
    out.mkdir(parents=True, exist_ok=True)
    resolved, shapes = _resolve(model, out / "model", input_names, output_names, input_shape)
    settings = bout_settings(
        RunSettings(
            threads=threads,
            warmup_runs=warmup,
            warmup_min_secs=warmup_secs,
            num_runs=runs,
            min_secs=min_secs,
        ),
        rounds,
    )
    adb = AdbOptions(
        adb_port=adb_port,
        benchmark_binary=benchmark_binary,
        timeout_s=timeout,
        cooldown_temp_c=cooldown_temp,
        cooldown_max_wait_s=cooldown_max_wait,
        affinity_mask=affinity,
    )
    client_specs = expand_specs(["all"] if clients == "all" else (client or ["host"]), adb)
    server_spec = expand_specs([server], adb)[0]
    targets = {spec: make_target(spec, run_dir=out, adb=adb) for spec in client_specs}
    server_target = targets.get(server_spec) or make_target(server_spec, run_dir=out, adb=adb)
    plan = SweepPlan(
        model_path=resolved.path,
        model_name=resolved.name,
        out_dir=out,
        settings=settings,
        splits=tuple(parse_split_list(splits)) if splits else None,
        inputs_dir=inputs,
        keep_parts=keep_parts,
        input_shapes=shapes,
        strategy=strategy,
        networks=tuple(networks),
        rounds=rounds,
    )
    console.print(f"[bold]splitbench {__version__}[/] sweep of {resolved.name} → {out}")
    with SweepProgress(console) as progress:
        runner = Sweep(
            plan, targets, (server_spec, server_target), fresh=fresh, on_progress=progress.update
        )
        try:
            outcome = runner.run()
        except KeyboardInterrupt:
            raise Interrupted(
                "interrupted; finished measurements are saved — rerun the same command to resume"
            ) from None
        finally:
            for target in {id(t): t for t in [*targets.values(), server_target]}.values():
                _report_target(target)
                target.close()
    require_ok(outcome)
    if outcome.chosen_splits:
        console.print(
            "profile-then-verify measured directly only splits "
            + ", ".join(str(k) for k in outcome.chosen_splits)
        )
    _write_and_show(outcome, out, client_specs, server_spec, networks)


def _report_target(target: object) -> None:
    """Phones report what was pushed and what looked wrong (charging, screen on, hot)."""
    pushed = getattr(target, "bytes_pushed", None)
    name = getattr(target, "name", "")
    if pushed is not None:
        console.print(f"{name}: {pushed} bytes pushed")
    for warning in getattr(target, "warnings", []) or []:
        err_console.print(f"[yellow]warning:[/] {name}: {warning}")


def _write_and_show(outcome, out: Path, client_specs, server_spec, networks) -> None:  # type: ignore[no-untyped-def]
    from splitbench.cutplan import output_bytes
    from splitbench.report import write_report
    from splitbench.run_record import RunRecord

    RunRecord(
        model_name=outcome.model_name,
        model_sha=outcome.graph.sha256,
        model_path=str(outcome.graph.path),
        clients=client_specs,
        server=server_spec,
        output_bytes=output_bytes(outcome.graph),
        num_operators=outcome.graph.num_operators,
    ).save(out)
    for spec in client_specs:
        suffix = "" if len(client_specs) == 1 else f"_{spec.replace(':', '_')}"
        files = write_report(
            outcome.db_path,
            out,
            model_sha=outcome.graph.sha256,
            client=spec,
            server=server_spec,
            networks=networks,
            output_bytes=output_bytes(outcome.graph),
            num_operators=outcome.graph.num_operators,
            graph=outcome.graph,
            suffix=suffix,
            settings_hash=outcome.settings_hash,
        )
        _print_table(files.table, networks, spec, files.best)
        console.print(f"wrote {files.csv}, {files.xlsx}, " + ", ".join(str(p) for p in files.plots))
    console.print(
        f"measured {outcome.measured} parts (bouts of up to {outcome.rounds} per part; "
        f"{outcome.skipped} splits already done), "
        f"inference {outcome.inference_ms / 1000:.1f} s of {outcome.wall_s:.1f} s wall"
    )
    for line in outcome.failed_parts[:10]:
        err_console.print(f"[yellow]not measured:[/] {line}")


def _fmt(value: object, digits: int = 2) -> str:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return "-"
    return "-" if number != number else f"{number:.{digits}f}"


def _print_table(table, networks, client: str, best: dict[str, int]) -> None:  # type: ignore[no-untyped-def]
    """A compact view of the split table; the CSV/XLSX hold every column."""
    view = Table(title=f"splits (client {client}); times in ms, sizes in KB", box=None)
    for col in ("k:N-k", "client", "server", "cut", "head", "lossless"):
        view.add_column(col, justify="right", no_wrap=True)
    for cfg in networks:
        view.add_column(f"e2e {cfg.name}", justify="right", no_wrap=True)
    for _, row in table.iterrows():
        k = int(row["split"])
        lossless = "bit-exact" if row.get("bit_exact") is True else _fmt(row["max_abs_diff"], 6)
        cells = [
            f"{row['on_client']}:{row['on_server']}",
            _fmt(row["client_ms"]),
            _fmt(row["server_ms"]),
            _fmt(row["intermediate_bytes"] / 1024, 1),
            _fmt(row["head_model_bytes"] / 1024, 1),
            lossless,
        ]
        for cfg in networks:
            cell = _fmt(row[f"e2e_ms_{cfg.name}"])
            cells.append(f"[bold green]{cell}[/]" if best.get(cfg.name) == k else cell)
        view.add_row(*cells)
    console.print(view)
    for cfg in networks:
        if cfg.name in best:
            k = best[cfg.name]
            row = table.loc[table["split"] == k].iloc[0]
            console.print(
                f"best split for {cfg.name} ({cfg.uplink_mbps:g}/{cfg.downlink_mbps:g} Mbit/s, "
                f"RTT {cfg.rtt_ms:g} ms): {k}:{int(row['on_server'])}, "
                f"{_fmt(row[f'e2e_ms_{cfg.name}'])} ms end to end"
            )


@app.command()
def split(
    model: ModelArg,
    out: Annotated[Path, typer.Option("--out", help="Folder for the parts.")],
    at: Annotated[int | None, typer.Option("--at", help="Split index k (0..N).")] = None,
    all_splits: Annotated[bool, typer.Option("--all", help="Every split 0..N.")] = False,
    input_shape: InputShapeOpt = None,
    input_names: InputNamesOpt = None,
    output_names: OutputNamesOpt = None,
) -> None:
    """Write head/tail .tflite files for one split (--at K) or every split (--all)."""
    from splitbench.graph import load_graph
    from splitbench.splitter import ModelSplitter
    from splitbench.sweep import select_splits

    if (at is None) == (not all_splits):
        raise SplitbenchError("give exactly one of --at K or --all")
    resolved, shapes = _resolve(model, out / "model", input_names, output_names, input_shape)
    graph = load_graph(resolved.path, shapes)
    ks = select_splits(graph, None if all_splits else [at])  # type: ignore[list-item]
    splitter = ModelSplitter(graph)
    for k in ks:
        files = splitter.write_parts(k, out)
        console.print(
            f"split {k}:{graph.num_operators - k}  head {files.head_bytes} B  "
            f"tail {files.tail_bytes} B  → {files.split_dir}"
        )


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

    resolved, shapes = _resolve(
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
) -> None:
    """Check that head→tail gives the whole model's outputs (max |diff| ≤ 1e-3) for each split."""
    import tempfile

    from splitbench.cache import cache_dir
    from splitbench.cli_options import parse_split_list
    from splitbench.graph import load_graph
    from splitbench.measure.inputs import make_inputs
    from splitbench.splitter import ModelSplitter
    from splitbench.sweep import select_splits
    from splitbench.verify import verify_parts

    resolved, shapes = _resolve(
        model, cache_dir("converted"), input_names, output_names, input_shape
    )
    graph = load_graph(resolved.path, shapes)
    ks = select_splits(graph, parse_split_list(at) if at else None)
    input_sets = make_inputs(resolved.path, inputs_dir=inputs, count=count, seed=0)
    splitter = ModelSplitter(graph)
    view = Table(title=f"lossless check of {resolved.name} ({len(input_sets)} inputs)")
    for col in ("split", "max |diff|", "result"):
        view.add_column(col)
    failures = 0
    from splitbench.progress import SweepProgress

    with tempfile.TemporaryDirectory() as tmp, SweepProgress(console) as progress:
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


@app.command()
def models() -> None:
    """List the built-in model names."""
    from splitbench_models.mediapipe_wheel import list_mediapipe_models

    console.print("posenet  (PoseNet, MobileNetV1 1.0, 257x257x3, output stride 16; built here)")
    for name in list_mediapipe_models():
        console.print(name)


@app.command()
def report(
    out: Annotated[Path, typer.Argument(help="Run directory of an earlier sweep.")],
    network: Annotated[Path | None, typer.Option(help="TOML network configurations.")] = None,
) -> None:
    """Rebuild splits.csv, splits.xlsx and plots from a run's database (e.g. for new networks)."""
    from splitbench.graph import load_graph
    from splitbench.network import load_network_configs
    from splitbench.report import write_report
    from splitbench.run_record import RunRecord
    from splitbench.sweep import DB_NAME

    run = RunRecord.load(out)
    networks = load_network_configs(network)
    graph = load_graph(Path(run.model_path)) if Path(run.model_path).is_file() else None
    for client in run.clients:
        suffix = "" if len(run.clients) == 1 else f"_{client.replace(':', '_')}"
        files = write_report(
            out / DB_NAME,
            out,
            model_sha=run.model_sha,
            client=client,
            server=run.server,
            networks=networks,
            output_bytes=run.output_bytes,
            num_operators=run.num_operators,
            graph=graph,
            suffix=suffix,
        )
        _print_table(files.table, networks, client, files.best)


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
) -> None:
    """Build the split table from benchmark_model outputs you already have (no copying by hand),
    or, with --profile, print the Run Order that was read from one file."""
    from splitbench_collect.op_profile import read_run_order, run_order_to_csv

    if profile is not None:
        if not profile.is_file():
            raise SplitbenchError(f"{profile}: no such file")
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
    from splitbench_collect.export import write_csv, write_xlsx

    from splitbench.cache import cache_dir
    from splitbench.graph import load_graph
    from splitbench.network import load_network_configs

    networks = load_network_configs(network)
    resolved, shapes = _resolve(model, cache_dir("converted"), None, None, None)
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


@app.command()
def devices(
    adb_port: Annotated[
        int | None, typer.Option(help="adb server port (default $ANDROID_ADB_SERVER_PORT or 5037).")
    ] = None,
) -> None:
    """List connected phones with the facts that matter for a measurement."""
    from splitbench.targets.adb import list_devices

    found = list_devices(adb_port)
    if not found:
        raise SplitbenchError(
            "no phone connected (check `adb devices`, the cable, and USB debugging)"
        )
    for facts in found:
        view = Table(title=facts.serial, show_header=False)
        for key, value in facts.as_rows():
            view.add_row(key, value)
        console.print(view)


emulator_app = typer.Typer(
    help="The emulated phone: an adb server on 127.0.0.1 for CI and for users without a phone.",
    no_args_is_help=True,
)
app.add_typer(emulator_app, name="emulator")


@emulator_app.command("start")
def emulator_start(
    port: Annotated[
        int, typer.Option(help="TCP port on 127.0.0.1 (5037 is adb's default).")
    ] = 5037,
    serial: Annotated[
        list[str] | None, typer.Option(help="Serial of an emulated phone (repeat for several).")
    ] = None,
    fail_after: Annotated[
        int | None, typer.Option(help="Unplug each phone after N commands (fault injection).")
    ] = None,
    storage_bytes: Annotated[
        int | None, typer.Option(help="Storage quota of each phone's /data (full-storage fault).")
    ] = None,
    root: Annotated[
        Path | None, typer.Option(help="Folder for the phones' file systems (default: a temp dir).")
    ] = None,
) -> None:
    """Run emulated phones in the foreground until Ctrl-C."""
    from splitbench.emulator import run_emulator

    run_emulator(
        port=port,
        serials=serial or ["sbemu-0001"],
        fail_after=fail_after,
        storage_bytes=storage_bytes,
        root=root,
    )


def main() -> None:
    """Entry point: run the app, turning user errors into one line and an exit code."""
    try:
        app()
    except SplitbenchError as exc:
        err_console.print(f"splitbench: error: {exc}", highlight=False, soft_wrap=True)
        sys.exit(exc.exit_code)
