"""The results database on real SQLite files: round trips, resume, atomicity, concurrency."""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import sqlite3
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest
from splitbench.errors import ResultsError
from splitbench.measure.types import PartMeasurement, RunSettings, StatsSummary
from splitbench.results import SCHEMA_VERSION, ResultsDB, SplitRecord
from splitbench.targets.base import TargetInfo

SHA = hashlib.sha256(b"model").hexdigest()
HOST = TargetInfo("host", "host", "Intel Xeon", 2, "ai-edge-litert 2.3.0", {"governor": "n/a"})
PHONE = TargetInfo("adb:R58M", "adb", "Cortex-A53", 8, "benchmark_model 2.16", {"abi": "arm64-v8a"})
SETTINGS = RunSettings(threads=1, num_runs=5, min_secs=0.0)


def _part(steady: list[float], warmup: list[float] | None = None, **kw: object) -> PartMeasurement:
    return PartMeasurement(
        method="litert-interpreter",
        runtime="ai-edge-litert 2.3.0",
        settings=SETTINGS,
        init_ms=4.0,
        first_ms=9.5,
        warmup_ms=warmup if warmup is not None else [7.0, 6.5],
        steady_ms=steady,
        mem_init_mb=1.25,
        mem_overall_mb=3.5,
        **kw,  # type: ignore[arg-type]
    )


def _db(tmp_path: Path) -> ResultsDB:
    db = ResultsDB(tmp_path / "run" / "results.sqlite")
    db.record_model(
        sha256=SHA, name="chain", path="/m/chain.tflite", file_bytes=4096, num_operators=4
    )
    db.record_target(HOST)
    return db


def _count(path: Path, table: str) -> int:
    with sqlite3.connect(path) as conn:
        return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


def test_round_trip_keeps_raw_samples_and_metadata(tmp_path: Path) -> None:
    db = _db(tmp_path)
    db.record_split(
        model_sha=SHA,
        split=2,
        cut_tensors=["conv1/Relu6", "early_head"],
        intermediate_bytes=2048,
        head_bytes=1500,
        tail_bytes=2600,
        head_sha256="a" * 64,
        tail_sha256="b" * 64,
        max_abs_diff=0.0,
        bit_exact=True,
        verify_passed=True,
    )
    evidence = db.run_dir / "evidence" / "split2_head.txt"
    evidence.parent.mkdir()
    evidence.write_text("stdout")
    started = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
    part = _part([1.5, 1.25, 1.75], mem_peak_mb=4.0)
    mid = db.record_measurement(
        SHA,
        2,
        "head",
        PHONE,  # a TargetInfo is recorded in the same transaction
        part,
        evidence=[evidence, "evidence/split2_head.csv"],
        started_at=started,
        conditions={"temp_c": 31.5, "governor": "schedutil"},
    )
    db.close()

    db = ResultsDB(tmp_path / "run" / "results.sqlite", create=False)
    assert db.schema_version == SCHEMA_VERSION
    got = db.get_measurement(mid)
    assert got.part == part  # every field, samples in order, settings
    assert (got.model_sha256, got.split, got.role, got.target) == (SHA, 2, "head", "adb:R58M")
    assert got.strategy == "direct"
    assert got.evidence == ("evidence/split2_head.txt", "evidence/split2_head.csv")
    assert got.conditions == {"temp_c": 31.5, "governor": "schedutil"}
    assert got.started_at == "2025-01-02T03:04:05.000+00:00"
    assert got.finished_at >= got.started_at
    assert [t.info for t in db.targets()] == [PHONE, HOST]  # ordered by name
    (split,) = db.splits(SHA)
    assert split == SplitRecord(
        SHA,
        2,
        ("conv1/Relu6", "early_head"),
        2048,
        1500,
        2600,
        "a" * 64,
        "b" * 64,
        0.0,
        True,
        True,
        None,
    )
    model = db.model(SHA)
    assert model is not None and model.num_operators == 4 and model.file_bytes == 4096
    samples = db.samples_frame(SHA)
    assert list(samples[samples.phase == "steady"].ms) == [1.5, 1.25, 1.75]
    assert list(samples[samples.phase == "warmup"].ms) == [7.0, 6.5]
    frame = db.measurements_frame(SHA)
    assert frame.loc[0, "mem_peak_mb"] == 4.0 and frame.loc[0, "error"] is None


def test_summary_only_and_failed_measurements_round_trip(tmp_path: Path) -> None:
    db = _db(tmp_path)
    summary = StatsSummary(count=50, min_ms=9.0, max_ms=14.0, avg_ms=11.2, std_ms=0.8)
    from_stdout = PartMeasurement(
        "benchmark_model", "2.16", SETTINGS, init_ms=20.0, first_ms=30.0, steady_summary=summary
    )
    failed = PartMeasurement(
        "litert-interpreter",
        "2.3.0",
        SETTINGS,
        error="Encountered unresolved custom op: Convolution2DTransposeBias",
    )
    a = db.record_measurement(SHA, 1, "tail", "host", from_stdout)
    b = db.record_measurement(SHA, None, "whole", "host", failed)
    assert db.get_measurement(a).part == from_stdout
    whole = db.get_measurement(b)
    assert whole.split is None and whole.part == failed and not whole.part.ok


def test_target_refresh_keeps_first_seen(tmp_path: Path) -> None:
    db = _db(tmp_path)
    first = db.target("host")
    assert first is not None
    newer = TargetInfo("host", "host", "Intel Xeon", 2, "ai-edge-litert 2.4.0")
    db.record_target(newer, kit_version="9.9")
    again = db.target("host")
    assert again is not None
    assert again.info == newer and again.kit_version == "9.9"
    assert again.first_seen == first.first_seen
    assert again.last_seen >= first.last_seen


def test_evidence_outside_the_run_directory_is_refused(tmp_path: Path) -> None:
    db = _db(tmp_path)
    outside = tmp_path / "elsewhere.txt"
    outside.write_text("x")
    with pytest.raises(ValueError, match="outside the run directory"):
        db.record_measurement(SHA, 1, "head", "host", _part([1.0]), evidence=outside)
    assert _count(db.path, "measurements") == 0


def test_resume_lookup(tmp_path: Path) -> None:
    db = _db(tmp_path)
    db.record_target(PHONE)
    assert db.find_measurement(SHA, 1, "head", "host", SETTINGS) is None
    ok = db.record_measurement(SHA, 1, "head", "host", _part([2.0, 2.1]))
    assert db.find_measurement(SHA, 1, "head", "host", SETTINGS) == ok
    # Anything that differs is other work still to do.
    assert db.find_measurement(SHA, 2, "head", "host", SETTINGS) is None
    assert db.find_measurement(SHA, 1, "tail", "host", SETTINGS) is None
    assert db.find_measurement(SHA, 1, "head", "adb:R58M", SETTINGS) is None
    assert db.find_measurement(SHA, 1, "head", "host", RunSettings(threads=4)) is None
    assert db.find_measurement(SHA, 1, "head", "host", SETTINGS, strategy="predicted") is None
    # Equal settings built separately match (canonical key, not object identity).
    assert db.find_measurement(SHA, 1, "head", "host", RunSettings(1, 1, 0.5, 5, 0.0)) == ok

    failed = db.record_measurement(SHA, 3, "tail", "host", _part([], error="unresolved op X"))
    assert db.find_measurement(SHA, 3, "tail", "host", SETTINGS) == failed  # counts as done
    assert db.find_measurement(SHA, 3, "tail", "host", SETTINGS, retry_failed=True) is None
    retried = db.record_measurement(SHA, 3, "tail", "host", _part([5.0]))
    assert db.find_measurement(SHA, 3, "tail", "host", SETTINGS, retry_failed=True) == retried

    whole = db.record_measurement(SHA, None, "whole", "host", _part([9.0]))
    assert db.find_measurement(SHA, None, "whole", "host", SETTINGS) == whole
    predicted = db.record_measurement(
        SHA, 1, "head", "host", _part([]), strategy="predicted", derived_from=whole
    )
    assert db.find_measurement(SHA, 1, "head", "host", SETTINGS, strategy="predicted") == predicted
    assert db.get_measurement(predicted).derived_from == whole
    assert db.find_measurement(SHA, 1, "head", "host", SETTINGS) == ok  # direct row unchanged


def test_has_split(tmp_path: Path) -> None:
    db = _db(tmp_path)
    assert not db.has_split(SHA, 0)
    db.record_split(
        model_sha=SHA,
        split=0,
        cut_tensors=["image"],
        intermediate_bytes=3072,
        head_bytes=0,
        tail_bytes=4000,
    )
    assert db.has_split(SHA, 0) and not db.has_split(SHA, 1)


@pytest.mark.parametrize("bad_sample", [float("nan"), -0.5])
def test_measurement_with_a_bad_sample_is_all_or_nothing(tmp_path: Path, bad_sample: float) -> None:
    db = _db(tmp_path)
    with pytest.raises(sqlite3.IntegrityError):
        db.record_measurement(SHA, 1, "head", "host", _part([1.0, 1.1, bad_sample, 1.2]))
    # The measurement row was inserted before the samples; the rollback took it away again.
    assert _count(db.path, "measurements") == 0
    assert _count(db.path, "samples") == 0
    assert db.find_measurement(SHA, 1, "head", "host", SETTINGS) is None
    good = db.record_measurement(SHA, 1, "head", "host", _part([1.0, 1.1]))
    assert db.find_measurement(SHA, 1, "head", "host", SETTINGS) == good
    assert _count(db.path, "samples") == 4  # 2 warm-up + 2 steady


def test_unknown_target_or_model_is_refused_whole(tmp_path: Path) -> None:
    db = _db(tmp_path)
    with pytest.raises(sqlite3.IntegrityError):
        db.record_measurement(SHA, 1, "head", "adb:never-recorded", _part([1.0]))
    with pytest.raises(sqlite3.IntegrityError):
        db.record_measurement("f" * 64, 1, "head", "host", _part([1.0]))
    assert _count(db.path, "measurements") == 0 and _count(db.path, "samples") == 0


def test_argument_checks(tmp_path: Path) -> None:
    db = _db(tmp_path)
    with pytest.raises(ValueError, match="role"):
        db.record_measurement(SHA, 1, "body", "host", _part([1.0]))
    with pytest.raises(ValueError, match="strategy"):
        db.record_measurement(SHA, 1, "head", "host", _part([1.0]), strategy="guessed")
    with pytest.raises(ValueError, match="split must be None exactly"):
        db.record_measurement(SHA, None, "head", "host", _part([1.0]))
    with pytest.raises(ValueError, match="split must be None exactly"):
        db.record_measurement(SHA, 2, "whole", "host", _part([1.0]))


def test_clear_starts_over(tmp_path: Path) -> None:
    db = _db(tmp_path)
    db.record_measurement(SHA, 1, "head", "host", _part([1.0]))
    db.clear()
    for table in ("targets", "models", "splits", "measurements", "samples"):
        assert _count(db.path, table) == 0
    assert db.find_measurement(SHA, 1, "head", "host", SETTINGS) is None
    db.record_model(sha256=SHA, name="chain", path="p", file_bytes=1, num_operators=4)
    db.record_measurement(SHA, 1, "head", HOST, _part([1.0]))
    assert _count(db.path, "measurements") == 1


def test_files_that_are_not_our_database(tmp_path: Path) -> None:
    with pytest.raises(ResultsError, match="results database not found"):
        ResultsDB(tmp_path / "missing.sqlite", create=False)
    garbage = tmp_path / "garbage.sqlite"
    garbage.write_bytes(b"this is not sqlite at all, just text " * 100)
    with pytest.raises(ResultsError, match="not a splitbench results database"):
        ResultsDB(garbage)
    foreign = tmp_path / "foreign.sqlite"
    with sqlite3.connect(foreign) as conn:
        conn.execute("CREATE TABLE people (name TEXT)")
    with pytest.raises(ResultsError, match="not a splitbench results database"):
        ResultsDB(foreign)
    newer = tmp_path / "newer.sqlite"
    ResultsDB(newer).close()
    with sqlite3.connect(newer) as conn:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(ResultsError, match="newer splitbench"):
        ResultsDB(newer)


def test_wal_mode_is_on(tmp_path: Path) -> None:
    db = _db(tmp_path)
    with sqlite3.connect(db.path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


# -- several writers: the next issue runs one worker per phone into one database ---------------


def _writer(path: str, worker: int, count: int, barrier: object) -> None:
    """One worker process: opens the (maybe not yet existing) database and records measurements."""
    barrier.wait()  # type: ignore[attr-defined]
    db = ResultsDB(path)
    target = TargetInfo(f"adb:phone{worker}", "adb", "Cortex-A55", 8, "benchmark_model")
    db.record_model(sha256=SHA, name="chain", path="p", file_bytes=10, num_operators=count)
    for k in range(count):
        steady = [float(worker * 1000 + k) + i / 100 for i in range(20)]
        db.record_measurement(SHA, k, "head", target, _part(steady, warmup=[1.0]))
    db.close()


def test_two_processes_write_into_one_database(tmp_path: Path) -> None:
    path = tmp_path / "shared.sqlite"  # created by whichever worker gets there first
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(2)
    count = 40
    procs = [ctx.Process(target=_writer, args=(str(path), w, count, barrier)) for w in (1, 2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
        assert p.exitcode == 0
    db = ResultsDB(path, create=False)
    assert {t.info.name for t in db.targets()} == {"adb:phone1", "adb:phone2"}
    stored = db.measurements(SHA)
    assert len(stored) == 2 * count
    for m in stored:
        worker = int(m.target[-1])
        assert m.part.steady_ms == [float(worker * 1000 + m.split) + i / 100 for i in range(20)]
        assert m.part.warmup_ms == [1.0]
        assert db.find_measurement(SHA, m.split, "head", m.target, SETTINGS) == m.id


def _record_then_die(path: str) -> None:
    db = ResultsDB(path)
    db.record_measurement(SHA, 1, "head", HOST, _part([3.0, 3.5]))
    os._exit(0)  # no close, no cleanup: like a worker killed right after a measurement


def test_a_measurement_is_durable_the_moment_it_is_recorded(tmp_path: Path) -> None:
    path = _db(tmp_path).path
    ctx = multiprocessing.get_context("spawn")
    proc = ctx.Process(target=_record_then_die, args=(str(path),))
    proc.start()
    proc.join(timeout=120)
    assert proc.exitcode == 0
    db = ResultsDB(path, create=False)
    found = db.find_measurement(SHA, 1, "head", "host", SETTINGS)
    assert found is not None
    assert db.get_measurement(found).part.steady_ms == [3.0, 3.5]


def test_threads_share_one_connection(tmp_path: Path) -> None:
    db = _db(tmp_path)
    errors: list[BaseException] = []

    def work(t: int) -> None:
        try:
            for k in range(25):
                db.record_measurement(SHA, t * 100 + k, "head", "host", _part([float(k)]))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert _count(db.path, "measurements") == 100
    assert _count(db.path, "samples") == 100 * 3
