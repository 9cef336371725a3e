"""A results database damaged in the middle (not in its header): opening it for a sweep or a
report gives one line and leaves the file as it was; the doctor copies what is readable."""

from __future__ import annotations

import hashlib
import sqlite3
import struct
from pathlib import Path

import pytest
from splitbench.errors import ResultsError
from splitbench.measure.types import PartMeasurement, RunSettings
from splitbench.results import ResultsDB
from splitbench.results.doctor import examine
from splitbench.targets.base import TargetInfo

SHA = hashlib.sha256(b"damaged").hexdigest()
HOST = TargetInfo("host", "host", "Xeon", 2, "ai-edge-litert 2.3.0")
BOUT = RunSettings(threads=1, warmup_runs=0, warmup_min_secs=0.0, num_runs=40, min_secs=0.0)
PARTS = 120
PAGE = 4096
CODEC_ROWS = 5


def filled_db(path: Path) -> None:
    """A database of PARTS measurements (40 samples each) and CODEC_ROWS codec rows."""
    db = ResultsDB(path)
    db.record_model(sha256=SHA, name="m", path="m.tflite", file_bytes=10, num_operators=PARTS)
    db.record_target(HOST)
    for k in range(1, PARTS + 1):
        steady = [1.0 + k / 100 + i / 1000 for i in range(40)]
        part = PartMeasurement("litert-interpreter", "2.3.0", BOUT, steady_ms=steady)
        db.record_measurement(SHA, k, "head", "host", part, bout=0)
    db.close()  # the last connection checkpoints the WAL into the file
    conn = sqlite3.connect(path)  # a cut codec's row per split, as a sweep writes them
    with conn:
        conn.executemany(
            "INSERT INTO codec_results VALUES (?, ?, 'cut', 'int8', ?, 0.5, 0.25, 0.01, 1, "
            "'host', '{}')",
            [(SHA, k, 1000.0 + k) for k in range(1, CODEC_ROWS + 1)],
        )
    conn.close()  # the last connection: the WAL goes into the file before it is damaged


def damage_middle(path: Path) -> None:
    """Overwrite two leaf pages in the middle of the samples table with garbage (the header and
    every other table stay intact): the measurements whose samples were there are lost."""
    leaves = pages_of(path, "samples", "leaf")
    assert len(leaves) > 10, leaves
    overwrite(path, leaves[len(leaves) // 2 : len(leaves) // 2 + 2])


def pages_of(path: Path, name: str, kind: str | None = None) -> list[int]:
    """The page numbers (from 1) of a table or index, of one kind (leaf, internal) or all."""
    conn = sqlite3.connect(path)
    try:
        rows = conn.execute(
            "SELECT pageno, pagetype FROM dbstat WHERE name = ? ORDER BY pageno", (name,)
        ).fetchall()
    finally:
        conn.close()
    return [page for page, pagetype in rows if kind in (None, pagetype)]


def overwrite(path: Path, pages: list[int]) -> None:
    """Fill these pages of the file with garbage."""
    data = bytearray(path.read_bytes())
    for page in pages:
        data[(page - 1) * PAGE : page * PAGE] = bytes([0xA5]) * PAGE
    path.write_bytes(bytes(data))


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def damaged(tmp_path: Path) -> Path:
    path = tmp_path / "run" / "results.sqlite"
    filled_db(path)
    damage_middle(path)
    return path


def test_opening_a_damaged_database_is_one_line_and_changes_nothing(damaged: Path) -> None:
    before = digest(damaged)
    with pytest.raises(ResultsError) as err:
        ResultsDB(damaged)
    message = str(err.value)
    assert "damaged" in message and "splitbench doctor" in message and "\n" not in message
    assert digest(damaged) == before
    with pytest.raises(ResultsError):
        ResultsDB(damaged, create=False)  # the report path too
    assert digest(damaged) == before


def test_doctor_recovers_the_readable_rows_into_a_new_database(damaged: Path) -> None:
    before = digest(damaged)
    report = examine(damaged)
    assert not report.healthy and report.problems
    assert digest(damaged) == before  # the damaged file is never modified
    assert report.recovered_path is not None and report.recovered_path != damaged
    assert report.recovered_path.parent == damaged.parent
    assert 0 < report.recovered["measurements"] < PARTS
    with ResultsDB(report.recovered_path, create=False) as db:
        kept = db.measurements(SHA)
        assert len(kept) == report.recovered["measurements"]
        for m in kept:  # every kept measurement is whole: its 40 samples, in order
            assert len(m.part.steady_ms) == 40
            assert m.part.steady_ms[0] == pytest.approx(1.0 + m.split / 100)
        assert db.settings_sets(SHA)[0].measurements == len(kept)
    with sqlite3.connect(report.recovered_path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        codec = conn.execute("SELECT split, coded_bytes FROM codec_results").fetchall()
    # The codec rows sit in the file's last pages, past the damaged middle: all are recovered.
    assert report.recovered["codec_results"] == CODEC_ROWS
    assert sorted(codec) == [(k, 1000.0 + k) for k in range(1, CODEC_ROWS + 1)]


def test_doctor_on_a_healthy_database(tmp_path: Path) -> None:
    path = tmp_path / "results.sqlite"
    filled_db(path)
    report = examine(path)
    assert report.healthy and report.recovered_path is None
    assert report.counts["measurements"] == PARTS and report.counts["samples"] == 40 * PARTS
    assert report.counts["codec_results"] == CODEC_ROWS


def test_a_damaged_index_is_still_one_line(tmp_path: Path) -> None:
    """SQLite reports damaged index pages over several lines ("*** in database main ***", one
    line per page): the message joins them."""
    path = tmp_path / "run" / "results.sqlite"
    filled_db(path)
    overwrite(path, pages_of(path, "measurements_identity")[:2])
    with pytest.raises(ResultsError) as err:
        ResultsDB(path)
    message = str(err.value)
    assert "Page " in message and "splitbench doctor" in message
    assert "\n" not in message


def test_a_damaged_value_that_still_decodes_drops_its_measurement(tmp_path: Path) -> None:
    """A negative time in a sample (a flipped sign bit) breaks the schema's CHECK: the copy
    leaves that measurement out instead of failing on it."""
    path = tmp_path / "run" / "results.sqlite"
    filled_db(path)
    data = bytearray(path.read_bytes())
    sample = struct.pack(">d", 1.0 + 1 / 100 + 2 / 1000)  # measurement of split 1, sample 2
    assert data.count(sample) == 1
    data[data.index(sample)] |= 0x80
    path.write_bytes(bytes(data))
    damage_middle(path)
    report = examine(path)
    assert report.recovered_path is not None
    with ResultsDB(report.recovered_path, create=False) as db:
        splits = {m.split for m in db.measurements(SHA)}
        assert 1 not in splits and len(splits) == report.recovered["measurements"] > PARTS / 2
        assert all(ms > 0 for m in db.measurements(SHA) for ms in m.part.steady_ms)


def test_damaged_bytes_that_are_not_utf8_are_damage_not_a_crash(tmp_path: Path) -> None:
    """SQLite's error quotes a damaged schema name; its bytes are not UTF-8 and Python raised
    UnicodeDecodeError instead of the DatabaseError (a traceback from sweep and report)."""
    path = tmp_path / "run" / "results.sqlite"
    filled_db(path)
    data = bytearray(path.read_bytes())
    data[data.index(b"measurements_lookup") + 3] = 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ResultsError) as err:
        ResultsDB(path)
    assert "damaged" in str(err.value) and "\n" not in str(err.value)
    report = examine(path)
    assert not report.healthy and report.recovered_path is not None
    assert report.recovered["measurements"] == PARTS
