"""Benchmark: what the health check costs when a sweep or a report opens a results database.

Every open of an existing ``results.sqlite`` runs ``PRAGMA quick_check`` on a read-only
connection first (a damaged file is never modified). This script builds a database of the size
a full sweep of ``mediapipe:pose_landmark_full`` leaves (333 splits x 2 parts x 6 bouts, 60
steady samples each, by default) and times, side by side in one run:

* opening it with :class:`splitbench.results.ResultsDB` (health check + WAL + schema check),
* opening it with plain ``sqlite3.connect`` and reading the schema version (no check).

Run: ``python benchmarks/bench_db_check.py [--parts 4000] [--samples 60] [--repeats 5]``
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path


def build(path: Path, parts: int, samples: int) -> None:
    from splitbench.measure.types import PartMeasurement, RunSettings
    from splitbench.results import ResultsDB
    from splitbench.targets.base import TargetInfo

    sha = hashlib.sha256(b"bench").hexdigest()
    settings = RunSettings(num_runs=samples, min_secs=0.0)
    splits = parts // 12 + 1
    with ResultsDB(path) as db:
        db.record_model(sha256=sha, name="m", path="m", file_bytes=1, num_operators=splits)
        db.record_target(TargetInfo("host", "host", "cpu", 2, "rt"))
        for i in range(parts):
            k = i % splits
            role = "head" if (i // splits) % 2 == 0 else "tail"
            part = PartMeasurement(
                "litert-interpreter",
                "rt",
                settings,
                steady_ms=[1.0 + (j % 7) / 10 for j in range(samples)],
                warmup_ms=[2.0],
            )
            db.record_measurement(sha, k + (role == "head"), role, "host", part, rounds=6)


def timed(fn, repeats: int) -> list[float]:  # type: ignore[no-untyped-def]
    out = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--parts", type=int, default=333 * 2 * 6)
    ap.add_argument("--samples", type=int, default=60)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    from splitbench.results import ResultsDB

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "results.sqlite"
        build(path, args.parts, args.samples)
        size = path.stat().st_size

        def checked() -> None:
            ResultsDB(path, create=False).close()

        def plain() -> None:
            conn = sqlite3.connect(path)
            conn.execute("PRAGMA user_version").fetchone()
            conn.close()

        checked()  # warm the page cache for both
        a = timed(checked, args.repeats)
        b = timed(plain, args.repeats)
    ma, mb = statistics.median(a), statistics.median(b)
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    print(f"database: {args.parts} measurements x {args.samples} samples, {size / 1e6:.1f} MB")
    print(f"open with health check (ResultsDB): median {ma * 1e3:.1f} ms of {args.repeats}")
    print(f"open without (sqlite3.connect):     median {mb * 1e3:.2f} ms of {args.repeats}")
    print(f"check cost: {(ma - mb) * 1e3:.1f} ms per open")


if __name__ == "__main__":
    main()
