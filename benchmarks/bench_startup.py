"""Benchmark: start-up of everyday commands, as a user runs them (target: under 0.3 s).

Each command runs ``--repeats`` times as a fresh process, timed from the outside (wall) and by
its CPU time (user + system of the child, less sensitive to a busy neighbour). Printed beside
them, from the same run: a bare ``python -c pass`` and ``python -c "import typer"`` — the floor
any typer command line stands on here.

Run: ``python benchmarks/bench_startup.py`` (a few seconds).
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

from machine_load import load_line

TARGET_SECONDS = 0.3


def measure(args: list[str], repeats: int) -> tuple[list[float], list[float]]:
    walls, cpus = [], []
    for _ in range(repeats):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        done = subprocess.run(args, capture_output=True, check=False)
        walls.append(time.perf_counter() - start)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(args)}: exit {done.returncode}")
    return walls, cpus


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=10, help="runs per command (default 10)")
    args = parser.parse_args(argv)
    exe = str(Path(sys.executable).with_name("splitbench"))
    cases = [
        ("python -c pass", [sys.executable, "-c", "pass"], False),
        ('python -c "import typer"', [sys.executable, "-c", "import typer"], False),
        ("splitbench --help", [exe, "--help"], True),
        ("splitbench models", [exe, "models"], True),
        ("splitbench split --help", [exe, "split", "--help"], False),
    ]
    measure([exe, "models"], 1)  # fills the model cache and the page cache first
    print(f"$ python benchmarks/bench_startup.py --repeats {args.repeats}")
    for label, command, targeted in cases:
        walls, cpus = measure(command, args.repeats)
        line = (
            f"{label}: wall min {min(walls):.3f} s, median {statistics.median(walls):.3f} s;"
            f" CPU min {min(cpus):.3f} s, median {statistics.median(cpus):.3f} s"
        )
        if targeted:
            verdict = "met" if statistics.median(walls) < TARGET_SECONDS else "NOT met"
            line += f" (target < {TARGET_SECONDS} s on the median: {verdict})"
        print(line)
    print(load_line())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
