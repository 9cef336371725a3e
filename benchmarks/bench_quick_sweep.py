"""Benchmark: ``sweep --quick`` against the careful sweep of the same model, in one run directory.

Targets (issue 13): the quick sweep of an iris-sized model (``mediapipe:iris_landmark``, 169
operators, 170 splits) in under 2 minutes as a whole command on this machine, with per-split
client and server times within 10 % of the careful run's (median over splits).

What it does, as a user would:

1. ``splitbench sweep MODEL --quick --out DIR``, a fresh process, timed from the outside;
2. ``splitbench sweep MODEL --out DIR``: the careful run (the default settings) into the same
   directory, which adds its measurements beside the quick ones (also timed);
3. reads both settings identities back from ``DIR/results.sqlite`` and builds each one's split
   table (``build_split_table(..., settings=HASH)``, the same code as ``splits.csv``), then per
   split ``|quick - careful| / careful`` for the client and the server time (empty parts, 0 ms,
   and failed parts left out), and the median over splits.

The machine's load is printed beside each phase: on a shared machine a busy neighbour during
one run and not the other moves every split together (the median signed difference shows it).

Run: ``python benchmarks/bench_quick_sweep.py`` (the careful sweep takes about 10 minutes on an
idle two-core machine), or ``--dir DIR --compare-only`` to compare a directory that already
holds both runs.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
from pathlib import Path

from machine_load import load_line
from sweep_args import Phase, run_sweep

TARGET_SECONDS = 120.0
TOLERANCE = 0.10
MODEL = "mediapipe:iris_landmark"


def tables(out: Path) -> dict[str, object]:
    """preset name -> split table, for the settings identities measured in ``out``."""
    from splitbench.network import load_network_configs
    from splitbench.presets import preset_name
    from splitbench.report.split_table import build_split_table
    from splitbench.results import ResultsDB
    from splitbench.run_record import RunRecord

    run = RunRecord.load(out)
    found = {}
    with ResultsDB(out / "results.sqlite", create=False) as db:
        for record in db.settings_sets(run.model_sha, [run.clients[0], run.server]):
            found[preset_name(record.settings, record.rounds)] = build_split_table(
                db,
                run.model_sha,
                client=run.clients[0],
                server=run.server,
                networks=load_network_configs(None),
                output_bytes=run.output_bytes,
                num_operators=run.num_operators,
                settings=record.hash,
            )
    return found


def compare(quick, careful, column: str) -> tuple[list[float], list[float]]:  # type: ignore[no-untyped-def]
    """Per split: |q - c| / c and (q - c) / c, where both sides have a non-zero time."""
    both = quick[["split", column, f"{column.removesuffix('_ms')}_std_ms"]].merge(
        careful[["split", column]], on="split", suffixes=("_q", "_c")
    )
    absolute, signed = [], []
    for _, row in both.iterrows():
        q, c = row[f"{column}_q"], row[f"{column}_c"]
        if q == q and c == c and q > 0 and c > 0:
            absolute.append(abs(q - c) / c)
            signed.append((q - c) / c)
    return absolute, signed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=MODEL, help=f"model to sweep (default {MODEL})")
    parser.add_argument("--dir", type=Path, default=None, help="run directory (default: temp)")
    parser.add_argument(
        "--compare-only", action="store_true", help="only compare the runs already in --dir"
    )
    args = parser.parse_args(argv)
    if args.compare_only and args.dir is None:
        parser.error("--compare-only needs --dir")

    out = args.dir or Path(tempfile.mkdtemp(prefix="bench-quick-")) / "run"
    phases: list[Phase] = []
    if not args.compare_only:
        if out.exists():
            shutil.rmtree(out)
        phases.append(run_sweep(args.model, out, ["--quick"], "quick"))
        phases.append(run_sweep(args.model, out, [], "careful"))
    found = tables(out)
    if "quick" not in found or "careful" not in found:
        raise SystemExit(f"{out} needs a quick and a careful run; it has {sorted(found)}")
    quick, careful = found["quick"], found["careful"]

    ops = int(quick["on_client"].max())
    lines = [f"$ python benchmarks/bench_quick_sweep.py --model {args.model}"]
    lines.append(f"{args.model}: {ops} operators, {ops + 1} splits; run directory {out}")
    for phase in phases:
        lines.append(f"{phase.name} sweep, whole command: {phase.seconds:.1f} s")
        lines.append(f"  {phase.share}; {phase.load}")
    if phases:
        verdict = "met" if phases[0].seconds < TARGET_SECONDS else "NOT met"
        lines.append(
            f"quick sweep under {TARGET_SECONDS:.0f} s: {verdict} ({phases[0].seconds:.1f} s;"
            f" {phases[1].seconds / phases[0].seconds:.1f}x faster than the careful run)"
        )
    ok = True
    for side in ("client", "server"):
        absolute, signed = compare(quick, careful, f"{side}_ms")
        med = statistics.median(absolute)
        within = sum(a <= TOLERANCE for a in absolute)
        spread = (quick[f"{side}_std_ms"] / quick[f"{side}_ms"]).where(quick[f"{side}_ms"] > 0)
        ok &= med <= TOLERANCE
        lines.append(
            f"{side} time, quick vs careful over {len(absolute)} splits: median |diff|"
            f" {100 * med:.1f} % (target <= {100 * TOLERANCE:.0f} %:"
            f" {'met' if med <= TOLERANCE else 'NOT met'}), median signed diff"
            f" {100 * statistics.median(signed):+.1f} %, worst {100 * max(absolute):.0f} %,"
            f" {within}/{len(absolute)} splits within {100 * TOLERANCE:.0f} %; the quick run's own"
            f" spread (std/mean) median {100 * spread.median():.0f} %"
        )
    lines.append(load_line())
    print("\n".join(lines))
    return 0 if ok and (not phases or phases[0].seconds < TARGET_SECONDS) else 1


if __name__ == "__main__":
    raise SystemExit(main())
