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


def _runs(out: Path, name: str = "splits.csv") -> set[str]:
    return {r["client_runs"] for k, r in rows_by_split(out / name).items() if k}


def test_rerun_with_other_settings_adds_beside_and_report_picks_one(
    chain_tflite: Path, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    db = out / "results.sqlite"
    run_cli("sweep", chain_tflite, "--out", out, *FAST).ok()
    first_count = measurement_count(db)
    assert _runs(out) == {"2"}

    # Once: measured, then "ValueError: … 2 different run settings" and a traceback.
    second = run_cli("sweep", chain_tflite, "--out", out, *OTHER).ok()
    assert measured_count(second.stdout) == first_count  # everything again, new settings
    assert measurement_count(db) == 2 * first_count  # the old measurements are kept
    assert _runs(out) == {"3"}  # this command's settings
    first, latest = [h for (h,) in query(db, "SELECT hash FROM settings ORDER BY first_used")]

    # The first settings again: nothing to measure, its own table.
    back = run_cli("sweep", chain_tflite, "--out", out, *FAST).ok()
    assert measured_count(back.stdout) == 0 and _runs(out) == {"2"}

    # report: by default the settings of the last sweep (once: the same ValueError), and says so.
    shown = run_cli("report", out).ok()
    assert f"settings {first} (" in shown.stdout and "runs ≥2" in shown.stdout, shown.stdout
    assert "1 other set(s)" in shown.stdout and _runs(out) == {"2"}

    chosen = run_cli("report", out, "--settings", latest[:6]).ok()
    assert f"settings {latest} (" in chosen.stdout and _runs(out) == {"3"}

    every = run_cli("report", out, "--settings", "all").ok()
    for h, runs in ((first, "2"), (latest, "3")):
        assert f"settings {h} (" in every.stdout
        assert _runs(out, f"splits_settings-{h}.csv") == {runs}

    bad = run_cli("report", out, "--settings", "zzzz")
    assert_one_line_error(bad, "zzzz", "is not a settings hash", first, latest)
