"""``--statistic`` on ``sweep`` and ``report``: recorded, reproduced, and refused when wrong."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_helpers import FAST, assert_one_line_error, read_csv, run_cli
from splitbench.stats.kept import kept_path

# Three bouts of 4 runs each: enough for the bout-level interval.
SETTINGS = ("--runs", "12", "--min-secs", "0", "--warmup", "0", "--warmup-secs", "0")


def test_bad_statistic_is_one_line_and_writes_nothing(chain_tflite: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = run_cli("sweep", chain_tflite, "--out", out, "--statistic", "mode", *FAST)
    assert_one_line_error(result, "--statistic", "median, mean", "mode")
    assert not out.exists()
    result = run_cli("report", tmp_path, "--statistic", "average")
    assert_one_line_error(result, "--statistic", "median, mean", "average")


def test_mean_is_recorded_and_report_reproduces_it(chain_tflite: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    sweep = run_cli(
        "sweep", chain_tflite, "--out", out, "--statistic", "mean", *SETTINGS, "--rounds", "3"
    ).ok()
    assert "times in ms (mean)" in sweep.stdout
    assert json.loads((out / "run.json").read_text())["settings"]["statistic"] == "mean"
    rows = read_csv(out / "splits.csv")
    measured = [r for r in rows if r["client_ms"] not in ("", "0.0")]
    assert measured
    for r in measured:
        assert float(r["client_ms"]) == pytest.approx(float(r["client_mean_ms"]))
        assert float(r["client_lo_ms"]) <= float(r["client_ms"]) <= float(r["client_hi_ms"])
    for net in [c[len("p_best_") :] for c in rows[0] if c.startswith("p_best_")]:
        assert sum(float(r[f"p_best_{net}"]) for r in rows) == pytest.approx(1.0)
    before = (out / "splits.csv").read_text()

    again = run_cli("report", out).ok()  # the statistic of run.json, the same seeds
    assert "times in ms (mean)" in again.stdout
    assert (out / "splits.csv").read_text() == before
    # that report read the statistics the sweep kept; resampled from the raw samples, the same
    kept = kept_path(out / "results.sqlite")
    assert kept.is_file()
    kept.unlink()
    run_cli("report", out).ok()
    assert (out / "splits.csv").read_text() == before

    run_cli("report", out, "--statistic", "median").ok()
    for r in read_csv(out / "splits.csv"):
        if r["client_ms"] not in ("", "0.0"):
            assert float(r["client_ms"]) == pytest.approx(float(r["client_p50_ms"]))
