"""Benchmark: what the anchor stage (issue 21) adds to a default PoseNet sweep (target: at most
10 %), in one run.

Runs ``splitbench sweep posenet`` with the default settings and the default anchors
(``jpeg:90,webp:80,h264:23`` on the sample photos) as a subprocess into a fresh directory. The
sweep's summary line gives its own wall time and the anchor stage's seconds (encode, decode and
the whole model on every decoded picture); the ratio is anchor stage / the rest of the sweep.
Also prints the anchor rows and the machine's load, because the machine is shared.

Run: ``python benchmarks/bench_anchor.py [RUN_DIR]`` (a few minutes: the default sweep measures
64 parts; with RUN_DIR the run directory is kept there).
"""

from __future__ import annotations

import csv
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from machine_load import cpu_snapshot, load_line, machine_share

TARGET = 0.10
SPLITBENCH = Path(sys.executable).parent / "splitbench"


def main() -> None:
    print(load_line())
    keep = Path(sys.argv[1]) if len(sys.argv) > 1 else None  # keep the run directory there
    out = keep or Path(tempfile.mkdtemp(prefix="bench-anchor-")) / "posenet"
    before = cpu_snapshot()
    start = time.perf_counter()
    done = subprocess.run(
        [str(SPLITBENCH), "sweep", "posenet", "--out", str(out)],
        capture_output=True,
        text=True,
        env={"COLUMNS": "400", "NO_COLOR": "1", **os.environ},
        timeout=3600,
    )
    wall = time.perf_counter() - start
    print(machine_share(before, cpu_snapshot(), wall))
    if done.returncode != 0:
        sys.exit(f"sweep failed ({done.returncode}): {done.stderr.strip()[-500:]}")
    summary = re.search(
        r"of ([\d.]+) s wall, anchor stage ([\d.]+) s", done.stdout.replace("\n", " ")
    )
    if summary is None:
        sys.exit("the sweep's summary line has no anchor stage time")
    sweep_s, anchor_s = float(summary[1]), float(summary[2])
    rest = sweep_s - anchor_s
    ratio = anchor_s / rest
    for line in done.stdout.splitlines():
        if line.startswith("best anchor for"):
            print(line)
    with open(out / "anchors.csv", newline="") as handle:
        for row in csv.DictReader(handle):
            print(
                f"  {row['anchor']:8s} {float(row['coded_bytes']) / 1024:6.1f} KB  encode "
                f"{float(row['encode_ms']):6.2f} ms  decode {float(row['decode_ms']):6.2f} ms  "
                f"max|diff| {float(row['max_abs_diff']):.3g}"
            )
    print(
        f"sweep {sweep_s:.1f} s (process {wall:.1f} s), anchor stage {anchor_s:.2f} s: "
        f"{100 * ratio:.1f} % of the rest of the sweep (target at most {100 * TARGET:.0f} %)"
    )
    print(load_line())
    if keep is None:
        shutil.rmtree(out.parent, ignore_errors=True)
    if ratio > TARGET:
        sys.exit(1)


if __name__ == "__main__":
    main()
