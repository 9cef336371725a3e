"""Benchmarks of the cut codecs (issue 8), ratios measured side by side in one run.

1. **Sweep overhead of a cut codec** (target ≤ 1.15): ``splitbench sweep posenet`` with and
   without ``--cut-codec int8+zstd``, as real subprocesses into fresh run directories, timed
   from the outside. The two sweeps alternate (plain, coded, plain, coded, ... ``--pairs``) so
   that a slow phase of a shared machine hits both; the ratio is median coded / median plain.
2. **int8+zstd encode throughput** (target ≥ 50 %): on PoseNet's largest cut (the tensors that
   cross at the split with the most intermediate bytes, computed by running the real head), the
   kit's ``int8+zstd`` encode (quantise + Zstandard) against calling ``zstandard`` directly on
   the same int8 bytes at the same level. Throughput is uncoded float bytes per second of the
   median of repeated calls; the ratio is kit / zstandard-only.

Run: ``python benchmarks/bench_cut_codec.py`` (two sweep pairs at the sweep defaults take about
8 minutes on two idle cores; ``--runs/--min-secs/--rounds/...`` pass through to both sweeps).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from machine_load import cpu_snapshot, load_line, machine_share
from sweep_args import add_sweep_options, sweep_flags

TARGET_SWEEP_RATIO = 1.15
TARGET_THROUGHPUT = 0.5
SPLITBENCH = Path(sys.executable).parent / "splitbench"


def sweep_seconds(extra: list[str], flags: list[str]) -> float:
    """Wall seconds of one sweep (its CPU seconds are printed too: on a shared machine they
    vary less with the neighbours than the wall time does)."""
    out = Path(tempfile.mkdtemp(prefix="bench-codec-"))
    try:
        cpu0 = _children_cpu()
        start = time.perf_counter()
        proc = subprocess.run(
            [str(SPLITBENCH), "sweep", "posenet", "--out", str(out / "run"), *flags, *extra],
            capture_output=True,
            text=True,
            check=False,
        )
        wall = time.perf_counter() - start
        if proc.returncode != 0:
            sys.exit(f"sweep failed:\n{proc.stderr[-3000:]}")
        CPU_SECONDS.append(_children_cpu() - cpu0)
        return wall
    finally:
        shutil.rmtree(out, ignore_errors=True)


CPU_SECONDS: list[float] = []


def _children_cpu() -> float:
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def largest_cut() -> tuple[int, dict]:
    import numpy as np
    from splitbench.compress.runner import input_specs, run_model
    from splitbench.cutplan import plan_cuts
    from splitbench.graph import load_graph
    from splitbench.splitter import ModelSplitter
    from splitbench_models.posenet import build_posenet_tflite

    path = build_posenet_tflite()
    cuts = plan_cuts(load_graph(path))
    k = max((c for c in cuts if 0 < c.split < len(cuts) - 1), key=lambda c: c.nbytes).split
    tmp = Path(tempfile.mkdtemp(prefix="bench-cut-"))
    try:
        files = ModelSplitter(path).write_parts(k, tmp)
        spec = input_specs(path)[0]
        from splitbench.compress.scenarios.base import photo_array, sample_photos

        feeds = [
            {spec["name"]: photo_array(p, spec["shape"], (-1.0, 1.0))}
            for p in sample_photos("test")[:3]
        ]
        outs = run_model(files.head_path, feeds)
        names = list(files.cut.names)
        cuts_values = [
            {n: np.asarray({**f, **o}[n]) for n in names} for f, o in zip(feeds, outs, strict=True)
        ]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return k, cuts_values


def interleaved_medians(a, b, reps: int = 40) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """Median seconds of ``a`` and of ``b``, called alternately so drift hits both alike."""
    sa, sb = [], []
    for _ in range(reps):
        for fn, samples in ((a, sa), (b, sb)):
            start = time.perf_counter()
            fn()
            samples.append(time.perf_counter() - start)
    return statistics.median(sa), statistics.median(sb)


def throughput() -> float:
    import numpy as np
    import zstandard
    from splitbench.compress.cut_codecs import ZSTD_LEVEL, CutCodec

    k, values = largest_cut()
    codec = CutCodec("int8+zstd")
    codec.calibrate(values)
    cut = values[0]
    nbytes = sum(v.nbytes for v in cut.values())
    int8 = b"".join(
        codec._quantize(n, v).tobytes() for n, v in cut.items() if v.dtype == np.float32
    )
    direct = zstandard.ZstdCompressor(level=ZSTD_LEVEL)
    kit_s, zstd_s = interleaved_medians(lambda: codec.encode(cut), lambda: direct.compress(int8))
    coded = len(codec.encode(cut))
    print(
        f"largest PoseNet cut: split {k}, {nbytes:,} float bytes -> {coded:,} coded bytes "
        f"({nbytes / coded:.1f}x)"
    )
    print(f"  kit int8+zstd encode : {1e3 * kit_s:8.2f} ms  {nbytes / kit_s / 1e6:8.1f} MB/s")
    print(
        f"  zstandard on int8    : {1e3 * zstd_s:8.2f} ms  {nbytes / zstd_s / 1e6:8.1f} MB/s "
        f"(level {ZSTD_LEVEL}, same int8 bytes)"
    )
    ratio = zstd_s / kit_s
    verdict = "OK" if ratio >= TARGET_THROUGHPUT else "MISSED"
    print(
        f"  throughput ratio kit / zstandard = {ratio:.2f} (target >= {TARGET_THROUGHPUT}) "
        f"{verdict}"
    )
    return ratio


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=int, default=2, help="plain/coded sweep pairs")
    parser.add_argument("--skip-sweeps", action="store_true", help="only the encode benchmark")
    add_sweep_options(parser)
    args = parser.parse_args()
    print(load_line())
    throughput()
    if args.skip_sweeps:
        return
    flags = sweep_flags(args)
    plain: list[float] = []
    coded: list[float] = []
    before = cpu_snapshot()
    start = time.perf_counter()
    for i in range(args.pairs):
        plain.append(sweep_seconds([], flags))
        coded.append(sweep_seconds(["--cut-codec", "int8+zstd"], flags))
        print(
            f"pair {i + 1}: plain {plain[-1]:.1f} s ({CPU_SECONDS[-2]:.1f} CPU-s), "
            f"--cut-codec int8+zstd {coded[-1]:.1f} s ({CPU_SECONDS[-1]:.1f} CPU-s)",
            flush=True,
        )
    share = machine_share(before, cpu_snapshot(), time.perf_counter() - start, "the sweeps")
    ratio = statistics.median(coded) / statistics.median(plain)
    verdict = "OK" if ratio <= TARGET_SWEEP_RATIO else "MISSED"
    print(
        f"posenet sweep {' '.join(flags) or '(defaults)'}: median plain "
        f"{statistics.median(plain):.1f} s, median with --cut-codec int8+zstd "
        f"{statistics.median(coded):.1f} s"
    )
    print(f"  wall ratio coded / plain = {ratio:.3f} (target <= {TARGET_SWEEP_RATIO}) {verdict}")
    cpu_ratio = statistics.median(CPU_SECONDS[1::2]) / statistics.median(CPU_SECONDS[0::2])
    print(f"  CPU-seconds ratio coded / plain = {cpu_ratio:.3f}")
    print(share)
    print(load_line())


if __name__ == "__main__":
    main()
