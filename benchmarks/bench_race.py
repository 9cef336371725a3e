"""Benchmark: ``sweep --strategy race`` against a full sweep of the same settings.

Target (issue 24): on ``mediapipe:pose_landmark_full`` (332 operators, 333 splits), every split
that a full careful sweep of this machine finds best, per network, is among the race's
contenders, and the race measures at most a third of the full sweep's bouts.

What it does, as a user would, one after the other on this machine:

1. ``splitbench sweep MODEL --out DIR/full`` (``--strategy direct``): every split, ``--rounds``
   bouts each; timed from the outside, with the machine's load;
2. ``splitbench sweep MODEL --out DIR/race --strategy race`` with the same settings;
3. counts the measured bouts of each (successful head and tail measurements in each run's
   ``results.sqlite``) and their ratio; reads the full sweep's best split per network from its
   ``splits.csv`` and the race's contenders per network from its ``run.json``, and says whether
   every full-sweep best is among them.

Settings: ``--runs 60 --min-secs 0 --warmup 1 --warmup-secs 0 --rounds 6`` (10 steady runs per
bout). The memory benchmark (``bench_scale.py``) swept this model with ``--runs 3`` (one run per
bout) and the same six bouts in 174 s while the test suite ran; ten runs per bout add about
4,000 × 9 runs of a part (a few ms each on this host), so the full sweep should take 5–15
minutes here, under the 25 minutes allowed. Every option can be overridden.

Run: ``python benchmarks/bench_race.py`` (both sweeps; do not run it beside the test suite if
the figures are to mean anything), ``--smoke`` for a check that it starts and reports (six
splits, two bouts of five runs: a minute), ``--dir DIR --compare-only`` to report on a directory
that already holds both runs.
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import sqlite3
import tempfile
from pathlib import Path

from machine_load import load_line
from sweep_args import add_sweep_options, run_sweep, sweep_flags

MODEL = "mediapipe:pose_landmark_full"
MAX_RATIO = 1 / 3
DEFAULTS = {"runs": 60, "min_secs": 0.0, "warmup": 1, "warmup_secs": 0.0, "rounds": 6}
SMOKE = {"runs": 10, "min_secs": 0.0, "warmup": 0, "warmup_secs": 0.0, "rounds": 2}
SMOKE_SPLITS = "0-5"


def measured_bouts(out: Path) -> int:
    """Successful head and tail measurements (one per part per bout) in a run directory."""
    con = sqlite3.connect(f"file:{out / 'results.sqlite'}?mode=ro", uri=True, timeout=30)
    try:
        (n,) = con.execute(
            "SELECT count(*) FROM measurements WHERE role IN ('head', 'tail') AND error IS NULL"
        ).fetchone()
    finally:
        con.close()
    return int(n)


def full_best(out: Path) -> dict[str, int]:
    """Per network, the split with the lowest end to end in the full sweep's splits.csv."""
    with (out / "splits.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    best: dict[str, tuple[float, int]] = {}
    for row in rows:
        for col, cell in row.items():
            if not col.startswith("e2e_ms_") or not cell:
                continue
            net, value = col.removeprefix("e2e_ms_"), float(cell)
            if net not in best or value < best[net][0]:
                best[net] = (value, int(row["split"]))
    return {net: k for net, (_, k) in best.items()}


def compare(full: Path, race: Path) -> bool:
    """Print the bouts, their ratio and the best-among-contenders check; True when met."""
    n_full, n_race = measured_bouts(full), measured_bouts(race)
    ratio = n_race / n_full if n_full else float("nan")
    record = json.loads((race / "run.json").read_text()).get("race") or {}
    contenders = {net: set(ks) for net, ks in record.get("contenders", {}).items()}
    print(f"measured bouts: full sweep {n_full}, race {n_race}; ratio {ratio:.3f} (target ≤ 1/3)")
    print(
        f"race: {record.get('bouts')} bouts ({record.get('splits_per_bout')} splits each), "
        f"{len(record.get('eliminated', []))} splits eliminated, stopped: {record.get('stop')}"
        + (f", undecided: {', '.join(record['undecided'])}" if record.get("undecided") else "")
    )
    all_in = True
    for net, k in sorted(full_best(full).items()):
        among = k in contenders.get(net, set())
        all_in &= among
        named = sorted(contenders.get(net, set()))
        print(
            f"  {net}: full sweep's best {k} {'is' if among else 'is NOT'} among the race's "
            f"contenders {named}"
        )
    met = all_in and ratio <= MAX_RATIO
    print("target " + ("met" if met else "not met"))
    return met


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=MODEL, help=f"model to sweep (default {MODEL})")
    parser.add_argument("--dir", type=Path, help="keep the two runs here (default: a temp dir)")
    parser.add_argument("--compare-only", action="store_true", help="report on --dir only")
    parser.add_argument(
        "--smoke",
        action="store_true",
        help=f"check that it runs: --splits {SMOKE_SPLITS}, two bouts of five runs each",
    )
    add_sweep_options(parser, DEFAULTS)
    args = parser.parse_args()
    if args.smoke:
        for key, value in SMOKE.items():
            setattr(args, key, value)
        args.splits = args.splits or SMOKE_SPLITS
    root = args.dir or Path(tempfile.mkdtemp(prefix="bench_race_"))
    full, race = root / "full", root / "race"
    if not args.compare_only:
        for d in (full, race):
            shutil.rmtree(d, ignore_errors=True)
        flags = sweep_flags(args)
        print(f"{args.model}, settings: {' '.join(flags)}; {load_line()}")
        for phase in (
            run_sweep(args.model, full, [*flags, "--strategy", "direct"], "full sweep"),
            run_sweep(args.model, race, [*flags, "--strategy", "race"], "race"),
        ):
            print(f"{phase.name}: {phase.seconds:.1f} s; {phase.load}; {phase.share}")
    compare(full, race)
    if args.dir is None:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
