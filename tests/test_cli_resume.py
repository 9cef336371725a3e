"""Results that survive: a rerun measures nothing new, a partial run is completed by the full
one, ``--fresh`` starts over, and Ctrl-C keeps what finished so the rerun resumes.

Small real models keep the repeated sweeps cheap; the interruption runs on PoseNet so that
there is time to interrupt between the first measurement and the end.
"""

from __future__ import annotations

import signal
from collections import Counter
from pathlib import Path

import pytest
from cli_helpers import (
    FAST,
    measured_count,
    measurement_count,
    part_measurements,
    query,
    rows_by_split,
    run_cli,
    start_cli,
    wait_for,
)

BRANCHY_OPS = 6


def all_parts(n: int, splits: range | list[int]) -> set[tuple[int, str]]:
    return {(k, "head") for k in splits if k > 0} | {(k, "tail") for k in splits if k < n}


def test_rerun_of_the_same_command_measures_nothing(chain_tflite: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    first = run_cli("sweep", chain_tflite, "--out", out, *FAST).ok()
    db = out / "results.sqlite"
    count = measurement_count(db)
    assert measured_count(first.stdout) == count > 0
    csv_before = (out / "splits.csv").read_text()
    again = run_cli("sweep", chain_tflite, "--out", out, *FAST).ok()
    assert "measured 0 parts" in again.stdout, again.stdout
    assert measurement_count(db) == count
    # Same database, same table (the deliverables are rewritten from the same samples).
    assert (out / "splits.csv").read_text() == csv_before


def test_partial_run_then_full_run_measures_only_the_missing_splits(
    branchy_tflite: Path, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    db = out / "results.sqlite"
    run_cli("sweep", branchy_tflite, "--out", out, "--splits", "0-3", *FAST).ok()
    first = part_measurements(db)
    assert set(first) == all_parts(BRANCHY_OPS, range(4))
    rows = rows_by_split(out / "splits.csv")
    assert sorted(rows) == [0, 1, 2, 3] and rows[3]["client_ms"] != ""  # no filler rows
    before = measurement_count(db)

    full = run_cli("sweep", branchy_tflite, "--out", out, *FAST).ok()
    after = part_measurements(db)
    assert after[: len(first)] == first  # nothing redone
    assert set(after[len(first) :]) == all_parts(BRANCHY_OPS, range(4, BRANCHY_OPS + 1))
    assert measured_count(full.stdout) == measurement_count(db) - before
    assert len(after) == len(set(after))  # each part once
    rows = rows_by_split(out / "splits.csv")
    assert all(row["client_ms"] != "" and row["server_ms"] != "" for row in rows.values())


def test_fresh_starts_over(chain_tflite: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    db = out / "results.sqlite"
    run_cli("sweep", chain_tflite, "--out", out, *FAST).ok()
    old = query(db, "SELECT finished_at FROM measurements")
    fresh = run_cli("sweep", chain_tflite, "--out", out, "--fresh", *FAST).ok()
    assert measured_count(fresh.stdout) == len(old)  # everything measured again
    new = query(db, "SELECT finished_at FROM measurements")
    assert len(new) == len(old)  # replaced, not added to
    assert min(new) > max(old)  # every measurement now is from the fresh run
    assert Counter(part_measurements(db)) == Counter(all_parts(4, range(5)))


RUNTIME_NOTICE = "INFO: Created TensorFlow Lite XNNPACK delegate for CPU."
POSENET_OPS = 31
INTERRUPTED_SPLITS = range(16)


def _interrupt(tmp_path: Path, sig: signal.Signals, args: tuple) -> tuple[int, str, int]:
    """Start the sweep, send ``sig`` once a measurement is in the database; (exit, stderr, seen)."""
    db = tmp_path / "run" / "results.sqlite"
    proc = start_cli(*args, stdout_path=tmp_path / "out.txt", stderr_path=tmp_path / "err.txt")
    try:

        def parts_in_db() -> bool:
            try:
                return len(part_measurements(db)) >= 1
            except Exception:  # the database is not created yet
                return False

        assert wait_for(parts_in_db, timeout=120, interval=0.02), "no measurement arrived"
        assert proc.poll() is None, "the sweep ended before it could be interrupted"
        seen = len(part_measurements(db))
        proc.send_signal(sig)
        code = proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return code, (tmp_path / "err.txt").read_text(), seen


def _check_interrupted(out: Path, code: int, stderr: str, sig: signal.Signals, seen: int) -> list:
    assert code == 128 + sig, stderr  # the shell's convention: 130 for Ctrl-C, 143 for SIGTERM
    assert "Traceback" not in stderr, stderr
    lines = [
        ln
        for ln in stderr.splitlines()
        if ln.strip() and ln.strip() != RUNTIME_NOTICE and not ln.startswith("progress:")
    ]
    assert len(lines) == 1, stderr
    assert lines[0].startswith("splitbench: error:") and "interrupt" in lines[0].lower(), stderr
    assert "resume" in lines[0], lines[0]
    # Scratch removed: no part file of the interrupted split is left behind.
    assert not (out / ".scratch").exists() and not (out / "parts").exists()
    db = out / "results.sqlite"
    kept = part_measurements(db)
    full = all_parts(POSENET_OPS, INTERRUPTED_SPLITS)
    assert seen <= len(kept) < len(full), (seen, kept)
    for (mid,) in query(db, "SELECT id FROM measurements"):
        (n,) = query(db, "SELECT count(*) FROM samples WHERE measurement_id = ?", (mid,))[0]
        assert n >= 2, mid  # only complete measurements were kept
    return kept


def test_interrupted_sweep_keeps_finished_measurements_and_resumes(tmp_path: Path) -> None:
    out = tmp_path / "run"
    db = out / "results.sqlite"
    args = ("sweep", "posenet", "--out", out, "--splits", "0-15", *FAST)
    code, stderr, seen = _interrupt(tmp_path, signal.SIGINT, args)
    kept = _check_interrupted(out, code, stderr, signal.SIGINT, seen)
    full = all_parts(POSENET_OPS, INTERRUPTED_SPLITS)

    resumed = run_cli(*args).ok()
    assert 0 < measured_count(resumed.stdout) <= len(full) - len(kept)
    after = part_measurements(db)
    assert after[: len(kept)] == kept
    assert Counter(after) == Counter(full)  # every part exactly once
    rows = rows_by_split(out / "splits.csv")
    for k in INTERRUPTED_SPLITS:
        assert rows[k]["client_ms"] != "" and rows[k]["server_ms"] != "", f"split {k} missing"


@pytest.mark.parametrize(
    ("sig", "parent_ignores_sigint"),
    [(signal.SIGINT, True), (signal.SIGTERM, False), (signal.SIGHUP, False)],
    ids=["SIGINT-with-pytest-ignoring-SIGINT", "SIGTERM", "SIGHUP"],
)
def test_other_signals_and_other_parents_stop_a_sweep_like_ctrl_c(
    tmp_path: Path, sig: signal.Signals, parent_ignores_sigint: bool
) -> None:
    """SIGTERM and SIGHUP behave like Ctrl-C (once: no message, 13 MB of parts left). And the
    Ctrl-C test holds however pytest was started: a pytest that inherited an ignored SIGINT
    (a background job of a non-interactive shell) passes it on to its children."""
    args = ("sweep", "posenet", "--out", tmp_path / "run", "--splits", "0-15", *FAST)
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN) if parent_ignores_sigint else None
    # Under nohup the suite inherits an ignored SIGHUP and passes it on, and the sweep rightly
    # keeps it ignored (that is what nohup asks for): give the sweep the default disposition.
    hup = signal.signal(signal.SIGHUP, signal.SIG_DFL) if sig == signal.SIGHUP else None
    try:
        code, stderr, seen = _interrupt(tmp_path, sig, args)
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
        if hup is not None:
            signal.signal(signal.SIGHUP, hup)
    _check_interrupted(tmp_path / "run", code, stderr, sig, seen)
