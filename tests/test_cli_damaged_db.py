"""A results database damaged in the middle: `sweep` and `report` say so in one line (they
once crashed with sqlite3.DatabaseError) and leave it untouched; `splitbench doctor` says what
is in it and copies the readable rows into a new database that a rerun can resume from."""

from __future__ import annotations

import hashlib
from pathlib import Path

from cli_helpers import assert_one_line_error, measurement_count, run_cli, run_many


def _damage(db: Path) -> None:
    data = bytearray(db.read_bytes())
    page = 4096
    middle = len(data) // page // 2
    data[middle * page : (middle + 1) * page] = b"\xa5" * page
    db.write_bytes(bytes(data))


def test_damaged_database_one_line_never_modified_doctor_recovers(
    chain_tflite: Path, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    db = out / "results.sqlite"
    many = ("--runs", "400", "--min-secs", "0", "--warmup", "0", "--warmup-secs", "0")
    run_cli("sweep", chain_tflite, "--out", out, *many, "--rounds", "3").ok()
    assert db.stat().st_size > 8 * 4096, db.stat().st_size  # samples span many pages
    assert not db.with_name("results.sqlite-wal").exists()
    before_count = measurement_count(db)
    _damage(db)
    digest = hashlib.sha256(db.read_bytes()).hexdigest()

    sweep, report = run_many(
        [["sweep", chain_tflite, "--out", out, *many, "--rounds", "3"], ["report", out]]
    )
    for result in (sweep, report):
        assert_one_line_error(result, "damaged", "splitbench doctor", str(db))
    assert hashlib.sha256(db.read_bytes()).hexdigest() == digest

    doctor = run_cli("doctor", out)
    assert doctor.returncode != 0 and "Traceback" not in doctor.stderr, doctor.describe()
    assert "DAMAGED" in doctor.stdout and "integrity_check:" in doctor.stdout
    recovered = out / "results.recovered.sqlite"
    assert recovered.is_file() and str(recovered) in doctor.stderr_lines[-1]
    assert hashlib.sha256(db.read_bytes()).hexdigest() == digest
    kept = measurement_count(recovered)
    assert 0 < kept < before_count

    # The user follows the advice: the recovered database takes the damaged one's place and a
    # rerun measures only what was lost.
    db.rename(db.with_name("results.sqlite.damaged"))
    recovered.rename(db)
    healthy = run_cli("doctor", out).ok()
    assert "healthy" in healthy.stdout
    again = run_cli("sweep", chain_tflite, "--out", out, *many, "--rounds", "3").ok()
    assert measurement_count(db) == before_count
    assert "measured 0 parts" not in again.stdout
