"""Benchmark: every split part of PoseNet by flatbuffer editing vs re-running the converter.

The seed's reference scripts make the parts of each split by running the TensorFlow converter
twice per split (head and tail) on the frozen graph. splitbench edits the ``.tflite`` flatbuffer
instead. This script times both on the same model, in the same process and run:

* splitbench: ``ModelSplitter(path)`` (parse included) writing head and tail of every split to a
  temporary folder — the work of ``splitbench split posenet --all``. Repeated ``--repeats``
  times; the median and the slowest run are both printed: writing 425 MB of parts is most of
  the time, and on a virtual machine the first touch of fresh memory pages can triple it.
* reference: ``tf.compat.v1.lite.TFLiteConverter.from_frozen_graph(pb, inputs, outputs)`` for the
  head and for the tail of each split, the cut tensors mapped to graph nodes by name (a TFLite
  tensor name lists the fused graph nodes, separated by ``;``). TensorFlow's import time is not
  counted; every conversion and its file write is.

``--sample N`` converts only N evenly spaced splits with the converter and reports a per-split
ratio, labelled as such. ``--cli`` also times the real command line in a subprocess.

Run: ``python benchmarks/bench_split.py`` (about a minute for the reference on two cores), or
``python benchmarks/bench_split.py --sample 6``.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

TARGET_RATIO = 50.0
TARGET_SECONDS = 2.0


@dataclass
class SplitterRun:
    seconds: float
    parts: int
    bytes_written: int
    sizes: dict[tuple[int, str], int]  # (split, role) -> bytes


@dataclass
class ConverterRun:
    splits: list[int]
    seconds: float
    conversions: int
    sizes: dict[tuple[int, str], int]


def time_splitter(model: Path, workdir: Path) -> SplitterRun:
    """Parse the model and write every part, one at a time, as ``split --all`` does."""
    from splitbench.splitter import ModelSplitter

    out = Path(tempfile.mkdtemp(dir=workdir, prefix="splitbench-"))
    try:
        start = time.perf_counter()
        splitter = ModelSplitter(model)
        files = list(splitter.write_all(out))
        seconds = time.perf_counter() - start
    finally:
        shutil.rmtree(out, ignore_errors=True)
    sizes = {}
    for f in files:
        if f.head_path:
            sizes[(f.split, "head")] = f.head_bytes
        if f.tail_path:
            sizes[(f.split, "tail")] = f.tail_bytes
    return SplitterRun(seconds, len(sizes), sum(sizes.values()), sizes)


def graph_node_names(pb: Path) -> set[str]:
    import tensorflow as tf

    graph_def = tf.compat.v1.GraphDef()
    graph_def.ParseFromString(pb.read_bytes())
    return {node.name for node in graph_def.node}


def to_graph_node(tflite_name: str, nodes: set[str]) -> str:
    """A TFLite tensor name is the fused graph nodes joined by ';': take the first that exists."""
    for piece in tflite_name.split(";"):
        node = piece.split(":")[0]
        if node in nodes:
            return node
    raise SystemExit(f"cannot map TFLite tensor '{tflite_name}' to a node of the frozen graph")


def time_converter(model: Path, pb: Path, splits: list[int], workdir: Path) -> ConverterRun:
    """Convert head and tail of each split from the frozen graph, as the reference scripts do."""
    import tensorflow as tf
    from splitbench.splitter import ModelSplitter

    splitter = ModelSplitter(model)  # only to know each part's inputs and outputs
    nodes = graph_node_names(pb)
    out = Path(tempfile.mkdtemp(dir=workdir, prefix="converter-"))
    sizes: dict[tuple[int, str], int] = {}
    seconds = 0.0
    try:
        for k in splits:
            for role, io_ in (("head", splitter.head_io(k)), ("tail", splitter.tail_io(k))):
                if io_ is None:
                    continue
                inputs = [to_graph_node(n, nodes) for n in io_.input_names]
                outputs = [to_graph_node(n, nodes) for n in io_.output_names]
                target = out / f"split_{k:03d}_{role}.tflite"
                start = time.perf_counter()
                converter = tf.compat.v1.lite.TFLiteConverter.from_frozen_graph(
                    str(pb), inputs, outputs
                )
                with contextlib.redirect_stdout(io.StringIO()):
                    data = converter.convert()
                target.write_bytes(data)
                seconds += time.perf_counter() - start
                sizes[(k, role)] = len(data)
    finally:
        shutil.rmtree(out, ignore_errors=True)
    return ConverterRun(splits, seconds, len(sizes), sizes)


def time_cli(workdir: Path) -> float | str:
    """Wall time of ``splitbench split posenet --all`` in a fresh process (startup included)."""
    exe = Path(sys.executable).with_name("splitbench")
    out = Path(tempfile.mkdtemp(dir=workdir, prefix="cli-"))
    try:
        start = time.perf_counter()
        done = subprocess.run(
            [str(exe), "split", "posenet", "--all", "--out", str(out)],
            capture_output=True,
            text=True,
            check=False,
        )
        seconds = time.perf_counter() - start
    finally:
        shutil.rmtree(out, ignore_errors=True)
    if done.returncode != 0:
        last = (done.stderr or done.stdout).strip().splitlines()
        return f"failed ({last[-1] if last else done.returncode})"
    return seconds


def evenly_spaced(n_splits: int, count: int) -> list[int]:
    if count >= n_splits:
        return list(range(n_splits))
    return (
        sorted({round(i * (n_splits - 1) / (count - 1)) for i in range(count)})
        if count > 1
        else [0]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sample", type=int, default=0, help="convert only N evenly spaced splits")
    parser.add_argument("--repeats", type=int, default=3, help="splitter runs (default 3)")
    parser.add_argument("--cli", action="store_true", help="also time the splitbench CLI")
    args = parser.parse_args(argv)

    from splitbench.graph import load_graph
    from splitbench_models.posenet import build_posenet_tflite, export_posenet_frozen_graph

    model = build_posenet_tflite()
    graph = load_graph(model)
    n = graph.num_operators
    with tempfile.TemporaryDirectory(prefix="bench-split-") as tmp:
        workdir = Path(tmp)
        frozen = export_posenet_frozen_graph(workdir / "frozen")
        import tensorflow  # noqa: F401  (imported before timing: its import is not a conversion)

        runs = [time_splitter(model, workdir) for _ in range(max(1, args.repeats))]
        splits = evenly_spaced(n + 1, args.sample) if args.sample else list(range(n + 1))
        reference = time_converter(model, frozen.path, splits, workdir)
        cli = time_cli(workdir) if args.cli else None

    first = runs[0].seconds
    median = statistics.median(r.seconds for r in runs)
    worst = max(r.seconds for r in runs)
    ours = runs[0]
    command = "python benchmarks/bench_split.py" + (
        f" --sample {args.sample}" if args.sample else ""
    )
    lines = [
        f"$ {command}",
        f"posenet: {n} operators, {graph.file_bytes:,} bytes; {n + 1} splits ->"
        f" {ours.parts} parts, {ours.bytes_written / 1e6:.1f} MB",
        f"splitbench split --all (flatbuffer edit, parse included): median {median:.2f} s of"
        f" {len(runs)} runs (first {first:.2f} s, slowest {worst:.2f} s)",
    ]
    method = "TF converter per part (from_frozen_graph, cut tensors mapped to graph nodes)"
    if len(splits) == n + 1:
        ratio, slow_ratio = reference.seconds / median, reference.seconds / worst
        verdict = "met" if ratio >= TARGET_RATIO else "NOT met"
        lines += [
            f"reference, {method}: {reference.conversions} conversions, {reference.seconds:.1f} s",
            f"speed-up: {ratio:.0f}x on the median run, {slow_ratio:.0f}x on the slowest"
            f" (target >= {TARGET_RATIO:.0f}x: {verdict} on the median)",
        ]
    else:
        per_ref = reference.seconds / len(splits)
        per_ours = median / (n + 1)
        ratio = per_ref / per_ours
        verdict = "met" if ratio >= TARGET_RATIO else "NOT met"
        lines += [
            f"reference, {method}: {reference.conversions} conversions for the {len(splits)}"
            f" sampled splits {splits}, {reference.seconds:.1f} s",
            f"per-split estimate from the sample (not a full run): converter {per_ref:.2f} s/split,"
            f" splitbench {per_ours * 1000:.1f} ms/split -> {ratio:.0f}x (target >="
            f" {TARGET_RATIO:.0f}x: {verdict}); all splits would take the converter about"
            f" {per_ref * (n + 1):.0f} s",
        ]
    lines.append(
        f"all posenet splits produced in < {TARGET_SECONDS:.0f} s: "
        f"{'yes' if worst < TARGET_SECONDS else 'NO'} (slowest run {worst:.2f} s)"
    )
    converted = sorted(reference.sizes)
    gap = max(abs(reference.sizes[key] - ours.sizes[key]) / ours.sizes[key] for key in converted)
    lines.append(
        f"part sizes, converter vs splitbench: within {gap * 100:.1f} % on the"
        f" {len(converted)} converted parts"
    )
    if cli is not None:
        shown = f"{cli:.2f} s" if isinstance(cli, float) else cli
        lines.append(f"`splitbench split posenet --all --out DIR` in a fresh process: {shown}")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
