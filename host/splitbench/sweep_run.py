"""One sweep from request to files: the orchestrator that owns a run.

``splitbench sweep`` parses its options into a :class:`SweepRequest` and prints what
:func:`run_sweep` reports; everything in between happens here, in this order, and nowhere else:

1. every option that can be wrong is checked, before any work;
2. the run directory is taken (:func:`splitbench.rundir.run_directory`: prepared, locked, removed
   again if this sweep created it and was refused before recording anything);
3. a damaged database, or another model's run directory, is refused before the model is
   converted into it; then MODEL is resolved to a model file;
4. the targets are found and built;
5. the stages run (:class:`splitbench.sweep.Sweep`: checks, parts, lossless check, bouts of
   measurements, ``run.json``);
6. every output of the run is written (:func:`splitbench.report.outputs.write_run_outputs`).

What the user sees while it runs comes through :class:`SweepEvents`.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from splitbench.errors import SplitbenchError
from splitbench.measure.types import RunSettings

if TYPE_CHECKING:
    from splitbench.network import NetworkConfig
    from splitbench.report.outputs import RunOutputs
    from splitbench.sweep_plan import SweepOutcome
    from splitbench.targets.base import Target


@dataclass(frozen=True)
class SweepRequest:
    """A sweep as the user asked for it (the command's options, parsed)."""

    model: str
    out: Path
    networks: tuple[NetworkConfig, ...]
    settings: RunSettings  # totals over the bouts, as typed (or the --quick preset's)
    rounds: int = 6
    clients: tuple[str, ...] = ("host",)  # ("all",): every phone of every adb server
    server: str = "host"
    splits: tuple[int, ...] | None = None
    inputs_dir: Path | None = None
    input_scale: str = "-1..1"
    input_shape: tuple[str, ...] = ()
    input_names: str | None = None
    output_names: str | None = None
    fmt: str | None = None
    fresh: bool = False
    keep_parts: bool = False
    strategy: str = "direct"
    retry_failed: bool = True
    cut_codec: str | None = None
    delivery_codec: str | None = None
    anchor_codecs: str | None = None  # the all-on-the-server anchor's picture codecs
    jobs: int | None = None
    # phones
    adb_port: int | None = None
    adb_servers: tuple[str, ...] = ()
    adb_timeout_s: float = 10.0
    device_cache_mb: float = 512.0
    benchmark_binary: Path | None = None
    timeout_s: float = 600.0
    cooldown_temp_c: float | None = None
    cooldown_max_wait_s: float = 120.0
    affinity: str | None = None
    # the settings as the user typed them, recorded in run.json and shown in the report
    asked: dict[str, Any] = field(default_factory=dict)
    statistic: str = "median"  # what part times and end to end use (splitbench.stats)


def _quiet(*_args: object) -> None:
    return None


@dataclass(frozen=True)
class SweepEvents:
    """What the orchestrator reports while it runs (the command prints them)."""

    started: Callable[[str, Path, RunSettings], None] = _quiet  # model name, run dir, per bout
    unreachable: Callable[[str], None] = _quiet  # an adb server that did not answer
    progress: Callable[[str, int, int], None] = _quiet  # stage, done, total
    stopped: Callable[[str], None] = _quiet  # a target that stopped mid-run
    target_done: Callable[[Target], None] = _quiet  # after the stages, before it is closed


@dataclass
class SweepResult:
    outcome: SweepOutcome
    outputs: RunOutputs
    clients: list[str]
    server: str
    # adb servers that never answered, whose phones were asked for (--clients all): holes
    unreachable: dict[str, str] = field(default_factory=dict)


def check_request(request: SweepRequest) -> None:
    """Everything that can be wrong with the options, said in one line before any work."""
    from splitbench.sweep_plan import STRATEGIES

    if request.strategy not in STRATEGIES:
        raise SplitbenchError(
            f"unknown --strategy '{request.strategy}': use {' or '.join(STRATEGIES)}"
        )
    timeout = request.timeout_s
    if not timeout > 0:
        raise SplitbenchError(
            f"--timeout must be greater than 0 seconds (got {timeout:g}): it is how long one "
            "part may run on a phone before it is killed"
        )
    if not float(timeout).is_integer():  # runner.sh's watchdog counts whole seconds
        whole = max(1, round(timeout)) if timeout < 1e9 else 600
        raise SplitbenchError(
            f"--timeout {timeout:g} is not a whole number of seconds: a phone's runner kills a "
            f"part after whole seconds; give --timeout {whole} (or another whole number)"
        )
    if request.cut_codec:
        from splitbench.compress.cut_codecs import parse_cut_codec

        parse_cut_codec(request.cut_codec)
    if request.delivery_codec:
        from splitbench.compress.split_codecs import parse_delivery_codec

        parse_delivery_codec(request.delivery_codec)
    if request.anchor_codecs is not None:
        from splitbench.anchor.codecs import parse_anchor_codecs

        parse_anchor_codecs(request.anchor_codecs)


def run_sweep(request: SweepRequest, events: SweepEvents | None = None) -> SweepResult:
    """Run the sweep the request describes and write its files (see the module's docstring)."""
    from splitbench.cli_options import parse_input_shapes, parse_names
    from splitbench.formats import get_format
    from splitbench.model_source import source_identity
    from splitbench.report.outputs import write_run_outputs
    from splitbench.resolve import resolve
    from splitbench.run_record import refuse_other_model
    from splitbench.rundir import run_directory
    from splitbench.sweep import Sweep
    from splitbench.sweep_plan import SweepPlan, bout_settings
    from splitbench.targets.factory import AdbOptions, make_target, resolve_targets

    events = events or SweepEvents()
    check_request(request)
    out = request.out
    with run_directory(out):
        check_database(out)
        # Another model's run directory is refused before this one is converted into it.
        identity = source_identity(
            request.model,
            input_names=parse_names(request.input_names, "--input-names"),
            output_names=parse_names(request.output_names, "--output-names"),
            input_shapes=parse_input_shapes(list(request.input_shape)),
            fmt=request.fmt,
        )
        refuse_other_model(out, identity, request.model)
        resolved, shapes = resolve(
            request.model,
            out / "model",
            request.input_names,
            request.output_names,
            list(request.input_shape),
            request.fmt,
        )
        if request.delivery_codec and not get_format(resolved.format).codes_head_weights:
            raise SplitbenchError(
                f"--delivery-codec codes the weights of TFLite heads; {request.model} is a "
                f"{resolved.format} model here"
            )
        settings = bout_settings(request.settings, request.rounds)
        adb = AdbOptions(
            adb_port=request.adb_port,
            adb_servers=request.adb_servers,
            server_timeout_s=request.adb_timeout_s,
            device_cache_mb=request.device_cache_mb,
            benchmark_binary=request.benchmark_binary,
            timeout_s=request.timeout_s,
            cooldown_temp_c=request.cooldown_temp_c,
            cooldown_max_wait_s=request.cooldown_max_wait_s,
            affinity_mask=request.affinity,
            model_format=resolved.format,
        )
        chosen = resolve_targets(list(request.clients), request.server, adb)
        for line in chosen.unreachable.values():
            events.unreachable(line)
        targets = {
            spec: make_target(spec, run_dir=out, adb=adb, phone=chosen.phones.get(spec))
            for spec in chosen.clients
        }
        server_target = targets.get(chosen.server) or make_target(
            chosen.server, run_dir=out, adb=adb, phone=chosen.phones.get(chosen.server)
        )
        plan = SweepPlan(
            model_path=resolved.path,
            model_name=resolved.name,
            out_dir=out,
            settings=settings,
            splits=request.splits,
            inputs_dir=request.inputs_dir,
            keep_parts=request.keep_parts,
            input_shapes=shapes,
            strategy=request.strategy,
            networks=request.networks,
            rounds=request.rounds,
            cut_codec=request.cut_codec.lower() if request.cut_codec else None,
            delivery_codec=request.delivery_codec,
            torch_export=resolved.torch_export,
            input_scale=request.input_scale,
            jobs=request.jobs or os.cpu_count() or 1,
            retry_failed=request.retry_failed,
            model_source=identity,
            asked=request.asked,
            anchor_codecs=request.anchor_codecs,
        )
        events.started(resolved.name, out, settings)
        runner = Sweep(
            plan,
            targets,
            (chosen.server, server_target),
            fresh=request.fresh,
            on_progress=events.progress,
            on_event=events.stopped,
        )
        try:
            outcome = runner.run()
        finally:
            for target in {id(t): t for t in [*targets.values(), server_target]}.values():
                events.target_done(target)
                target.close()
        assert outcome.record is not None
        outputs = write_run_outputs(
            out,
            outcome.record,
            list(request.networks),
            graph=outcome.graph,
            settings_hash=outcome.settings_hash,
            asked=request.asked,
            statistic=request.statistic,
        )
        return SweepResult(
            outcome=outcome,
            outputs=outputs,
            clients=list(chosen.clients),
            server=chosen.server,
            unreachable=chosen.unreachable if request.clients == ("all",) else {},
        )


def check_database(out: Path) -> None:
    """A damaged results database (or one on a full disk) is reported before any work, and
    never touched."""
    from splitbench.results.store import DB_NAME, check_health

    db = out / DB_NAME
    if db.is_file() and db.stat().st_size:
        check_health(db)
