"""The `splitbench sweep` options the sweep benchmarks pass through, in one place."""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from machine_load import cpu_snapshot, load_line, machine_share

# (argparse dest, splitbench sweep flag, type, help)
PASS_THROUGH: tuple[tuple[str, str, type | None, str], ...] = (
    ("runs", "--runs", int, "steady-state runs per part (sweep default 50)"),
    ("min_secs", "--min-secs", float, "steady-state seconds per part (sweep default 1.0)"),
    ("warmup", "--warmup", int, "warm-up runs (sweep default 1)"),
    ("warmup_secs", "--warmup-secs", float, "warm-up seconds (sweep default 0.5)"),
    ("threads", "--threads", int, "inference threads (sweep default 1)"),
    ("rounds", "--rounds", int, "bouts per part (sweep default 6)"),
    ("splits", "--splits", None, "only these splits, e.g. 0,5,10-20 (default: all)"),
    ("format", "--format", None, "what a PyTorch model becomes: tflite or onnx"),
    ("input_shape", "--input-shape", None, "input shape, e.g. 1,3,224,224"),
)


def add_sweep_options(
    parser: argparse.ArgumentParser, defaults: dict[str, object] | None = None
) -> None:
    """Add the pass-through options; ``defaults`` sets the benchmark's own, shown in --help."""
    defaults = defaults or {}
    for dest, flag, kind, text in PASS_THROUGH:
        default = defaults.get(dest)
        shown = f"{text}; this benchmark's default: {default}" if default is not None else text
        parser.add_argument(flag, dest=dest, type=kind, default=default, help=shown)


def sweep_flags(args: argparse.Namespace) -> list[str]:
    """The flags to append to `splitbench sweep` for the options that were set."""
    flags: list[str] = []
    for dest, flag, _, _ in PASS_THROUGH:
        value = getattr(args, dest)
        if value is not None:
            flags += [flag, str(value)]
    return flags


@dataclass
class Phase:
    """One timed ``splitbench sweep`` of a benchmark, with the machine's load around it."""

    name: str
    seconds: float
    load: str
    share: str


def run_sweep(model: str, out: Path, extra: list[str], name: str) -> Phase:
    """``splitbench sweep MODEL --out OUT EXTRA`` as a user runs it, timed from the outside;
    a failed sweep (or one that wrote no ``splits.csv``) ends the benchmark with its last lines."""
    exe = Path(sys.executable).with_name("splitbench")
    before, start = cpu_snapshot(), time.perf_counter()
    done = subprocess.run(
        [str(exe), "sweep", model, "--out", str(out), *extra],
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - start
    if done.returncode != 0 or not (out / "splits.csv").is_file():
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise SystemExit(f"{name} failed (exit {done.returncode}): " + " | ".join(tail))
    share = machine_share(before, cpu_snapshot(), seconds, f"the {name}")
    return Phase(name, seconds, load_line(), share)
