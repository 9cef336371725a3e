"""Benchmark: do two consecutive sweeps of the same model agree, split by split? (target 5 %)

Runs ``splitbench sweep MODEL --out DIR`` twice in a row, each as a fresh subprocess into its
own fresh run directory, with the same settings (by default the README's main job: posenet,
``--runs 50 --min-secs 1 --warmup 1 --warmup-secs 0.5``), then compares the two runs per split:

* the reported figures: ``client_ms`` and ``server_ms`` of each ``splits.csv`` (means of the
  steady-state samples), and their sum (the compute time of that split);
* medians of the raw steady-state samples of each head and tail, read from each
  ``results.sqlite`` (a median shrugs off the odd sample slowed by another process);
* the whole model (the anchor measured once per sweep), and the best split per network.

For each split the relative difference is ``(B - A) / mean(A, B)``; empty parts (split 0's head,
split N's tail) and parts that failed are left out. The summary gives the median over splits of
``|diff| / mean``, the worst split and how many splits are within the tolerance.

Run: ``python benchmarks/bench_repeatability.py`` (two full sweeps, about four minutes on two
cores), or shorter with e.g. ``--runs 10 --min-secs 0.2``.
"""

from __future__ import annotations

import argparse
import csv
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from machine_load import cpu_snapshot, machine_share
from sweep_args import add_sweep_options, sweep_flags

TOLERANCE = 0.05


@dataclass
class Run:
    out: Path
    wall_s: float
    load: list[float]  # 1-min load average read around each measurement (the DB keeps it)
    rows: dict[int, dict[str, str]]  # splits.csv by split
    medians: dict[tuple[int | None, str], float]  # (split, role) -> median steady ms
    means: dict[tuple[int | None, str], float]  # same, mean (for the whole model)
    share: str  # who else used the CPUs during this sweep


def run_sweep(exe: Path, cmd: list[str], out: Path) -> Run:
    cpu_before = cpu_snapshot()
    start = time.perf_counter()
    done = subprocess.run(
        [str(exe), *cmd, "--out", str(out)], capture_output=True, text=True, check=False
    )
    wall = time.perf_counter() - start
    share = machine_share(cpu_before, cpu_snapshot(), wall)
    if done.returncode != 0:
        last = (done.stderr or done.stdout).strip().splitlines()
        raise SystemExit(f"sweep into {out} failed (exit {done.returncode}): {last[-1:]}")
    with (out / "splits.csv").open(newline="") as fh:
        rows = {int(r["split"]): r for r in csv.DictReader(fh)}
    medians, means, load = read_samples(out / "results.sqlite")
    return Run(out, wall, load, rows, medians, means, share)


Stats = dict[tuple[int | None, str], float]


def read_samples(db_path: Path) -> tuple[Stats, Stats, list[float]]:
    """Median and mean of the steady samples of every successful bout of each part, pooled as
    the split table pools them, and the load averages the host target recorded."""
    from splitbench.results import ResultsDB

    latest: dict[tuple[int | None, str], list[float]] = {}
    load: list[float] = []
    with ResultsDB(db_path, create=False) as db:
        for m in db.measurements(strategy="direct"):  # oldest first
            if m.part.ok and m.part.steady_ms:
                latest.setdefault((m.split, m.role), []).extend(m.part.steady_ms)
            load += [float(v) for k, v in m.conditions.items() if k.startswith("loadavg_1m")]
    medians = {key: statistics.median(s) for key, s in latest.items()}
    means = {key: statistics.fmean(s) for key, s in latest.items()}
    return medians, means, load


def number(text: str | None) -> float:
    try:
        return float(text) if text not in (None, "") else math.nan
    except ValueError:
        return math.nan


def rel_diff(a: float, b: float) -> float:
    """(b - a) / mean(a, b); NaN when either is missing or the part is empty (0)."""
    if math.isnan(a) or math.isnan(b) or a <= 0 or b <= 0:
        return math.nan
    return (b - a) / ((a + b) / 2)


@dataclass
class Series:
    name: str
    diffs: dict[int, float]  # split -> relative difference (NaN left out)

    def summary(self, tolerance: float) -> str:
        if not self.diffs:
            return f"{self.name:<22} no comparable splits"
        absd = {k: abs(d) for k, d in self.diffs.items()}
        median = statistics.median(absd.values())
        worst = max(absd, key=absd.__getitem__)
        within = sum(d <= tolerance for d in absd.values())
        verdict = "met" if median <= tolerance else "NOT met"
        shift = statistics.median(self.diffs.values())
        return (
            f"{self.name:<22} median |diff| {100 * median:5.2f} % ({verdict}), worst split"
            f" {worst} {100 * self.diffs[worst]:+6.2f} %, within {100 * tolerance:g} %:"
            f" {within}/{len(absd)}; median signed diff {100 * shift:+.2f} %"
        )

    def median_abs(self) -> float:
        return statistics.median(abs(d) for d in self.diffs.values()) if self.diffs else math.nan


def compare(a: Run, b: Run) -> tuple[list[Series], list[str]]:
    splits = sorted(set(a.rows) & set(b.rows))
    columns = {
        "client mean (csv)": lambda r, k: number(r.rows[k]["client_ms"]),
        "server mean (csv)": lambda r, k: number(r.rows[k]["server_ms"]),
        "client+server (csv)": lambda r, k: (
            number(r.rows[k]["client_ms"]) + number(r.rows[k]["server_ms"])
        ),
        "client median (DB)": lambda r, k: r.medians.get((k, "head"), math.nan),
        "server median (DB)": lambda r, k: r.medians.get((k, "tail"), math.nan),
    }
    series = []
    for name, get in columns.items():
        diffs = {k: rel_diff(get(a, k), get(b, k)) for k in splits}
        series.append(Series(name, {k: d for k, d in diffs.items() if not math.isnan(d)}))

    def pct(d: float) -> str:
        return "     -" if math.isnan(d) else f"{100 * d:+6.2f}"

    table = ["split  client_ms A      B  diff%  p50 diff%   server_ms A      B  diff%  p50 diff%"]
    for k in splits:
        if not (a.rows[k]["cut_tensors"] and b.rows[k]["cut_tensors"]):
            continue  # not swept (--splits)
        ca, cb = number(a.rows[k]["client_ms"]), number(b.rows[k]["client_ms"])
        sa, sb = number(a.rows[k]["server_ms"]), number(b.rows[k]["server_ms"])
        cmed = rel_diff(a.medians.get((k, "head"), math.nan), b.medians.get((k, "head"), math.nan))
        smed = rel_diff(a.medians.get((k, "tail"), math.nan), b.medians.get((k, "tail"), math.nan))
        table.append(
            f"{k:5d}  {ca:11.3f} {cb:6.3f} {pct(rel_diff(ca, cb))}     {pct(cmed)}"
            f"  {sa:11.3f} {sb:6.3f} {pct(rel_diff(sa, sb))}     {pct(smed)}"
        )
    return series, table


def load_range(values: list[float]) -> str:
    if not values:
        return "not recorded"
    return f"{min(values):.2f}/{statistics.median(values):.2f}/{max(values):.2f}"


def best_splits(run: Run) -> dict[str, int]:
    best: dict[str, tuple[float, int]] = {}
    for k, row in run.rows.items():
        for col, text in row.items():
            if col.startswith("e2e_ms_"):
                value = number(text)
                name = col.removeprefix("e2e_ms_")
                if not math.isnan(value) and (name not in best or value < best[name][0]):
                    best[name] = (value, k)
    return {name: k for name, (_, k) in best.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        epilog="Defaults: the README's main job, `splitbench sweep posenet --out DIR`, twice.",
    )
    parser.add_argument("--model", default="posenet", help="MODEL for splitbench sweep")
    add_sweep_options(parser)
    parser.add_argument(
        "--tolerance", type=float, default=TOLERANCE, help="relative tolerance (default 0.05)"
    )
    parser.add_argument(
        "--keep", type=Path, metavar="DIR", help="keep the two run dirs as DIR/a and DIR/b"
    )
    parser.add_argument("--table", action="store_true", help="print the per-split table")
    args = parser.parse_args(argv)

    exe = Path(sys.executable).with_name("splitbench")
    if args.keep is not None and args.keep.exists():
        parser.error(f"--keep {args.keep}: already exists (a rerun would resume, not sweep)")
    root = args.keep or Path(tempfile.mkdtemp(prefix="bench-repeatability-"))
    cmd = ["sweep", args.model]
    cmd += sweep_flags(args)
    try:
        a = run_sweep(exe, cmd, root / "a")
        b = run_sweep(exe, cmd, root / "b")
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)

    series, table = compare(a, b)
    command = "python benchmarks/bench_repeatability.py" + "".join(
        f" {x}" for x in (sys.argv[1:] if argv is None else argv)
    )
    shown = "splitbench " + " ".join(cmd) + " --out DIR"
    lines = [f"$ {command}"]
    lines.append(
        f"`{shown}` twice, fresh processes and run dirs; {os.cpu_count()} CPUs; sweep A"
        f" {a.wall_s:.0f} s, sweep B {b.wall_s:.0f} s"
    )
    lines.append(
        f"load average around the measurements (min/median/max): A {load_range(a.load)},"
        f" B {load_range(b.load)}"
    )
    lines += [f"A: {a.share}", f"B: {b.share}"]
    if args.table:
        lines += table
    lines += [s.summary(args.tolerance) for s in series]
    whole = (None, "whole")
    whole_a, whole_b = a.means.get(whole, math.nan), b.means.get(whole, math.nan)
    whole_med = rel_diff(a.medians.get(whole, math.nan), b.medians.get(whole, math.nan))
    lines.append(
        f"whole model (anchor): mean {whole_a:.2f} ms vs {whole_b:.2f} ms"
        f" ({100 * rel_diff(whole_a, whole_b):+.2f} %), median {100 * whole_med:+.2f} %"
    )
    best_a, best_b = best_splits(a), best_splits(b)
    same = [n for n in best_a if best_a[n] == best_b.get(n)]
    lines.append(
        "best split per network, A vs B: "
        + ", ".join(f"{n} {best_a[n]}/{best_b.get(n)}" for n in best_a)
        + f" ({len(same)}/{len(best_a)} the same)"
    )
    means = [s for s in series if s.name in ("client mean (csv)", "server mean (csv)")]
    worst_median = max(s.median_abs() for s in means)
    verdict = "met" if worst_median <= args.tolerance else "NOT met"
    lines.append(
        f"repeatability of the reported client_ms/server_ms: median |diff| over splits"
        f" {100 * worst_median:.2f} % on the worse side (target <= {100 * args.tolerance:g} %:"
        f" {verdict})"
    )
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
