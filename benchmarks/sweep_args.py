"""The `splitbench sweep` options the sweep benchmarks pass through, in one place."""

from __future__ import annotations

import argparse

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
