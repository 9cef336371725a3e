"""Two sweeps into one run directory at once: one runs, the other is told in one line which
process holds the directory; every part is measured once, and no part file is shared."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

from cli_helpers import (
    FAST,
    assert_one_line_error,
    part_measurements,
    run_cli,
    run_many,
    start_cli,
    wait_for,
)

POSENET_OPS = 31


def _all_parts(n: int) -> Counter:
    return Counter({(k, "head"): 1 for k in range(1, n + 1)} | {(k, "tail"): 1 for k in range(n)})


def test_two_sweeps_started_together_measure_each_part_once(
    chain_tflite: Path, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    # Once: both wrote OUT/parts/split_NNN, one crashed, parts were measured twice.
    a, b = run_many([["sweep", chain_tflite, "--out", out, *FAST]] * 2)
    for result in (a, b):
        assert "Traceback" not in result.stderr, result.describe()
    ok = [r for r in (a, b) if r.returncode == 0]
    assert ok, a.describe() + b.describe()
    for refused in (r for r in (a, b) if r.returncode != 0):
        assert_one_line_error(refused, "another sweep is running in", "pid")
    assert Counter(part_measurements(out / "results.sqlite")) == _all_parts(4)
    assert not (out / "parts").exists() and not (out / ".scratch").exists()


def test_a_second_sweep_while_one_runs_names_the_running_process(tmp_path: Path) -> None:
    out = tmp_path / "run"
    args = ("sweep", "posenet", "--out", out, "--splits", "0-8", *FAST)
    first = start_cli(*args, stdout_path=tmp_path / "a.out", stderr_path=tmp_path / "a.err")
    try:
        lock = out / ".splitbench.lock"
        assert wait_for(lambda: lock.is_file() and lock.read_text().strip(), timeout=120)
        second = run_cli(*args)
        line = assert_one_line_error(second, "another sweep is running in")
        assert re.search(rf"\(pid {first.pid}\)", line), line
        assert first.wait(timeout=600) == 0, (tmp_path / "a.err").read_text()
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    parts = Counter(part_measurements(out / "results.sqlite"))
    assert set(parts.values()) == {1}  # each part once
    after = run_cli(*args).ok()  # once it is done, the directory is free again
    assert "measured 0 parts" in after.stdout
