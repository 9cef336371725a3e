"""Benchmark: how far predicted split times (one op-profiled whole-model run per side) are from
direct measurement, and whether profile-then-verify still picks a good split (issue 20).

For each model and format (default ``torchvision:mobilenet_v2`` and ``torchvision:resnet18``,
ONNX and ExecuTorch), on this host (client and server both the host):

1. **direct**: ``splitbench sweep MODEL --format F`` into a fresh folder, every split measured;
   its whole-model measurement also leaves the per-operator profile (ONNX Runtime's profiler,
   ExecuTorch's ETDump), so its ``splits.csv`` holds predicted and direct times of the same run.
2. **profile-then-verify**: the same command with ``--strategy profile-then-verify`` into another
   fresh folder; only its wall time is used (direct / profile-then-verify = the speed-up).

Printed per model and format:

* whole model, predicted vs direct, per side (head of split N on the client, tail of split 0 on
  the server), and the calibration the prediction applied (from ``prediction_note``);
* per split, median and 90th percentile of |predicted − direct| / direct over the splits that
  have a prediction (client: splits 1..N, server: 0..N−1); the splits without one, with reason;
* a phone ten times slower than the server: client times scaled 10×. For every built-in network
  (the ``e2e_ms_<network>`` columns), profile-then-verify's choice is emulated from the direct
  run: the split with the lowest *predicted* end to end (network terms of the table + 10 ×
  predicted client + predicted server), verified with the direct run's measurement of it,
  against the best split of the full direct sweep; the kit has no client-scaling flag, so the
  verification measurement is borrowed from the direct sweep (same settings, same moment).
  Target: within 5 % for every network.
* the machine's load and who else used the CPUs during each sweep.

Settings (``--runs``, ``--min-secs``, ``--rounds`` ...) pass through to ``splitbench sweep``;
choose ones that bring two identical direct sweeps within 5 % of each other
(``benchmarks/bench_repeatability.py``) and say which. Defaults below: 30 runs, 0.5 s, 3 bouts.

Run: ``python benchmarks/bench_predictions.py`` (tens of minutes on two cores); a smoke run on a
tiny model: ``python benchmarks/bench_predictions.py --models tests/torch_models.py:make
--input-shape 1,3,32,32 --formats onnx --runs 3 --min-secs 0 --rounds 1``.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from machine_load import cpu_snapshot, load_line, machine_share
from sweep_args import add_sweep_options, sweep_flags

MODELS = ("torchvision:mobilenet_v2", "torchvision:resnet18")
FORMATS = ("onnx", "executorch")
CLIENT_SCALE = 10.0
CHOICE_TOLERANCE = 0.05


@dataclass
class Sweep:
    wall_s: float
    share: str
    rows: list[dict[str, str]]
    note: str = ""  # run.json's notes.prediction_note: how the predictions were made


def run_sweep(exe: Path, args: list[str], out: Path) -> Sweep:
    before = cpu_snapshot()
    start = time.perf_counter()
    done = subprocess.run(
        [str(exe), "sweep", *args, "--out", str(out)],
        capture_output=True,
        text=True,
        check=False,
        timeout=6 * 3600,
    )
    wall = time.perf_counter() - start
    share = machine_share(before, cpu_snapshot(), wall)
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise SystemExit(f"splitbench sweep {' '.join(args)} failed: {' | '.join(tail)}")
    with open(out / "splits.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    notes = json.loads((out / "run.json").read_text()).get("notes") or {}
    return Sweep(wall, share, rows, str(notes.get("prediction_note", "")))


def num(text: str | None) -> float:
    try:
        return float(text) if text not in (None, "") else math.nan
    except ValueError:
        return math.nan


def errors(rows: list[dict[str, str]], side: str, n: int) -> list[float]:
    """|predicted − direct| / direct for every split of ``side`` with a non-empty part and a
    prediction."""
    out = []
    for row in rows:
        k = int(row["split"])
        if (side == "client" and k == 0) or (side == "server" and k == n):
            continue
        direct, pred = num(row[f"{side}_ms"]), num(row[f"{side}_ms_predicted"])
        if direct > 0 and not math.isnan(pred):
            out.append(abs(pred - direct) / direct)
    return out


def p90(values: list[float]) -> float:
    return (
        statistics.quantiles(values, n=10, method="inclusive")[-1]
        if len(values) > 1
        else (values[0] if values else math.nan)
    )


def unpredicted(rows: list[dict[str, str]], n: int) -> list[str]:
    """The splits without a prediction on a side where their part is not empty, with reason."""
    lines = []
    for row in rows:
        k = int(row["split"])
        missing = [
            side
            for side, empty in (("client", k == 0), ("server", k == n))
            if not empty and math.isnan(num(row[f"{side}_ms_predicted"]))
        ]
        if missing:
            reason = row.get("no_prediction") or "(no reason on the row; see the run's note)"
            lines.append(f"    split {k} ({'/'.join(missing)}): {reason}")
    return lines


def choices(rows: list[dict[str, str]], n: int) -> list[str]:
    """Per built-in network, with client times ×10: profile-then-verify's emulated choice
    against the full direct sweep's best (see the module docstring)."""
    networks = [c[len("e2e_ms_") :] for c in rows[0] if c.startswith("e2e_ms_")]
    lines = []
    for net in networks:
        measured: dict[int, float] = {}
        predicted: dict[int, float] = {}
        for row in rows:
            k = int(row["split"])
            e2e = num(row[f"e2e_ms_{net}"])
            client, server = num(row["client_ms"]), num(row["server_ms"])
            if math.isnan(e2e):
                continue
            measured[k] = e2e + (CLIENT_SCALE - 1.0) * client
            pc, ps = num(row["client_ms_predicted"]), num(row["server_ms_predicted"])
            if not (math.isnan(pc) or math.isnan(ps)):
                predicted[k] = e2e - client - server + CLIENT_SCALE * pc + ps
        if not measured or not predicted:
            lines.append(f"    {net}: no split could be compared")
            continue
        best = min(measured, key=lambda k: measured[k])
        pick = min(predicted, key=lambda k: predicted[k])
        got = measured.get(pick, math.nan)
        excess = got / measured[best] - 1.0
        verdict = "ok" if excess <= CHOICE_TOLERANCE else "MISSED"
        lines.append(
            f"    {net}: direct best split {best} {measured[best]:.2f} ms; profile-then-verify "
            f"picks {pick}, {got:.2f} ms ({excess * 100:+.1f} %) {verdict}"
        )
    return lines


def side_whole(rows: list[dict[str, str]], n: int, note: str) -> list[str]:
    by = {int(r["split"]): r for r in rows}
    lines = []
    for side, k in (("client", n), ("server", 0)):
        direct, pred = num(by[k][f"{side}_ms"]), num(by[k][f"{side}_ms_predicted"])
        off = (pred / direct - 1.0) * 100 if direct > 0 else math.nan
        lines.append(f"    {side}: predicted {pred:.3f} ms, direct {direct:.3f} ms ({off:+.1f} %)")
    found = re.findall(r"calibrated[^;]*", note)
    lines.append(f"    calibration: {' | '.join(found) if found else 'none in the note'}")
    return lines


def report(model: str, fmt: str, direct: Sweep, ptv: Sweep) -> None:
    n = max(int(r["split"]) for r in direct.rows)
    print(f"\n== {model} [{fmt}], {n} operators")
    print(f"  direct sweep {direct.wall_s:.1f} s ({direct.share})")
    print(f"  profile-then-verify {ptv.wall_s:.1f} s ({ptv.share})")
    print(f"  wall time direct / profile-then-verify: {direct.wall_s / ptv.wall_s:.2f}x")
    print("  whole model, predicted vs direct:")
    print("\n".join(side_whole(direct.rows, n, direct.note)))
    for side in ("client", "server"):
        errs = errors(direct.rows, side, n)
        if errs:
            print(
                f"  {side} per split |error|: median {statistics.median(errs) * 100:.1f} %, "
                f"p90 {p90(errs) * 100:.1f} % over {len(errs)} splits with a prediction"
            )
        else:
            print(f"  {side} per split: no split has a prediction")
    missing = unpredicted(direct.rows, n)
    print(f"  splits without a prediction: {len(missing)}")
    print("\n".join(missing))
    print(f"  client ×{CLIENT_SCALE:g}, per built-in network:")
    print("\n".join(choices(direct.rows, n)))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", default=",".join(MODELS), help="comma-separated MODEL specs")
    ap.add_argument("--formats", default=",".join(FORMATS), help="onnx, executorch")
    ap.add_argument("--keep", type=Path, help="keep the run folders here")
    add_sweep_options(ap, {"runs": 30, "min_secs": 0.5, "rounds": 3})
    args = ap.parse_args()
    if args.format:
        raise SystemExit("use --formats (this benchmark runs each format in turn)")
    exe = Path(sys.executable).with_name("splitbench")
    if not exe.is_file():
        raise SystemExit(f"no splitbench script beside {sys.executable}")
    settings = sweep_flags(args)
    print(f"settings: {' '.join(settings)}; {load_line()}")
    work = Path(tempfile.mkdtemp(prefix="bench-pred-", dir=args.keep))
    try:
        for model in args.models.split(","):
            for fmt in args.formats.split(","):
                base = [model, "--format", fmt, *settings]
                tag = re.sub(r"\W+", "_", f"{model}_{fmt}")
                direct = run_sweep(exe, base, work / f"{tag}_direct")
                ptv = run_sweep(
                    exe, [*base, "--strategy", "profile-then-verify"], work / f"{tag}_ptv"
                )
                report(model, fmt, direct, ptv)
        print(f"\n{load_line()}")
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
