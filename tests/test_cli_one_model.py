"""One run directory, one model: a second model swept into the same --out is refused with one
line before anything is measured (it once overwrote the tables and run.json silently)."""

from __future__ import annotations

import hashlib
from pathlib import Path

from cli_helpers import FAST, assert_one_line_error, measurement_count, run_cli


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_second_model_into_the_same_out_is_refused(
    chain_tflite: Path, branchy_tflite: Path, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    run_cli("sweep", chain_tflite, "--out", out, *FAST).ok()
    kept = {name: _digest(out / name) for name in ("run.json", "splits.csv")}
    count = measurement_count(out / "results.sqlite")

    other = run_cli("sweep", branchy_tflite, "--out", out, *FAST)
    assert_one_line_error(other, "holds the sweep of another model", "chain", "another --out")
    assert {name: _digest(out / name) for name in kept} == kept
    assert measurement_count(out / "results.sqlite") == count

    run_cli("report", out).ok()  # the directory still reports its own model
