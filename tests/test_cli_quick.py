"""``sweep --quick``: the documented preset, labelled wherever its numbers appear, and a later
careful run in the same run directory that adds its measurements beside the quick ones.

Real sweeps of a small real model on this host, read back from the files a user opens:
the printed summary, ``splits.csv``, ``splits.xlsx`` (with openpyxl) and ``results.sqlite``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_helpers import FAST, query, read_csv, run_cli
from splitbench.measure.types import RunSettings
from splitbench.presets import CAREFUL, QUICK, per_bout, preset_name

pytestmark = pytest.mark.slow


def settings_rows(db: Path) -> dict[str, tuple[dict, int]]:
    """settings hash -> (per-bout settings, bouts), for the identities with measurements."""
    rows = query(
        db,
        "SELECT DISTINCT s.hash, s.settings_json, s.rounds FROM settings s"
        " JOIN measurements m ON m.settings_hash = s.hash",
    )
    return {h: (json.loads(text), rounds) for h, text, rounds in rows}


def count_by_settings(db: Path) -> dict[str, int]:
    return dict(query(db, "SELECT settings_hash, count(*) FROM measurements GROUP BY 1"))


def parts_by_settings(db: Path, settings: str) -> set[tuple]:
    """(split, role, target) measured under one settings identity."""
    sql = "SELECT DISTINCT split, role, target FROM measurements WHERE settings_hash = ?"
    return set(query(db, sql, (settings,)))


def as_dict(settings: RunSettings) -> dict:
    return {k: getattr(settings, k) for k in settings.__dataclass_fields__}


def test_quick_then_a_later_run_in_the_same_run_directory(
    chain_tflite: Path, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    quick = run_cli("sweep", chain_tflite, "--quick", "--out", out).ok()
    assert "quick preset (--runs 10 --min-secs 0.1" in quick.stdout
    assert "QUICK first look" in quick.stdout
    assert "±" in quick.stdout  # the spread beside each time
    assert "quick: spread (std / mean, median over splits)" in quick.stdout
    db = out / "results.sqlite"
    (quick_hash, (bout, rounds)), *more = settings_rows(db).items()
    assert not more
    assert rounds == QUICK.rounds
    assert bout == as_dict(per_bout(QUICK.totals(), QUICK.rounds))
    rows = read_csv(out / "splits.csv")
    assert {r["preset"] for r in rows} == {"quick"}
    assert {r["settings"] for r in rows} == {quick_hash}
    assert all(r["client_std_ms"] != "" for r in rows if r["client_ms"] not in ("", "0.0"))

    from openpyxl import load_workbook

    sheets = load_workbook(out / "splits.xlsx", read_only=True)
    cells = [
        str(c) for ws in sheets.worksheets for row in ws.iter_rows(values_only=True) for c in row
    ]
    assert any("QUICK first look" in c for c in cells)
    assert "QUICK first look" in (out / "report.html").read_text()
    quick_count = count_by_settings(db)[quick_hash]

    # The later run: short settings of its own so the test stays short (the careful preset is
    # the sweep's defaults, checked below); any other settings identity is kept apart the same way.
    careful = run_cli("sweep", chain_tflite, "--out", out, *FAST).ok()
    assert "quick preset" not in careful.stdout and "QUICK" not in careful.stdout
    assert "±" not in careful.stdout
    identities = settings_rows(db)
    assert len(identities) == 2
    careful_hash = next(h for h in identities if h != quick_hash)
    assert identities[careful_hash][1] == 1
    counts = count_by_settings(db)
    assert counts[quick_hash] == quick_count  # the quick measurements are kept beside
    assert parts_by_settings(db, careful_hash) == parts_by_settings(db, quick_hash)  # all again
    rows = read_csv(out / "splits.csv")
    assert {r["preset"] for r in rows} == {"custom"}
    assert {r["settings"] for r in rows} == {careful_hash}

    # `report` rebuilds the latest identity's table and labels it from the database alone.
    rebuilt = run_cli("report", out).ok()
    assert "QUICK" not in rebuilt.stdout
    assert {r["preset"] for r in read_csv(out / "splits.csv")} == {"custom"}


def test_options_given_with_quick_win_and_the_label_says_custom(
    chain_tflite: Path, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    result = run_cli("sweep", chain_tflite, "--quick", "--rounds", "1", "--out", out).ok()
    assert "QUICK first look" not in result.stdout
    ((bout, rounds),) = settings_rows(out / "results.sqlite").values()
    assert rounds == 1
    assert bout == as_dict(per_bout(QUICK.totals(), 1))  # the rest of the preset still applies
    assert {r["preset"] for r in read_csv(out / "splits.csv")} == {"custom"}


def test_sweep_defaults_are_the_careful_preset() -> None:
    """The preset named 'careful' is what `splitbench sweep` does without options."""
    import typer.main
    from splitbench.cli import with_commands

    command = typer.main.get_command(with_commands()).commands["sweep"]  # type: ignore[attr-defined]
    defaults = {p.name: p.default for p in command.params}
    assert (
        defaults["runs"],
        defaults["min_secs"],
        defaults["warmup"],
        defaults["warmup_secs"],
        defaults["rounds"],
    ) == (CAREFUL.runs, CAREFUL.min_secs, CAREFUL.warmup, CAREFUL.warmup_secs, CAREFUL.rounds)


def test_preset_names_from_stored_settings() -> None:
    for preset in (QUICK, CAREFUL):
        for threads in (1, 4):
            bout = per_bout(preset.totals(threads), preset.rounds)
            assert preset_name(bout, preset.rounds) == preset.name
    assert preset_name(per_bout(QUICK.totals(), QUICK.rounds), 3) == "custom"
    assert preset_name(RunSettings(num_runs=7), 1) == "custom"
