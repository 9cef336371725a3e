"""Benchmark: what the per-part statistics (issue 24) cost.

Targets: the statistics add at most 5 % to a default PoseNet sweep's wall time, and
``splitbench report`` stays under 3 s for a 333-split run.

(a) A real sweep, ``splitbench sweep posenet --out DIR`` at its defaults (a subprocess, timed
    from the outside). Then, in this process, from the run's database: the time to build its
    split tables (``build_split_table``, as ``sweep`` and ``report`` do) and, inside that, the
    statistics alone (every part's :func:`splitbench.stats.parts.part_stats` plus the
    end-to-end intervals and verdicts, :func:`splitbench.report.split_stats.add_intervals`).
    Their share of the sweep's wall time is what the statistics add.
(b) A SYNTHETIC 333-split run written with the real results API (``ResultsDB``, ``run.json``):
    samples drawn to look like a real careful sweep's (6 bouts per part, as many samples as
    ``--min-secs 1`` gives a part of that speed, capped at 10,000 per bout; log-normal spread,
    a few scheduler-tick outliers of 4-8 ms, a small drift between bouts). Then
    ``splitbench report DIR`` as a subprocess (CLI start-up, tables, CSV, workbook, plots,
    report.html): the first resamples every part and keeps the statistics beside the database
    (:mod:`splitbench.stats.kept`), as the report a sweep writes when it ends does; the next
    ``--reports`` read them, as ``report`` after a sweep does (median, fastest, slowest). Then
    the table build alone in this process, every part resampled.

Both with the machine's load, in one run, so the figures can be compared.

Run: ``python benchmarks/bench_stats.py`` (the PoseNet sweep takes a few minutes on two cores).
``--run-dir DIR`` reuses an existing sweep's run directory for (a) instead of sweeping;
``--splits 333`` sets (b)'s size; sweep options (``--runs`` ...) pass through to (a).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from machine_load import cpu_snapshot, load_line, machine_share
from sweep_args import add_sweep_options, sweep_flags

CLIENT, SERVER = "host-client", "host"
DERIVED = ("e2e_lo_ms_", "e2e_hi_ms_", "p_best_")  # what add_intervals adds


def table_times(run_dir: Path, statistic: str = "median") -> tuple[float, float, int]:
    """(seconds to build every client's split table, seconds of those in the statistics,
    parts) for a run directory, every part resampled (its kept statistics deleted first)."""
    from splitbench.network import load_network_configs
    from splitbench.report.bouts import pooled_by_split, wanted_settings
    from splitbench.report.split_stats import add_intervals, part_seed
    from splitbench.report.split_table import build_split_table
    from splitbench.results import ResultsDB
    from splitbench.run_record import RunRecord
    from splitbench.stats.kept import kept_path
    from splitbench.stats.parts import empty_part, part_stats

    run = RunRecord.load(run_dir)
    networks = load_network_configs(None)
    total = stats = 0.0
    parts = 0
    with ResultsDB(run_dir / "results.sqlite", create=False) as db:
        for client in run.clients:
            kept_path(db.path).unlink(missing_ok=True)  # every part resampled, as a sweep's end
            t0 = time.perf_counter()
            table = build_split_table(
                db,
                run.model_sha,
                client,
                run.server,
                networks,
                run.output_bytes,
                run.num_operators,
                statistic=statistic,
            )
            total += time.perf_counter() - t0
            # the statistics alone, on the same bouts: every part, then intervals and verdicts
            bouts = {}
            for target, side in ((client, "client"), (run.server, "server")):
                found = db.measurements(
                    run.model_sha, target=target, role="head" if side == "client" else "tail"
                )
                for k, (_, groups) in pooled_by_split(found, wanted_settings(found, None)).items():
                    if any(groups):
                        bouts[(k, side)] = groups
            bare = table.drop(columns=[c for c in table.columns if c.startswith(DERIVED)])
            t0 = time.perf_counter()
            done = {key: part_stats(b, statistic, seed=part_seed(*key)) for key, b in bouts.items()}
            sides = {
                side: [done.get((k, side), empty_part()) for k in range(run.num_operators + 1)]
                for side in ("client", "server")
            }
            add_intervals(
                bare, sides["client"], sides["server"], networks, run.num_operators, statistic
            )
            stats += time.perf_counter() - t0
            parts += len(done)
    return total, stats, parts


def part_ms(k: int, n: int, role: str) -> float:
    """A real-shaped time profile: heads grow from ~10 µs to ~12 ms over the splits, tails
    shrink; the whole model is ~12 ms (pose_landmark_full on a desktop core)."""
    share = k / n if role == "head" else 1 - k / n
    return 0.01 + 12.0 * share**1.3


def synthetic_run(root: Path, n: int, rng: np.random.Generator) -> Path:
    """A results database and run.json of an n-operator model, written with the real API."""
    from splitbench.measure.types import PartMeasurement
    from splitbench.presets import CAREFUL, per_bout
    from splitbench.results import ResultsDB
    from splitbench.run_record import RunRecord
    from splitbench.targets.base import TargetInfo

    rounds = CAREFUL.rounds
    bout = per_bout(CAREFUL.totals(), rounds)
    sha = "5" * 64
    out = root / "synthetic_run"
    out.mkdir()
    db = ResultsDB(out / "results.sqlite")
    db.record_model(
        sha256=sha,
        name="synthetic-333",
        path=str(out / "synthetic.tflite"),
        file_bytes=5_000_000,
        num_operators=n,
        output_bytes=1024,
    )
    for k in range(n + 1):
        db.record_split(
            model_sha=sha,
            split=k,
            cut_tensors=[f"t{k}"],
            intermediate_bytes=int(50_000 + 200_000 * abs(np.sin(k / 9))),
            head_bytes=0 if k == 0 else 15_000 * k,
            tail_bytes=0 if k == n else 15_000 * (n - k),
            max_abs_diff=0.0,
            bit_exact=True,
            verify_passed=True,
        )
    for name in (CLIENT, SERVER):
        db.record_target(TargetInfo(name, "host", "synthetic", 2, "synthetic"))

    def samples(ms: float, drift: float) -> list[float]:
        count = int(min(10_000, max(bout.num_runs, bout.min_secs * 1000 / ms)))
        x = ms * drift * rng.lognormal(0.0, 0.06, count)
        ticks = rng.random(count) < 0.003
        x[ticks] += rng.uniform(4.0, 8.0, int(ticks.sum()))
        return x.tolist()

    jobs = [(k, "head", CLIENT) for k in range(1, n + 1)]
    jobs += [(k, "tail", SERVER) for k in range(n)]
    jobs += [(None, "whole", CLIENT), (None, "whole", SERVER)]
    for b in range(rounds):
        for k, role, target in jobs:
            ms = part_ms(n if k is None else k, n, "head" if role == "whole" else role)
            part = PartMeasurement(
                "synthetic",
                "0",
                bout,
                init_ms=1.0,
                first_ms=ms * 2,
                steady_ms=samples(ms, rng.normal(1.0, 0.02)),
            )
            db.record_measurement(sha, k, role, target, part, rounds=rounds, bout=b)
    db.close()
    RunRecord(
        model_name="synthetic-333",
        model_sha=sha,
        model_path=str(out / "none.tflite"),
        clients=[CLIENT],
        server=SERVER,
        output_bytes=1024,
        num_operators=n,
    ).save(out)
    return out


def timed(cmd: list[str]) -> tuple[float, subprocess.CompletedProcess[str]]:
    t0 = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=3600, check=False)
    return time.perf_counter() - t0, done


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="posenet", help="MODEL for (a)'s sweep")
    parser.add_argument("--run-dir", type=Path, help="(a): an existing run directory, no sweep")
    parser.add_argument("--synthetic-splits", type=int, default=333, help="(b)'s operators")
    parser.add_argument("--keep", type=Path, help="(a): sweep into this new directory and keep it")
    parser.add_argument("--reports", type=int, default=10, help="(b): timed reports (default 10)")
    add_sweep_options(parser)
    args = parser.parse_args(argv)
    exe = str(Path(sys.executable).with_name("splitbench"))
    print(load_line())
    with tempfile.TemporaryDirectory(prefix="bench_stats_") as tmp:
        root = Path(tmp)
        before = cpu_snapshot(include_self=True)
        t_start = time.perf_counter()
        # (a) a real sweep, its tables, and the statistics inside them
        if args.run_dir is None:
            run_dir = args.keep or root / "posenet_run"
            cmd = [exe, "sweep", args.model, "--out", str(run_dir), *sweep_flags(args)]
            print("(a) " + " ".join(cmd[1:]).replace(str(run_dir), "DIR"))
            sweep_s, done = timed(cmd)
            if done.returncode != 0:
                print(done.stdout[-2000:], done.stderr[-2000:], sep="\n")
                return 1
        else:
            run_dir, sweep_s = args.run_dir, float("nan")
            print(f"(a) the sweep in {run_dir} (not timed: --run-dir)")
        build_s, stats_s, parts = table_times(run_dir)
        print(
            f"(a) sweep wall {sweep_s:.1f} s; split tables built in {build_s:.3f} s, of which "
            f"the statistics {stats_s:.3f} s for {parts} parts = "
            f"{100 * stats_s / sweep_s:.2f} % of the sweep's wall time (target <= 5 %)"
        )
        # (b) report of a synthetic 333-split run
        synth = synthetic_run(root, args.synthetic_splits, np.random.default_rng(24))
        # the first report resamples every part and keeps the statistics, as a sweep's own
        # report does when it ends; the next reads them (what `report` after a sweep does)
        first_s, done = timed([exe, "report", str(synth)])
        ok = "ok" if done.returncode == 0 else f"exit {done.returncode}: {done.stderr[-300:]}"
        reports = [timed([exe, "report", str(synth)]) for _ in range(args.reports)]
        walls = sorted(s for s, _done in reports)
        codes = {d.returncode for _s, d in reports}
        ok_again = "ok" if codes == {0} else f"exit codes {sorted(codes)}"
        build_b, stats_b, parts_b = table_times(synth)
        print(
            f"(b) SYNTHETIC data (real-shaped samples, not a measurement): "
            f"{args.synthetic_splits} splits, {parts_b} parts, 6 bouts each; "
            f"`splitbench report` median {np.median(walls):.2f} s wall over {len(walls)} runs "
            f"(fastest {walls[0]:.2f}, slowest {walls[-1]:.2f}; {ok_again}; target < 3 s) with "
            f"the statistics the first report kept; that first report {first_s:.2f} s ({ok}: "
            f"every part resampled, as at a sweep's end); a table resampling every part "
            f"{build_b:.3f} s, of which the statistics {stats_b:.3f} s"
        )
        wall = time.perf_counter() - t_start
        print(machine_share(before, cpu_snapshot(include_self=True), wall, "this benchmark"))
        print(load_line())
        shutil.rmtree(root / "synthetic_run", ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
