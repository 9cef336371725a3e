"""Benchmark: an A/A test of `splitbench compare` (target: at most 10 % of parts significant).

Runs the same sweep twice in a row (by default the README's main job, ``splitbench sweep
posenet``), each as a fresh subprocess into its own fresh run directory, then ``splitbench
compare A B`` and prints the fraction of parts it called significantly different, the largest
differences, whether any network's best split changed, and how busy the machine was during each
sweep (the figures behind a noisy result). Nothing differs between the two runs but time, so
every part called different is a false alarm.

Run: ``python benchmarks/bench_aa.py`` (two full sweeps, about four minutes on two cores), or
shorter with e.g. ``--runs 20 --min-secs 0.2``.
"""

from __future__ import annotations

import argparse
import csv
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from machine_load import cpu_snapshot, load_line, machine_share
from sweep_args import add_sweep_options, sweep_flags

TARGET = 0.10  # the bound on the A/A fraction of significant parts


def sweep(exe: Path, cmd: list[str], out: Path) -> str:
    """One sweep; returns who else used the CPUs meanwhile."""
    before = cpu_snapshot()
    start = time.perf_counter()
    done = subprocess.run(
        [str(exe), *cmd, "--out", str(out)], capture_output=True, text=True, check=False
    )
    share = machine_share(before, cpu_snapshot(), time.perf_counter() - start)
    if done.returncode != 0:
        last = (done.stderr or done.stdout).strip().splitlines()[-1:]
        raise SystemExit(f"sweep into {out} failed (exit {done.returncode}): {last}")
    return share


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="posenet", help="MODEL for splitbench sweep")
    add_sweep_options(parser)
    parser.add_argument("--statistic", default="median", help="median (default) or mean")
    parser.add_argument("--min-effect", default="3", help="percent of A (compare's default 3)")
    parser.add_argument(
        "--keep", type=Path, metavar="DIR", help="keep the two run dirs as DIR/a and DIR/b"
    )
    args = parser.parse_args(argv)

    exe = Path(sys.executable).with_name("splitbench")
    if args.keep is not None and args.keep.exists():
        parser.error(f"--keep {args.keep}: already exists (a rerun would resume, not sweep)")
    root = args.keep or Path(tempfile.mkdtemp(prefix="bench-aa-"))
    cmd = ["sweep", args.model, *sweep_flags(args)]
    try:
        print(f"before: {load_line()}")
        shares = [sweep(exe, cmd, root / name) for name in ("a", "b")]
        print(f"after: {load_line()}")
        out = root / "compare"
        done = subprocess.run(
            [str(exe), "compare", str(root / "a"), str(root / "b"), "--out", str(out),
             "--statistic", args.statistic, "--min-effect", str(args.min_effect)],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        if done.returncode != 0:
            raise SystemExit(f"compare failed (exit {done.returncode}): {done.stderr.strip()}")
        with (out / "compare.csv").open(newline="") as fh:
            rows = list(csv.DictReader(fh))
        judged = [r for r in rows if r["significant"] in ("True", "False")]
        flagged = [r for r in judged if r["significant"] == "True"]
        fraction = len(flagged) / len(judged) if judged else float("nan")
        print(f"command: splitbench {' '.join(cmd)} (twice)")
        for name, share in zip("AB", shares, strict=True):
            print(f"run {name}: {share}")
        print(done.stdout.strip())
        verdict = "met" if fraction <= TARGET else "NOT met"
        print(
            f"A/A: {len(flagged)} of {len(judged)} parts significant = {100 * fraction:.1f} % "
            f"(target at most {100 * TARGET:.0f} %: {verdict})"
        )
        return 0 if fraction <= TARGET else 1
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
