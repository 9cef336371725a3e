"""Run settings are part of a measurement's identity: a rerun into the same --out with other
--runs/--rounds adds measurements beside the old ones, and `report` picks one settings set."""

from __future__ import annotations

from pathlib import Path

from cli_helpers import (
    FAST,
    assert_one_line_error,
    measured_count,
    measurement_count,
    query,
    rows_by_split,
    run_cli,
)

OTHER = ("--runs", "3", "--min-secs", "0", "--warmup", "0", "--warmup-secs", "0", "--rounds", "1")


def test_rerun_with_other_runs_adds_beside_and_reports_its_own_settings(
    chain_tflite: Path, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    db = out / "results.sqlite"
    run_cli("sweep", chain_tflite, "--out", out, *FAST).ok()
    first = measurement_count(db)
    assert {r["client_runs"] for k, r in rows_by_split(out / "splits.csv").items() if k} == {"2"}

    # Once: measured, then "ValueError: … 2 different run settings" and a traceback.
    second = run_cli("sweep", chain_tflite, "--out", out, *OTHER).ok()
    assert measured_count(second.stdout) == first  # everything again, under the new settings
    assert measurement_count(db) == 2 * first  # the old measurements are kept
    assert len(query(db, "SELECT DISTINCT settings_hash FROM measurements")) == 2
    rows = rows_by_split(out / "splits.csv")
    assert {r["client_runs"] for k, r in rows.items() if k} == {"3"}  # this command's settings

    # The first settings again: nothing to measure, its own table.
    back = run_cli("sweep", chain_tflite, "--out", out, *FAST).ok()
    assert measured_count(back.stdout) == 0
    assert {r["client_runs"] for k, r in rows_by_split(out / "splits.csv").items() if k} == {"2"}


def test_report_uses_the_latest_settings_and_says_which(chain_tflite: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    run_cli("sweep", chain_tflite, "--out", out, *FAST).ok()
    run_cli("sweep", chain_tflite, "--out", out, *OTHER).ok()
    hashes = [h for (h,) in query(out / "results.sqlite", "SELECT hash FROM settings")]
    first, second = hashes  # in the order they were first used

    # Once: "ValueError: … 2 different run settings" and a traceback.
    latest = run_cli("report", out).ok()
    assert f"settings {second} (" in latest.stdout and "runs ≥3" in latest.stdout, latest.stdout
    assert "1 other set(s)" in latest.stdout
    assert {r["client_runs"] for k, r in rows_by_split(out / "splits.csv").items() if k} == {"3"}

    chosen = run_cli("report", out, "--settings", first[:6]).ok()
    assert f"settings {first} (" in chosen.stdout
    assert {r["client_runs"] for k, r in rows_by_split(out / "splits.csv").items() if k} == {"2"}

    every = run_cli("report", out, "--settings", "all").ok()
    for h, runs in ((first, "2"), (second, "3")):
        assert f"settings {h} (" in every.stdout
        rows = rows_by_split(out / f"splits_settings-{h}.csv")
        assert {r["client_runs"] for k, r in rows.items() if k} == {runs}

    bad = run_cli("report", out, "--settings", "zzzz")
    assert_one_line_error(bad, "zzzz", "is not a settings hash", first, second)
