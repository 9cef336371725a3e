"""Benchmark: sweep wall time against the inference time it measured (target ratio <= 1.3).

A sweep's useful work is the timed inferences (first, warm-up and steady-state runs of every
part). Everything else is overhead: CLI start-up, the TensorFlow and LiteRT imports, building or
loading the model, splitting, the lossless check, database writes, the runner's own set-up, and
the reports (CSV, XLSX, plots). This script runs the README's main job,
``splitbench sweep posenet --out DIR`` at its default settings, as a real subprocess into a
fresh temporary run directory, and times it from the outside (process start to exit). It then
reads ``results.sqlite`` and sums every timed inference the database holds: ``first_ms`` of
each measurement plus all its ``warmup`` and ``steady`` samples. The ratio is wall / that sum.

The breakdown uses the measurements' ``started_at`` / ``finished_at`` stamps (wall clock,
millisecond precision), so its lines add up to the wall time:

* before the first measurement: process start, imports, model resolution, graph, database;
* inside measurements: timed inference, init (load + allocate), and the rest (the runner's
  untimed runtime warm-up, memory baselines, the timing loop, machine-state reads);
* between measurements: splitting, the lossless check, database commits;
* after the last measurement: reports (CSV, XLSX, plots) and process exit.

The sweep's own closing line (``inference X s of Y s wall``, measured inside ``Sweep.run``)
is echoed as a cross-check of the database sum.

ONNX (issue 7): ``--onnx`` sweeps torchvision's mobilenet_v2 as an ONNX file (101 splits, 200
parts of 1.42 GB per pass, ONNX Runtime on this host). The file is exported once with the kit's
own PyTorch intake into the benchmark cache (the same file as ``bench_onnx_split.py``), before
the clock starts: the ratio is the sweep's, not the export's.

Run: ``python benchmarks/bench_sweep_overhead.py`` (about two minutes on two cores). Options
``--model``, ``--runs``, ``--min-secs``, ``--warmup``, ``--warmup-secs``, ``--threads`` and
``--splits`` are passed to ``splitbench sweep`` only when given, so the default is exactly the
README's command.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from machine_load import cpu_snapshot, machine_share
from sweep_args import add_sweep_options, sweep_flags

TARGET_RATIO = 1.3


@dataclass
class DbTotals:
    measurements: int
    failed: int
    samples: int
    inference_s: float  # first + warm-up + steady, every measurement
    init_s: float
    inside_s: float  # sum of (finished_at - started_at)
    first_start: float  # epoch seconds
    last_finish: float
    splits: int


def _epoch(stamp: str | None) -> float | None:
    return None if stamp is None else datetime.fromisoformat(stamp).timestamp()


def read_db(db_path: Path) -> DbTotals:
    from splitbench.results import ResultsDB

    with ResultsDB(db_path, create=False) as db:
        found = db.measurements()
        n_splits = sum(len(db.splits(m.sha256)) for m in db.models())
    if not found:
        raise SystemExit(f"{db_path}: no measurements in the database")
    inference = init = inside = 0.0
    samples = failed = 0
    starts: list[float] = []
    finishes: list[float] = []
    for m in found:
        part = m.part
        failed += part.error is not None
        inference += (part.first_ms or 0.0) + sum(part.warmup_ms) + sum(part.steady_ms)
        if not part.steady_ms and part.steady_summary is not None:
            inference += part.steady_summary.avg_ms * part.steady_summary.count
        samples += (part.first_ms is not None) + len(part.warmup_ms) + len(part.steady_ms)
        init += part.init_ms or 0.0
        start, finish = _epoch(m.started_at), _epoch(m.finished_at)
        if start is not None and finish is not None:
            inside += finish - start
            starts.append(start)
        if finish is not None:
            finishes.append(finish)
    return DbTotals(
        measurements=len(found),
        failed=failed,
        samples=samples,
        inference_s=inference / 1000,
        init_s=init / 1000,
        inside_s=inside,
        first_start=min(starts),
        last_finish=max(finishes),
        splits=n_splits,
    )


def sweep_command(args: argparse.Namespace, out: Path) -> list[str]:
    cmd = ["sweep", args.model, "--out", str(out)]
    cmd += sweep_flags(args)
    return cmd


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        epilog="Defaults: the README's main job, `splitbench sweep posenet --out DIR`.",
    )
    parser.add_argument("--model", default="posenet", help="MODEL for splitbench sweep")
    parser.add_argument(
        "--onnx",
        action="store_true",
        help="sweep torchvision:mobilenet_v2 as ONNX (exported once into the benchmark cache)",
    )
    add_sweep_options(parser)
    parser.add_argument(
        "--keep", type=Path, metavar="DIR", help="run into DIR (must not exist) and keep it"
    )
    args = parser.parse_args(argv)

    if args.onnx:
        from bench_onnx_split import mobilenet_onnx

        args.model = str(mobilenet_onnx())
    exe = Path(sys.executable).with_name("splitbench")
    if args.keep is not None and args.keep.exists():
        parser.error(f"--keep {args.keep}: already exists (a rerun would resume, not sweep)")
    tmp = None if args.keep else tempfile.mkdtemp(prefix="bench-sweep-overhead-")
    out = args.keep if args.keep else Path(tmp) / "run"
    cmd = sweep_command(args, out)
    shown = "splitbench " + " ".join(cmd).replace(str(out), "DIR")
    load_before = os.getloadavg()[0]
    env = {**os.environ, "COLUMNS": "200"}  # keep the sweep's closing line on one line
    try:
        cpu_before = cpu_snapshot()
        t0 = time.time()
        p0 = time.perf_counter()
        done = subprocess.run(
            [str(exe), *cmd], capture_output=True, text=True, check=False, env=env
        )
        wall = time.perf_counter() - p0
        share = machine_share(cpu_before, cpu_snapshot(), wall)
        t_end = t0 + wall
        load_after = os.getloadavg()[0]
        if done.returncode != 0:
            last = (done.stderr or done.stdout).strip().splitlines()
            raise SystemExit(
                f"`{shown}` failed (exit {done.returncode}): {last[-1] if last else ''}"
            )
        db = read_db(out / "results.sqlite")
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)

    before = db.first_start - t0
    span = db.last_finish - db.first_start
    between = span - db.inside_s
    after = t_end - db.last_finish
    other_inside = db.inside_s - db.inference_s - db.init_s
    ratio = wall / db.inference_s
    verdict = "met" if ratio <= TARGET_RATIO else "NOT met"
    own = re.search(r"inference ([\d.]+) s of ([\d.]+) s wall", done.stdout)

    def pct(seconds: float) -> str:
        return f"{seconds:7.1f} s {100 * seconds / wall:5.1f} %"

    command = "python benchmarks/bench_sweep_overhead.py" + "".join(
        f" {a}" for a in (sys.argv[1:] if argv is None else argv)
    )
    lines = [
        f"$ {command}",
        f"`{shown}` in a fresh process and a fresh run dir; {os.cpu_count()} CPUs, load average"
        f" {load_before:.2f} before, {load_after:.2f} after",
        f"{db.splits} splits, {db.measurements} measurements ({db.failed} failed),"
        f" {db.samples:,} timed inferences in the DB",
        share,
        f"wall time (process start to exit)             {pct(wall)}",
        f"  before the first measurement                {pct(before)}"
        "   (start-up, imports, model, graph, DB)",
        f"  inside measurements                         {pct(db.inside_s)}",
        f"    timed inference (first+warm-up+steady)    {pct(db.inference_s)}",
        f"    init (load + allocate)                    {pct(db.init_s)}",
        f"    other runner work                         {pct(other_inside)}"
        "   (runtime warm-up, memory baselines, loop)",
        f"  between measurements                        {pct(between)}"
        "   (split, lossless check, DB commits)",
        f"  after the last measurement                  {pct(after)}   (CSV, XLSX, plots, exit)",
        f"ratio wall / timed inference: {ratio:.3f} (target <= {TARGET_RATIO}: {verdict})",
    ]
    if own:
        inner_inf, inner_wall = float(own.group(1)), float(own.group(2))
        lines.append(
            f"cross-check, the sweep's own line: inference {inner_inf:.1f} s of {inner_wall:.1f} s"
            f" inside Sweep.run (ratio {inner_wall / inner_inf:.3f}); DB sum"
            f" {db.inference_s:.1f} s"
        )
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
