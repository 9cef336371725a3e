"""Benchmark: a full sweep of a 332-operator model, watching memory and disk split by split.

Parts are made, checked and measured one split at a time and deleted afterwards, so the memory
of a sweep must not grow with the number of splits done, and its run directory must end up
holding only results. This script runs ``splitbench sweep mediapipe:pose_landmark_full`` (332
operators, 333 split points) as a subprocess, with short measurement settings by default
(``--runs 3 --min-secs 0 --warmup 0 --warmup-secs 0``: the question is memory, not latency),
and every ``--interval`` seconds (0.5) samples:

* the RSS of the sweep process and all its children (psutil);
* how many splits are done: ``SELECT count(*) FROM splits`` on the run's ``results.sqlite``,
  opened read-only (a split's row is committed once its parts are made and checked);
* the bytes on disk under the run directory and under its ``parts/`` folder.

It prints the RSS at ~10 %, ~50 % and 100 % of the splits, the peak, the slope of RSS against
splits done over the second half in MB per 100 splits (least squares over every sample, with its
standard error; and over the lowest and highest RSS of runs of splits, since RSS swings within
each split) with a verdict, the wall time, and the disk used under the run dir at the end.

Run: ``python benchmarks/bench_scale.py`` (a few minutes on two cores); any measurement
setting can be overridden (``--runs 50 --min-secs 1`` for the README's defaults).

``--executorch`` runs the ExecuTorch case instead: ``splitbench sweep torchvision:resnet18
--format executorch`` (69 split units, 70 splits, 138 parts lowered by the sweep and its
lowering workers), and adds the per-part lowering time and the RSS at each part's finish, first
vs last quarter of the parts with their spread (:mod:`lowering_trend`): a lowering worker used
to get slower and bigger with every part it had lowered.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import psutil
from lowering_trend import Lowered, lowered_parts, lowering_lines
from machine_load import cpu_snapshot, machine_share
from sweep_args import add_sweep_options, sweep_flags

MODEL = "mediapipe:pose_landmark_full"
EXECUTORCH_MODEL = "torchvision:resnet18"
MAX_SLOPE_MB = 10.0  # per 100 splits; keeping each split's parts would cost ~100x that
MB = float(1 << 20)


@dataclass(frozen=True)
class Sample:
    t: float  # seconds since the sweep started
    rss: int  # bytes, the sweep process and its children
    done: int  # rows in the splits table
    disk: int  # bytes allocated under the run dir
    parts: int  # bytes allocated under run dir/parts
    top: int = 0  # bytes, the largest single process of them (a lowering worker, say)


def tree_rss(proc: psutil.Process) -> tuple[int, int]:
    """RSS of ``proc`` and all its children together, and of the largest one of them."""
    total = top = 0
    try:
        family = [proc, *proc.children(recursive=True)]
    except psutil.Error:
        return 0, 0
    for p in family:
        with contextlib.suppress(psutil.Error):
            rss = p.memory_info().rss
            total += rss
            top = max(top, rss)
    return total, top


def du(path: Path) -> int:
    """Bytes allocated on disk under ``path`` (like ``du``), 0 when it does not exist."""
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):  # deleted while walking (parts are)
                total += os.lstat(os.path.join(root, name)).st_blocks * 512
    return total


def query(db: Path, sql: str) -> tuple | None:
    if not db.is_file():
        return None
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=0.2)
        try:
            return conn.execute(sql).fetchone()
        finally:
            conn.close()
    except sqlite3.Error:  # schema not there yet, or busy: try again next sample
        return None


def rss_at(samples: list[Sample], done: int) -> Sample | None:
    return next((s for s in samples if s.done >= done), None)


def rss_at_time(samples: list[Sample], t: float) -> Sample | None:
    """The last sample taken at or before ``t`` seconds into the sweep."""
    before = [s for s in samples if s.t <= t]
    return before[-1] if before else None


@dataclass(frozen=True)
class Slope:
    per_100: float  # MB per 100 splits, least squares over every sample in the range
    se: float  # its standard error
    samples: int
    floor: float  # slope of the lowest RSS per bin of splits (what a leak raises), MB/100
    peak: float  # slope of the highest RSS per bin, MB/100


def fit(xs: list[float], ys: list[float]) -> tuple[float, float]:
    """Least-squares slope and its standard error (NaN when it cannot be fitted)."""
    n = len(xs)
    if n < 3 or len(set(xs)) < 2:
        return math.nan, math.nan
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx
    resid = sum((y - my - slope * (x - mx)) ** 2 for x, y in zip(xs, ys, strict=True))
    return slope, math.sqrt(resid / (n - 2) / sxx)


def rss_slope(samples: list[Sample], lo: int, hi: int, bins: int = 8) -> Slope:
    """RSS (MB) against splits done, for samples with lo <= done < hi, in MB per 100 splits.

    RSS swings within each split (the lossless check holds three interpreters, a measurement
    one), so besides the plain fit the samples are grouped into ``bins`` runs of splits and the
    lowest and highest RSS of each bin are fitted too."""
    chosen = [s for s in samples if lo <= s.done < hi]
    slope, se = fit([s.done for s in chosen], [s.rss / MB for s in chosen])
    width = max(1, math.ceil((hi - lo) / bins))
    groups: dict[int, list[Sample]] = {}
    for s in chosen:
        groups.setdefault((s.done - lo) // width, []).append(s)
    centres = [lo + (b + 0.5) * width for b in sorted(groups)]
    floor, _ = fit(centres, [min(x.rss for x in groups[b]) / MB for b in sorted(groups)])
    peak, _ = fit(centres, [max(x.rss for x in groups[b]) / MB for b in sorted(groups)])
    return Slope(100 * slope, 100 * se, len(chosen), 100 * floor, 100 * peak)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help=f"MODEL for splitbench sweep (default {MODEL})")
    parser.add_argument(
        "--executorch",
        action="store_true",
        help=f"the ExecuTorch case: {EXECUTORCH_MODEL} (unless --model) with --format executorch,"
        " and per-part lowering time and memory over the run",
    )
    add_sweep_options(parser, {"runs": 3, "min_secs": 0.0, "warmup": 0, "warmup_secs": 0.0})
    parser.add_argument("--interval", type=float, default=0.5, help="sampling period, s (0.5)")
    parser.add_argument(
        "--max-slope-mb",
        type=float,
        default=MAX_SLOPE_MB,
        help=f"verdict threshold, MB per 100 splits (default {MAX_SLOPE_MB:g})",
    )
    parser.add_argument("--keep", type=Path, metavar="DIR", help="run into DIR and keep it")
    args = parser.parse_args(argv)
    if args.executorch:
        args.model = args.model or EXECUTORCH_MODEL
        args.format = "executorch"
    args.model = args.model or MODEL

    if args.keep is not None and args.keep.exists():
        parser.error(f"--keep {args.keep}: already exists (a rerun would resume, not sweep)")
    exe = Path(sys.executable).with_name("splitbench")
    root = Path(tempfile.mkdtemp(prefix="bench-scale-"))
    out = args.keep or root / "run"
    db_path = out / "results.sqlite"
    cmd = ["sweep", args.model, "--out", str(out)]
    cmd += sweep_flags(args)
    shown = "splitbench " + " ".join(cmd).replace(str(out), "DIR")
    expected: int | None = None
    if args.splits:
        from splitbench.cli_options import parse_split_list

        expected = len(set(parse_split_list(args.splits)))

    samples: list[Sample] = []
    lowered: list[Lowered] = []
    load_before = os.getloadavg()[0]
    try:
        with (root / "stdout.txt").open("w") as so, (root / "stderr.txt").open("w") as se:
            cpu_before = cpu_snapshot()
            start = time.perf_counter()
            start_epoch = time.time()
            proc = psutil.Popen([str(exe), *cmd], stdout=so, stderr=se)
            while True:
                tick = time.perf_counter()
                finished = proc.poll() is not None
                row = query(db_path, "SELECT count(*) FROM splits")
                done = row[0] if row else (samples[-1].done if samples else 0)
                if not finished:
                    rss, top = tree_rss(proc)
                    samples.append(Sample(tick - start, rss, done, du(out), du(out / "parts"), top))
                if finished:
                    break
                time.sleep(max(0.0, args.interval - (time.perf_counter() - tick)))
            wall = time.perf_counter() - start
            share = machine_share(cpu_before, cpu_snapshot(), wall)
        load_after = os.getloadavg()[0]
        if proc.returncode != 0:
            err = (root / "stderr.txt").read_text().strip().splitlines()
            raise SystemExit(f"`{shown}` failed (exit {proc.returncode}): {err[-1:]}")
        model = query(db_path, "SELECT num_operators, file_bytes FROM models LIMIT 1")
        parts = query(db_path, "SELECT count(*), avg(head_bytes + tail_bytes) FROM splits")
        measured = query(db_path, "SELECT count(*), sum(error IS NOT NULL) FROM measurements")
        disk_end = du(out)
        files = sorted(
            ((p.stat().st_size, p.relative_to(out)) for p in out.rglob("*") if p.is_file()),
            reverse=True,
        )
        parts_left = (out / "parts").exists()
        lowered = lowered_parts(out)
    finally:
        shutil.rmtree(root, ignore_errors=True)

    n_ops, model_bytes = model if model else (math.nan, 0)
    total = expected or (n_ops + 1)
    done_end = parts[0] if parts else 0
    per_split_parts = (parts[1] or 0.0) if parts else 0.0
    command = "python benchmarks/bench_scale.py" + "".join(
        f" {x}" for x in (sys.argv[1:] if argv is None else argv)
    )
    lines = [
        f"$ {command}",
        f"`{shown}` as a subprocess; {os.cpu_count()} CPUs, load average {load_before:.2f} before,"
        f" {load_after:.2f} after",
        f"{args.model}: {n_ops} operators, {model_bytes / 1e6:.1f} MB; {done_end}/{total} splits"
        f" done, {measured[0] if measured else 0} measurements"
        f" ({measured[1] if measured else 0} failed); wall time {wall:.0f} s;"
        f" {len(samples)} samples every {args.interval:g} s",
        share,
    ]
    first_split = rss_at(samples, 1)
    if first_split:
        lines.append(
            f"RSS at the first split (after the whole-model measurement):"
            f" {first_split.rss / MB:.0f} MB at {first_split.t:.0f} s"
        )
    for frac in (0.1, 0.5, 1.0):
        s = rss_at(samples, max(1, math.ceil(frac * total)))
        if s:
            lines.append(
                f"RSS at ~{100 * frac:.0f} % of splits ({s.done} done, {s.t:.0f} s):"
                f" {s.rss / MB:.0f} MB"
            )
        else:
            lines.append(f"RSS at ~{100 * frac:.0f} % of splits: not reached while sampling")
    during = [s for s in samples if 1 <= s.done < total] or samples
    peak = max(samples, key=lambda s: s.rss)
    peak_during = max(during, key=lambda s: s.rss)
    low_during = min(during, key=lambda s: s.rss)
    lines.append(
        f"peak RSS: {peak.rss / MB:.0f} MB at {peak.done} splits done ({peak.t:.0f} s); range"
        f" while splitting {low_during.rss / MB:.0f}..{peak_during.rss / MB:.0f} MB; last sample"
        f" (reports) {samples[-1].rss / MB:.0f} MB"
    )
    half = math.ceil(total / 2)
    second = rss_slope(samples, half, total)
    from_10 = rss_slope(samples, max(1, math.ceil(0.1 * total)), total)
    keep_cost = per_split_parts / MB * 100
    limit = args.max_slope_mb
    if math.isnan(second.per_100):
        verdict = "unknown (too few samples in the second half)"
    elif second.per_100 <= limit:
        verdict = "memory does NOT grow with the number of splits"
    elif second.per_100 - 2 * second.se > limit:
        verdict = "memory GROWS with the number of splits"
    else:
        verdict = "inconclusive: above the threshold but within noise (rerun, or longer run)"
    lines.append(
        f"RSS slope over the second half ({half}..{total - 1} splits done, {second.samples}"
        f" samples): {second.per_100:+.2f} ± {second.se:.2f} MB per 100 splits (floor"
        f" {second.floor:+.2f}, peaks {second.peak:+.2f}); from 10 %: {from_10.per_100:+.2f} ±"
        f" {from_10.se:.2f}"
    )
    lines.append(f"verdict (threshold {limit:g} MB per 100 splits): {verdict}")
    lines.append(
        f"for scale: keeping each split's head+tail ({per_split_parts / 1e6:.1f} MB on average)"
        f" would add ~{keep_cost:.0f} MB per 100 splits"
    )
    peak_parts = max((s.parts for s in samples), default=0)
    peak_disk = max((s.disk for s in samples), default=0)
    biggest = ", ".join(f"{name} {size / 1e6:.1f} MB" for size, name in files[:3])
    lines.append(
        f"disk under the run dir at the end: {disk_end / 1e6:.1f} MB ({biggest});"
        f" parts/ {'LEFT BEHIND' if parts_left else 'gone'}; peaks while sampling: parts/"
        f" {peak_parts / 1e6:.1f} MB, run dir {peak_disk / 1e6:.1f} MB"
    )
    if lowered:

        def rss_mb_at(epoch: float) -> tuple[float, float] | None:
            s = rss_at_time(samples, epoch - start_epoch)
            return None if s is None else (s.rss / MB, s.top / MB)

        lines += lowering_lines(lowered, rss_mb_at)
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
