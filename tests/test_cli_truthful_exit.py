"""No command exits 0 over a hole: an empty selection or an impossible option is one line
before any work; a failed part makes the exit non-zero (the table is still written, the last
line says how many failed and why); a failure is retried by the next run unless
--retry-failed no."""

from __future__ import annotations

from pathlib import Path

import pytest
import tflite_edits
from cli_helpers import (
    FAST,
    assert_one_line_error,
    measured_count,
    part_measurements,
    rows_by_split,
    run_cli,
    run_many,
)

CHAIN_OPS = 4
CUSTOM_AT = 2
CUSTOM_CODE = "SbNoSuchKernel"

BEFORE_ANY_WORK = {
    "reversed range": (("--splits", "5-2"), ("5-2", "empty")),
    "only a comma": (("--splits", ","), ("names no split",)),
    "zero timeout": (("--timeout", "0"), ("--timeout", "greater than 0")),
    "negative timeout": (("--timeout", "-5"), ("--timeout", "greater than 0")),
}


def test_empty_selection_or_impossible_option_is_one_line_before_any_work(
    chain_tflite: Path, tmp_path: Path
) -> None:
    names = list(BEFORE_ANY_WORK)
    results = run_many(
        [
            ["sweep", chain_tflite, "--out", tmp_path / name.replace(" ", "_"), *args, *FAST]
            for name, (args, _) in BEFORE_ANY_WORK.items()
        ]
    )
    for name, result in zip(names, results, strict=True):
        _, needles = BEFORE_ANY_WORK[name]
        assert_one_line_error(result, *needles)
        assert not (tmp_path / name.replace(" ", "_") / "results.sqlite").exists(), name


@pytest.fixture
def custom_chain(chain_tflite: Path, tmp_path: Path) -> Path:
    return tflite_edits.with_custom_op(
        chain_tflite, tmp_path / "chain_custom.tflite", CUSTOM_AT, CUSTOM_CODE
    )


def test_a_failed_part_is_a_non_zero_exit_and_is_retried(
    custom_chain: Path, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    db = out / "results.sqlite"
    first = run_cli("sweep", custom_chain, "--out", out, *FAST)
    assert first.returncode == 1, first.describe()
    assert "Traceback" not in first.stderr
    # Parts holding the custom operator: heads of splits 3, 4; tails of splits 0, 1, 2.
    failing = {(3, "head"), (4, "head"), (0, "tail"), (1, "tail"), (2, "tail")}
    last = first.stderr_lines[-1]
    assert last.startswith("splitbench: error:"), first.describe()
    assert f"{len(failing)} of {2 * CHAIN_OPS} parts not measured" in last, last
    assert CUSTOM_CODE in last and "retry" in last, last
    rows = rows_by_split(out / "splits.csv")  # the table is written, with the errors
    assert CUSTOM_CODE in rows[3]["client_error"] and rows[3]["client_ms"] == ""

    # Once: stored as failed for good, the rerun measured nothing and exited 0 over the holes.
    again = run_cli("sweep", custom_chain, "--out", out, *FAST)
    assert again.returncode == 1, again.describe()
    assert measured_count(again.stdout) == len(failing) + 1  # the failed parts and whole model
    assert sum(1 for p in part_measurements(db) if p in failing) == 2 * len(failing)

    kept = run_cli("sweep", custom_chain, "--out", out, "--retry-failed", "no", *FAST)
    assert kept.returncode == 1, kept.describe()
    assert measured_count(kept.stdout) == 0
