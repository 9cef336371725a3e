"""Run settings are part of a measurement's identity (results DB schema 2), and older files
(schema 1, settings per run directory) are upgraded in place without losing a row."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import subprocess
from pathlib import Path

from splitbench.measure.types import PartMeasurement, RunSettings
from splitbench.results import SCHEMA_VERSION, ResultsDB, settings_hash
from splitbench.targets.base import TargetInfo

SHA = hashlib.sha256(b"identity").hexdigest()
HOST = TargetInfo("host", "host", "Xeon", 2, "ai-edge-litert 2.3.0")
BOUT = RunSettings(threads=1, warmup_runs=0, warmup_min_secs=0.0, num_runs=2, min_secs=0.0)


def _part(ms: float, settings: RunSettings = BOUT, error: str | None = None) -> PartMeasurement:
    steady = [] if error else [ms, ms]
    return PartMeasurement("litert-interpreter", "2.3.0", settings, steady_ms=steady, error=error)


def _db(path: Path) -> ResultsDB:
    db = ResultsDB(path)
    db.record_model(sha256=SHA, name="m", path="m.tflite", file_bytes=10, num_operators=3)
    db.record_target(HOST)
    return db


def test_rounds_are_part_of_the_identity(tmp_path: Path) -> None:
    db = _db(tmp_path / "results.sqlite")
    db.record_measurement(SHA, 1, "head", "host", _part(1.0), rounds=1, bout=0)
    # Same per-bout settings, but spread over 3 bouts: other work, counted apart.
    assert db.count_bouts(SHA, 1, "head", "host", BOUT, rounds=1) == (1, 0)
    assert db.count_bouts(SHA, 1, "head", "host", BOUT, rounds=3) == (0, 0)
    db.record_measurement(SHA, 1, "head", "host", _part(2.0), rounds=3, bout=0)
    db.record_measurement(SHA, 1, "head", "host", _part(2.0), rounds=3, bout=1)
    assert db.count_bouts(SHA, 1, "head", "host", BOUT, rounds=3) == (2, 0)
    sets = db.settings_sets(SHA)
    assert [(s.hash, s.rounds, s.measurements) for s in sets] == [
        (settings_hash(BOUT, 1), 1, 1),
        (settings_hash(BOUT, 3), 3, 2),
    ]
    assert "3 bouts" in sets[1].describe() and "runs ≥6" in sets[1].describe()
    stored = db.measurements(SHA, settings_hash=settings_hash(BOUT, 3))
    assert [m.bout for m in stored] == [0, 1]


def test_hash_is_stable_and_short() -> None:
    assert settings_hash(BOUT, 6) == settings_hash(RunSettings(1, 0, 0.0, 2, 0.0), 6)
    assert settings_hash(BOUT, 6) != settings_hash(BOUT, 5)
    assert len(settings_hash(BOUT)) == 10


# The schema-1 file as splitbench 0.x wrote it (measurements without settings_hash/bout).
V1_MEASUREMENTS = """CREATE TABLE measurements (
    id INTEGER PRIMARY KEY AUTOINCREMENT, model_sha256 TEXT NOT NULL REFERENCES models(sha256),
    split INTEGER CHECK (split >= 0), role TEXT NOT NULL, target TEXT NOT NULL
    REFERENCES targets(name), strategy TEXT NOT NULL, method TEXT NOT NULL, runtime TEXT NOT NULL,
    settings_json TEXT NOT NULL, derived_from INTEGER REFERENCES measurements(id), init_ms REAL,
    first_ms REAL, mem_init_mb REAL, mem_overall_mb REAL, mem_peak_mb REAL, summary_count INTEGER,
    summary_min_ms REAL, summary_max_ms REAL, summary_avg_ms REAL, summary_std_ms REAL,
    error TEXT, started_at TEXT, finished_at TEXT NOT NULL, evidence_json TEXT NOT NULL
    DEFAULT '[]', conditions_json TEXT NOT NULL DEFAULT '{}', kit_version TEXT NOT NULL,
    CHECK ((role = 'whole') = (split IS NULL))) STRICT"""


def _v1_file(path: Path) -> None:
    from splitbench.results import schema

    conn = sqlite3.connect(path)
    for statement in schema.statements():
        if "settings (" in statement or "measurements_identity" in statement:
            continue
        if "TABLE IF NOT EXISTS measurements" in statement:
            statement = V1_MEASUREMENTS
        conn.execute(statement)
    conn.execute(f"PRAGMA application_id = {schema.APPLICATION_ID}")
    conn.execute("PRAGMA user_version = 1")
    conn.execute("INSERT INTO models VALUES (?, 'm', 'm.tflite', 10, 3, NULL, 'then')", (SHA,))
    conn.execute("INSERT INTO targets VALUES ('host','host','Xeon',2,'rt','{}','0','t','t')")
    key = json.dumps(BOUT.__dict__, sort_keys=True)
    for split in (1, 1, 2, 2, 2):  # split 2 was finished (3 bouts), split 1 interrupted
        conn.execute(
            """INSERT INTO measurements (model_sha256, split, role, target, strategy, method,
               runtime, settings_json, finished_at, kit_version)
               VALUES (?, ?, 'head', 'host', 'direct', 'litert-interpreter', 'rt', ?, 't', '0')""",
            (SHA, split, key),
        )
    conn.commit()
    conn.close()


def test_schema_1_file_is_upgraded_without_losing_a_row(tmp_path: Path) -> None:
    path = tmp_path / "results.sqlite"
    _v1_file(path)
    db = ResultsDB(path)
    assert db.schema_version == SCHEMA_VERSION
    stored = db.measurements(SHA)
    assert len(stored) == 5
    assert {m.settings_hash for m in stored} == {settings_hash(BOUT, 3)}
    assert [(m.split, m.bout) for m in stored] == [(1, 0), (1, 1), (2, 0), (2, 1), (2, 2)]
    # A rerun with the same settings and 3 bouts resumes them: split 1 misses one bout.
    assert db.count_bouts(SHA, 1, "head", "host", BOUT, rounds=3) == (2, 0)
    db.close()
    check = subprocess.run(
        [
            "python",
            "-c",
            f"import sqlite3;print(sqlite3.connect('{path}').execute("
            "'PRAGMA integrity_check').fetchone()[0])",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert check.stdout.strip() == "ok"


CODEC_ROW = (SHA, 3, "cut", "int8", 1234.0, 0.5, 0.25, 0.01, 1, "host", "{}")


def test_schema_2_file_with_codec_rows_is_upgraded_without_losing_them(tmp_path: Path) -> None:
    """Before schema 3 the codec store made ``codec_results`` itself: such a file keeps its rows,
    and a version-2 file without the table gets it."""
    from splitbench.results import schema

    with_rows, without = tmp_path / "a.sqlite", tmp_path / "b.sqlite"
    for path in (with_rows, without):
        conn = sqlite3.connect(path)
        for statement in schema.statements():
            if "codec_results (" not in statement:
                conn.execute(statement)
        conn.execute(f"PRAGMA application_id = {schema.APPLICATION_ID}")
        conn.execute("PRAGMA user_version = 2")
        if path == with_rows:  # the table as the codec store of schema 2 created it
            (create,) = [s for s in schema.statements() if "codec_results (" in s]
            conn.execute(create)
            conn.execute("INSERT INTO codec_results VALUES (?,?,?,?,?,?,?,?,?,?,?)", CODEC_ROW)
        conn.commit()
        conn.close()
    for path, rows in ((with_rows, [CODEC_ROW]), (without, [])):
        db = ResultsDB(path)
        assert db.schema_version == SCHEMA_VERSION == 4
        db.close()
        with sqlite3.connect(path) as conn:
            assert conn.execute("SELECT * FROM codec_results").fetchall() == rows


def test_schema_3_file_gets_the_anchor_table_and_keeps_its_rows(tmp_path: Path) -> None:
    """Schema 4 added ``anchor_results``: a version-3 file is upgraded in place, its codec rows
    kept, and anchor rows can be written and read back."""
    from splitbench.results import AnchorResult, schema

    path = tmp_path / "v3.sqlite"
    conn = sqlite3.connect(path)
    for statement in schema.statements():
        if "anchor_results (" not in statement:
            conn.execute(statement)
    conn.execute(f"PRAGMA application_id = {schema.APPLICATION_ID}")
    conn.execute("PRAGMA user_version = 3")
    conn.execute("INSERT INTO codec_results VALUES (?,?,?,?,?,?,?,?,?,?,?)", CODEC_ROW)
    conn.commit()
    conn.close()
    db = ResultsDB(path)
    assert db.schema_version == 4
    row = AnchorResult("jpeg:90", "jpeg", 90, 2e4, 1.0, 2.0, 0.05, "", None, "host", "", {})
    db.record_anchor(SHA, row)
    assert db.anchor_results(SHA) == {"jpeg:90": row}
    db.close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT * FROM codec_results").fetchall() == [CODEC_ROW]
