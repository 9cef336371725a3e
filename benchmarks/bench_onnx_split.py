"""Benchmark: every ONNX part of torchvision:mobilenet_v2, splitbench vs onnx.utils.extract_model.

Measured side by side in one run, on the same model and the same file system:

* **splitbench**: ``ModelSplitter`` on the loaded graph, ``write_parts`` for every split
  0..N (head and tail files, 2N parts, about 1.4 GB), into a fresh folder, ``--repeats``
  times; the graph load and part-maker set-up are counted once per repeat.
* **the disk's own write throughput**: the same number of files of exactly the parts' sizes
  written with plain large writes, into a fresh folder — the floor no way of producing these
  files can beat, printed beside the ratio because at ~1.4 GB the disk is the limit.
* **the naive way**: ``onnx.utils.extract_model(model, out, input_names, output_names)`` for the
  head and the tail of every ``--every``-th split, with exactly the boundaries splitbench's
  parts have (so the same parts); its mean time per part is the baseline.

The ratio is baseline per part / splitbench per part (median repeat). Target: >= 10.

The model is exported once with splitbench's own PyTorch intake (``--format onnx``) into the
benchmark cache; the export is not timed.

Run: ``python benchmarks/bench_onnx_split.py`` (a few minutes on two cores).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from machine_load import cpu_snapshot, load_line, machine_share

TARGET_RATIO = 10.0


def mobilenet_onnx() -> Path:
    from splitbench.cache import cache_dir
    from splitbench.model_source import resolve_model

    return resolve_model(
        "torchvision:mobilenet_v2", workdir=cache_dir("benchmarks"), fmt="onnx"
    ).path


def ours(model: Path, folder: Path) -> tuple[float, list[int]]:
    from splitbench.graph import load_graph
    from splitbench.splitter import ModelSplitter

    start = time.perf_counter()
    splitter = ModelSplitter(load_graph(model))
    sizes: list[int] = []
    for files in splitter.write_all(folder):
        sizes += [s for s in (files.head_bytes, files.tail_bytes) if s]
    os.sync()
    return time.perf_counter() - start, sizes


def plain_writes(sizes: list[int], folder: Path) -> float:
    folder.mkdir(parents=True)
    block = os.urandom(1 << 20)
    start = time.perf_counter()
    for i, size in enumerate(sizes):
        with open(folder / f"{i}.bin", "wb", buffering=0) as handle:
            left = size
            while left:
                left -= handle.write(block[: min(left, len(block))])
    os.sync()
    return time.perf_counter() - start


def naive(model: Path, folder: Path, every: int) -> tuple[float, int]:
    import onnx.utils
    from splitbench.graph import load_graph
    from splitbench.splitter import ModelSplitter

    splitter = ModelSplitter(load_graph(model))
    folder.mkdir(parents=True)
    parts = 0
    start = time.perf_counter()
    for k in range(0, splitter.num_splits, every):
        for io in (splitter.head_io(k), splitter.tail_io(k)):
            if io is None:
                continue
            onnx.utils.extract_model(
                str(model), str(folder / f"{k}_{parts}.onnx"),
                list(io.input_names), list(io.output_names),
            )  # fmt: skip
            parts += 1
    os.sync()
    return time.perf_counter() - start, parts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--every", type=int, default=5, help="baseline: every N-th split")
    args = parser.parse_args(argv)
    model = mobilenet_onnx()
    print(f"model: {model} ({model.stat().st_size / 1e6:.1f} MB)")
    print(load_line())
    before = cpu_snapshot()
    cpu0 = time.process_time()
    wall0 = time.perf_counter()
    with tempfile.TemporaryDirectory(dir=model.parent) as tmp:
        root = Path(tmp)
        times, plain = [], []
        sizes: list[int] = []
        for r in range(args.repeats):
            seconds, sizes = ours(model, root / f"ours{r}")
            times.append(seconds)
            shutil.rmtree(root / f"ours{r}")
            plain.append(plain_writes(sizes, root / f"plain{r}"))
            shutil.rmtree(root / f"plain{r}")
        base_s, base_parts = naive(model, root / "naive", args.every)
    wall = time.perf_counter() - wall0
    total = sum(sizes)
    ours_s = statistics.median(times)
    per_ours = ours_s / len(sizes)
    per_base = base_s / base_parts
    ratio = per_base / per_ours
    print(f"parts: {len(sizes)} files, {total / 1e9:.2f} GB")
    print(
        f"splitbench: {ours_s:.2f} s median of {args.repeats} ({min(times):.2f} s best),"
        f" {1e3 * per_ours:.1f} ms per part, {total / ours_s / 1e6:.0f} MB/s"
    )
    print(
        f"plain writes of the same files: {statistics.median(plain):.2f} s median,"
        f" {total / statistics.median(plain) / 1e6:.0f} MB/s (the disk's floor)"
    )
    print(
        f"onnx.utils.extract_model: {base_parts} parts (every {args.every}th split) in"
        f" {base_s:.1f} s, {1e3 * per_base:.0f} ms per part"
    )
    print(f"ratio per part: {ratio:.1f}x (target >= {TARGET_RATIO:g}x)")
    own = time.process_time() - cpu0
    # The benchmark runs in this process, so machine_share (which counts child processes)
    # puts its CPU under "everything else": subtract it here.
    print(machine_share(before, cpu_snapshot(), wall, "the benchmark"))
    print(f"of which this benchmark's own process: {own:.0f} CPU-s")
    print(load_line())
    return 0 if ratio >= TARGET_RATIO else 1


if __name__ == "__main__":
    sys.exit(main())
