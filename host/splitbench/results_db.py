"""The results database: every raw sample with the metadata needed to trust it later.

One SQLite file in the run directory. Why SQLite and why this shape:

* A sweep can die at any point (a phone unplugged, a hang, Ctrl-C). Each measurement is one
  transaction — the measurement row and all of its samples commit together or not at all — and
  is committed the moment it finishes, so a rerun resumes with :meth:`ResultsDB.find_measurement`
  and repeats nothing that finished.
* Several phones are measured in parallel (one worker process or thread per phone) into one
  file: WAL journaling lets readers run beside the writer, ``BEGIN IMMEDIATE`` takes the write
  lock up front (no read-to-write upgrade deadlocks), and a busy timeout makes writers queue
  instead of failing.
* Like pyperf, raw samples are stored and statistics are derived when reporting. Rows that come
  from a tool printing only count/min/max/avg/std (``benchmark_model`` stdout) keep that summary in
  their own columns, never disguised as samples.
* ``strategy`` separates ``direct`` measurements (a head or tail file run by itself) from
  ``predicted`` ones (derived from an op-profiled run of the whole model, referenced through
  ``derived_from``), so both timing methods live side by side for the same split and target.

Schema (version :data:`SCHEMA_VERSION`, in ``PRAGMA user_version``):

``targets``      name PK, kind, cpu_model, cores, runtime, extra_json, kit_version, first_seen,
                 last_seen
``models``       sha256 PK, name, path, file_bytes, num_operators, output_bytes, first_seen
``splits``       (model_sha256, split) PK, cut_tensors_json, intermediate_bytes, head_bytes,
                 tail_bytes, head_sha256, tail_sha256, max_abs_diff, bit_exact, verify_passed,
                 verify_error, recorded_at
``measurements`` id PK, model_sha256, split (NULL for role 'whole'), role, target, strategy,
                 method, runtime, settings_json, derived_from, init_ms, first_ms, mem_init_mb,
                 mem_overall_mb, mem_peak_mb, summary_count/min/max/avg/std_ms, error, started_at,
                 finished_at, evidence_json, conditions_json, kit_version
``samples``      (measurement_id, phase, idx) PK, ms
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from splitbench import __version__ as KIT_VERSION
from splitbench.errors import ResultsError
from splitbench.measure.types import PartMeasurement, RunSettings, StatsSummary
from splitbench.targets.base import TargetInfo

SCHEMA_VERSION = 1
APPLICATION_ID = 0x53504C42  # "SPLB": marks the file as a splitbench results database
ROLES = ("head", "tail", "whole")
STRATEGIES = ("direct", "predicted")
BUSY_TIMEOUT_S = 60.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS targets (
    name         TEXT PRIMARY KEY,
    kind         TEXT NOT NULL,
    cpu_model    TEXT NOT NULL,
    cores        INTEGER NOT NULL CHECK (cores >= 0),
    runtime      TEXT NOT NULL,
    extra_json   TEXT NOT NULL DEFAULT '{}',
    kit_version  TEXT NOT NULL,
    first_seen   TEXT NOT NULL,
    last_seen    TEXT NOT NULL
) STRICT;

CREATE TABLE IF NOT EXISTS models (
    sha256        TEXT PRIMARY KEY CHECK (length(sha256) = 64),
    name          TEXT NOT NULL,
    path          TEXT NOT NULL,
    file_bytes    INTEGER NOT NULL CHECK (file_bytes >= 0),
    num_operators INTEGER NOT NULL CHECK (num_operators >= 0),
    output_bytes  INTEGER CHECK (output_bytes >= 0),
    first_seen    TEXT NOT NULL
) STRICT;

CREATE TABLE IF NOT EXISTS splits (
    model_sha256       TEXT NOT NULL REFERENCES models(sha256),
    split              INTEGER NOT NULL CHECK (split >= 0),
    cut_tensors_json   TEXT NOT NULL,
    intermediate_bytes INTEGER NOT NULL CHECK (intermediate_bytes >= 0),
    head_bytes         INTEGER NOT NULL CHECK (head_bytes >= 0),
    tail_bytes         INTEGER NOT NULL CHECK (tail_bytes >= 0),
    head_sha256        TEXT,
    tail_sha256        TEXT,
    max_abs_diff       REAL,
    bit_exact          INTEGER CHECK (bit_exact IN (0, 1)),
    verify_passed      INTEGER CHECK (verify_passed IN (0, 1)),
    verify_error       TEXT,
    recorded_at        TEXT NOT NULL,
    PRIMARY KEY (model_sha256, split)
) STRICT;

CREATE TABLE IF NOT EXISTS measurements (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    model_sha256    TEXT NOT NULL REFERENCES models(sha256),
    split           INTEGER CHECK (split >= 0),
    role            TEXT NOT NULL CHECK (role IN ('head', 'tail', 'whole')),
    target          TEXT NOT NULL REFERENCES targets(name),
    strategy        TEXT NOT NULL CHECK (strategy IN ('direct', 'predicted')),
    method          TEXT NOT NULL,
    runtime         TEXT NOT NULL,
    settings_json   TEXT NOT NULL,
    derived_from    INTEGER REFERENCES measurements(id),
    init_ms         REAL,
    first_ms        REAL,
    mem_init_mb     REAL,
    mem_overall_mb  REAL,
    mem_peak_mb     REAL,
    summary_count   INTEGER,
    summary_min_ms  REAL,
    summary_max_ms  REAL,
    summary_avg_ms  REAL,
    summary_std_ms  REAL,
    error           TEXT,
    started_at      TEXT,
    finished_at     TEXT NOT NULL,
    evidence_json   TEXT NOT NULL DEFAULT '[]',
    conditions_json TEXT NOT NULL DEFAULT '{}',
    kit_version     TEXT NOT NULL,
    CHECK ((role = 'whole') = (split IS NULL))
) STRICT;

CREATE INDEX IF NOT EXISTS measurements_lookup
    ON measurements (model_sha256, target, role, strategy, split);

CREATE TABLE IF NOT EXISTS samples (
    measurement_id INTEGER NOT NULL REFERENCES measurements(id),
    phase          TEXT NOT NULL CHECK (phase IN ('warmup', 'steady')),
    idx            INTEGER NOT NULL CHECK (idx >= 0),
    ms             REAL NOT NULL CHECK (ms >= 0),
    PRIMARY KEY (measurement_id, phase, idx)
) STRICT, WITHOUT ROWID;
"""

_TABLES = ("samples", "measurements", "splits", "models", "targets")  # deletion order


@dataclass(frozen=True)
class ModelRecord:
    """A model file as the sweep saw it; the hash, not the path, identifies it."""

    sha256: str
    name: str
    path: str
    file_bytes: int
    num_operators: int
    output_bytes: int | None = None  # bytes of all model outputs (the result sent back)


@dataclass(frozen=True)
class SplitRecord:
    """What one cut produced: sizes (measured from the written files) and the lossless check."""

    model_sha256: str
    split: int
    cut_tensors: tuple[str, ...]
    intermediate_bytes: int
    head_bytes: int  # 0 when the part is empty (split 0 has no head)
    tail_bytes: int  # 0 when the part is empty (split N has no tail)
    head_sha256: str | None = None
    tail_sha256: str | None = None
    max_abs_diff: float | None = None
    bit_exact: bool | None = None
    verify_passed: bool | None = None
    verify_error: str | None = None


@dataclass(frozen=True)
class TargetRecord:
    info: TargetInfo
    kit_version: str
    first_seen: str
    last_seen: str


@dataclass(frozen=True)
class StoredMeasurement:
    """A measurement as read back: the runner's record plus where and when it was taken."""

    id: int
    model_sha256: str
    split: int | None
    role: str
    target: str
    strategy: str
    part: PartMeasurement
    started_at: str | None
    finished_at: str
    evidence: tuple[str, ...] = ()
    conditions: dict[str, Any] = field(default_factory=dict)
    derived_from: int | None = None
    kit_version: str = ""


def settings_key(settings: RunSettings) -> str:
    """Canonical JSON of the run settings: equal settings give equal text, so resume can match."""
    return json.dumps(dataclasses.asdict(settings), sort_keys=True)


def _settings_from_json(text: str) -> RunSettings:
    known = {f.name for f in dataclasses.fields(RunSettings)}
    return RunSettings(**{k: v for k, v in json.loads(text).items() if k in known})


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def _iso(stamp: datetime | None) -> str | None:
    if stamp is None:
        return None
    if stamp.tzinfo is None:
        stamp = stamp.astimezone()  # naive means local time
    return stamp.astimezone(UTC).isoformat(timespec="milliseconds")


def _opt_bool(value: int | None) -> bool | None:
    return None if value is None else bool(value)


class ResultsDB:
    """One results database file. Safe to share between threads of one process (a lock guards
    the connection) and to open from several processes at once (SQLite file locking, WAL)."""

    def __init__(self, path: Path | str, *, create: bool = True) -> None:
        self.path = Path(path)
        if not create and not self.path.is_file():
            raise ResultsError(f"{self.path}: results database not found")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        try:
            self._conn = sqlite3.connect(
                self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
            )
        except sqlite3.Error as exc:
            raise ResultsError(f"{self.path}: cannot open results database: {exc}") from None
        try:
            self._setup()
        except sqlite3.OperationalError as exc:  # e.g. still locked after the busy timeout
            self._conn.close()
            raise ResultsError(f"{self.path}: cannot open results database: {exc}") from None
        except sqlite3.DatabaseError as exc:  # "file is not a database"
            self._conn.close()
            raise ResultsError(f"{self.path}: not a splitbench results database ({exc})") from None
        except ResultsError:
            self._conn.close()
            raise

    @property
    def run_dir(self) -> Path:
        """Evidence paths are stored relative to this directory (the database's own)."""
        return self.path.parent

    # -- connection and schema -------------------------------------------------------------

    def _setup(self) -> None:
        conn = self._conn
        conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("PRAGMA synchronous = FULL")  # a committed measurement survives a crash
        self._enable_wal()
        with self._write():
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            app_id = conn.execute("PRAGMA application_id").fetchone()[0]
            if version == 0:
                others = conn.execute(
                    "SELECT count(*) FROM sqlite_schema WHERE name NOT LIKE 'sqlite_%'"
                ).fetchone()[0]
                if others:
                    raise ResultsError(
                        f"{self.path}: not a splitbench results database (it has other tables)"
                    )
                # executescript() would COMMIT first; run statement by statement instead so
                # the whole schema appears atomically even with racing creators.
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        conn.execute(statement)
                conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
                conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            elif app_id != APPLICATION_ID:
                raise ResultsError(f"{self.path}: not a splitbench results database")
            elif version > SCHEMA_VERSION:
                raise ResultsError(
                    f"{self.path}: written by a newer splitbench (schema {version}; this kit "
                    f"reads up to {SCHEMA_VERSION})"
                )

    def _enable_wal(self) -> None:
        # Switching to WAL needs a moment of exclusive access; at creation another process may be
        # doing the same, so retry until the busy timeout. Once set, WAL persists in the file.
        deadline = time.monotonic() + BUSY_TIMEOUT_S
        while True:
            try:
                mode = self._conn.execute("PRAGMA journal_mode").fetchone()[0]
                if mode.lower() == "wal":
                    return
                self._conn.execute("PRAGMA journal_mode = WAL").fetchone()
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, committed on success and rolled back on any exception."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def _read(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        with self._lock:
            cur = self._conn.execute(sql, params)
            cur.row_factory = sqlite3.Row
            return cur.fetchall()

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> ResultsDB:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def schema_version(self) -> int:
        return int(self._read("PRAGMA user_version")[0][0])

    # -- writers ----------------------------------------------------------------------------

    def record_target(self, info: TargetInfo, *, kit_version: str = KIT_VERSION) -> None:
        """Insert or refresh a target; ``first_seen`` is kept from the first time."""
        with self._write() as conn:
            self._upsert_target(conn, info, kit_version)

    @staticmethod
    def _upsert_target(conn: sqlite3.Connection, info: TargetInfo, kit_version: str) -> None:
        now = _now()
        conn.execute(
            """INSERT INTO targets (name, kind, cpu_model, cores, runtime, extra_json,
                                    kit_version, first_seen, last_seen)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
               ON CONFLICT(name) DO UPDATE SET
                   kind = excluded.kind, cpu_model = excluded.cpu_model,
                   cores = excluded.cores, runtime = excluded.runtime,
                   extra_json = excluded.extra_json, kit_version = excluded.kit_version,
                   last_seen = excluded.last_seen""",
            (
                info.name,
                info.kind,
                info.cpu_model,
                info.cores,
                info.runtime,
                json.dumps(dict(info.extra), sort_keys=True),
                kit_version,
                now,
                now,
            ),
        )

    def record_model(
        self,
        *,
        sha256: str,
        name: str,
        path: str,
        file_bytes: int,
        num_operators: int,
        output_bytes: int | None = None,
    ) -> None:
        """Insert or refresh a model (same hash = same model, wherever the file now lives).

        ``output_bytes`` (all model outputs, the result sent back to the phone) is kept from an
        earlier call when this one does not know it.
        """
        with self._write() as conn:
            conn.execute(
                """INSERT INTO models (sha256, name, path, file_bytes, num_operators,
                                       output_bytes, first_seen)
                   VALUES (?, ?, ?, ?, ?, ?, ?)
                   ON CONFLICT(sha256) DO UPDATE SET
                       name = excluded.name, path = excluded.path,
                       file_bytes = excluded.file_bytes, num_operators = excluded.num_operators,
                       output_bytes = coalesce(excluded.output_bytes, models.output_bytes)""",
                (sha256, name, str(path), file_bytes, num_operators, output_bytes, _now()),
            )

    def record_split(
        self,
        *,
        model_sha: str,
        split: int,
        cut_tensors: Sequence[str],
        intermediate_bytes: int,
        head_bytes: int,
        tail_bytes: int,
        head_sha256: str | None = None,
        tail_sha256: str | None = None,
        max_abs_diff: float | None = None,
        bit_exact: bool | None = None,
        verify_passed: bool | None = None,
        verify_error: str | None = None,
    ) -> None:
        """Insert or replace what is known about one cut (a re-verification overwrites).

        Sizes are of the part files actually written; an empty part (no head at split 0, no
        tail at split N) has 0 bytes.
        """
        with self._write() as conn:
            conn.execute(
                """INSERT OR REPLACE INTO splits (model_sha256, split, cut_tensors_json,
                       intermediate_bytes, head_bytes, tail_bytes, head_sha256, tail_sha256,
                       max_abs_diff, bit_exact, verify_passed, verify_error, recorded_at)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                (
                    model_sha,
                    split,
                    json.dumps(list(cut_tensors)),
                    intermediate_bytes,
                    head_bytes,
                    tail_bytes,
                    head_sha256,
                    tail_sha256,
                    max_abs_diff,
                    None if bit_exact is None else int(bit_exact),
                    None if verify_passed is None else int(verify_passed),
                    verify_error,
                    _now(),
                ),
            )

    def has_split(self, model_sha: str, split: int) -> bool:
        """Whether the cut was already made and checked (resume skips re-verifying it)."""
        rows = self._read(
            "SELECT 1 FROM splits WHERE model_sha256 = ? AND split = ?", (model_sha, split)
        )
        return bool(rows)

    def record_measurement(
        self,
        model_sha: str,
        split: int | None,
        role: str,
        target: TargetInfo | str,
        part: PartMeasurement,
        evidence: Sequence[str | Path] | str | Path | None = None,
        *,
        strategy: str = "direct",
        derived_from: int | None = None,
        started_at: datetime | None = None,
        finished_at: datetime | None = None,
        conditions: Mapping[str, Any] | None = None,
        kit_version: str = KIT_VERSION,
    ) -> int:
        """Store one measurement and all its samples in one committed transaction; return its id.

        ``split`` is None exactly for ``role='whole'``. ``target`` may be a :class:`TargetInfo`
        (recorded in the same transaction) or the name of a recorded target. ``evidence`` are
        files kept beside the database (benchmark stdout, profiling CSV), stored relative to the
        run directory so the directory can be moved. ``conditions`` holds the device state at
        measurement time (temperature, frequencies, governor, battery) for the hygiene checks.
        If any row violates a constraint (e.g. a NaN or negative sample) nothing is stored.
        """
        if role not in ROLES:
            raise ValueError(f"role must be one of {ROLES}, got {role!r}")
        if strategy not in STRATEGIES:
            raise ValueError(f"strategy must be one of {STRATEGIES}, got {strategy!r}")
        if (role == "whole") != (split is None):
            raise ValueError("split must be None exactly when role is 'whole'")
        evidence_list = self._relative_evidence(evidence)
        summary = part.steady_summary
        with self._write() as conn:
            if isinstance(target, TargetInfo):
                self._upsert_target(conn, target, kit_version)
                target_name = target.name
            else:
                target_name = target
            cur = conn.execute(
                """INSERT INTO measurements (model_sha256, split, role, target, strategy, method,
                       runtime, settings_json, derived_from, init_ms, first_ms, mem_init_mb,
                       mem_overall_mb, mem_peak_mb, summary_count, summary_min_ms, summary_max_ms,
                       summary_avg_ms, summary_std_ms, error, started_at, finished_at,
                       evidence_json, conditions_json, kit_version)
                   VALUES ("""
                + ", ".join("?" * 25)
                + ")",
                (
                    model_sha,
                    split,
                    role,
                    target_name,
                    strategy,
                    part.method,
                    part.runtime,
                    settings_key(part.settings),
                    derived_from,
                    part.init_ms,
                    part.first_ms,
                    part.mem_init_mb,
                    part.mem_overall_mb,
                    part.mem_peak_mb,
                    summary.count if summary else None,
                    summary.min_ms if summary else None,
                    summary.max_ms if summary else None,
                    summary.avg_ms if summary else None,
                    summary.std_ms if summary else None,
                    part.error,
                    _iso(started_at),
                    _iso(finished_at) or _now(),
                    json.dumps(evidence_list),
                    json.dumps(dict(conditions or {}), sort_keys=True, default=str),
                    kit_version,
                ),
            )
            mid = int(cur.lastrowid or 0)
            rows = [(mid, "warmup", i, ms) for i, ms in enumerate(part.warmup_ms)]
            rows += [(mid, "steady", i, ms) for i, ms in enumerate(part.steady_ms)]
            conn.executemany(
                "INSERT INTO samples (measurement_id, phase, idx, ms) VALUES (?, ?, ?, ?)", rows
            )
        return mid

    def _relative_evidence(self, evidence: Sequence[str | Path] | str | Path | None) -> list[str]:
        if evidence is None:
            return []
        items = [evidence] if isinstance(evidence, str | Path) else list(evidence)
        out: list[str] = []
        root = self.run_dir.resolve()
        for item in items:
            p = Path(item)
            if p.is_absolute():
                try:
                    p = p.resolve().relative_to(root)
                except ValueError:
                    raise ValueError(
                        f"evidence {item} is outside the run directory {root}; copy it there"
                    ) from None
            out.append(p.as_posix())
        return out

    def clear(self) -> None:
        """Forget everything (``--fresh``); the schema stays so other workers keep writing."""
        with self._write() as conn:
            for table in _TABLES:
                conn.execute(f"DELETE FROM {table}")

    # -- resume -----------------------------------------------------------------------------

    def find_measurement(
        self,
        model_sha: str,
        split: int | None,
        role: str,
        target_name: str,
        settings: RunSettings,
        *,
        strategy: str = "direct",
        retry_failed: bool = False,
    ) -> int | None:
        """Id of the latest finished measurement of exactly this work, or None if it is missing.

        A failed measurement (one with an error) counts as done — a part with an operator the
        runtime cannot resolve fails the same way every time — unless ``retry_failed``.
        """
        sql = """SELECT id FROM measurements
                 WHERE model_sha256 = ? AND split IS ? AND role = ? AND target = ?
                   AND strategy = ? AND settings_json = ?"""
        if retry_failed:
            sql += " AND error IS NULL"
        rows = self._read(
            sql + " ORDER BY id DESC LIMIT 1",
            (model_sha, split, role, target_name, strategy, settings_key(settings)),
        )
        return int(rows[0][0]) if rows else None

    def count_bouts(
        self,
        model_sha: str,
        split: int | None,
        role: str,
        target_name: str,
        settings: RunSettings,
        *,
        strategy: str = "direct",
    ) -> tuple[int, int]:
        """How many finished measurements (bouts) of exactly this work succeeded and failed.

        A sweep measures each part in several bouts spread over its passes; the table pools
        them. Counting is what lets a rerun finish exactly the bouts that are missing.
        """
        rows = self._read(
            """SELECT SUM(error IS NULL), SUM(error IS NOT NULL) FROM measurements
               WHERE model_sha256 = ? AND split IS ? AND role = ? AND target = ?
                 AND strategy = ? AND settings_json = ?""",
            (model_sha, split, role, target_name, strategy, settings_key(settings)),
        )
        ok, failed = rows[0] if rows else (0, 0)
        return int(ok or 0), int(failed or 0)

    # -- readers ----------------------------------------------------------------------------

    def targets(self) -> list[TargetRecord]:
        return [self._target(r) for r in self._read("SELECT * FROM targets ORDER BY name")]

    def target(self, name: str) -> TargetRecord | None:
        rows = self._read("SELECT * FROM targets WHERE name = ?", (name,))
        return self._target(rows[0]) if rows else None

    @staticmethod
    def _target(r: sqlite3.Row) -> TargetRecord:
        info = TargetInfo(
            name=r["name"],
            kind=r["kind"],
            cpu_model=r["cpu_model"],
            cores=r["cores"],
            runtime=r["runtime"],
            extra=json.loads(r["extra_json"]),
        )
        return TargetRecord(info, r["kit_version"], r["first_seen"], r["last_seen"])

    def models(self) -> list[ModelRecord]:
        return [self._model(r) for r in self._read("SELECT * FROM models ORDER BY name, sha256")]

    def model(self, sha256: str) -> ModelRecord | None:
        rows = self._read("SELECT * FROM models WHERE sha256 = ?", (sha256,))
        return self._model(rows[0]) if rows else None

    @staticmethod
    def _model(r: sqlite3.Row) -> ModelRecord:
        return ModelRecord(
            r["sha256"],
            r["name"],
            r["path"],
            r["file_bytes"],
            r["num_operators"],
            r["output_bytes"],
        )

    def splits(self, model_sha: str) -> list[SplitRecord]:
        rows = self._read(
            "SELECT * FROM splits WHERE model_sha256 = ? ORDER BY split", (model_sha,)
        )
        return [
            SplitRecord(
                model_sha256=r["model_sha256"],
                split=r["split"],
                cut_tensors=tuple(json.loads(r["cut_tensors_json"])),
                intermediate_bytes=r["intermediate_bytes"],
                head_bytes=r["head_bytes"],
                tail_bytes=r["tail_bytes"],
                head_sha256=r["head_sha256"],
                tail_sha256=r["tail_sha256"],
                max_abs_diff=r["max_abs_diff"],
                bit_exact=_opt_bool(r["bit_exact"]),
                verify_passed=_opt_bool(r["verify_passed"]),
                verify_error=r["verify_error"],
            )
            for r in rows
        ]

    def get_measurement(self, measurement_id: int) -> StoredMeasurement:
        found = self.measurements(ids=[measurement_id])
        if not found:
            raise KeyError(f"no measurement with id {measurement_id}")
        return found[0]

    def measurements(
        self,
        model_sha: str | None = None,
        *,
        target: str | None = None,
        role: str | None = None,
        strategy: str | None = None,
        ids: Sequence[int] | None = None,
    ) -> list[StoredMeasurement]:
        """Measurements with their raw samples, oldest first, filtered by the given fields."""
        where, params = self._filter(model_sha, target, role, strategy, ids)
        rows = self._read(f"SELECT * FROM measurements {where} ORDER BY id", params)
        samples: dict[int, dict[str, list[float]]] = {}
        for mid, phase, ms in self._read(
            f"""SELECT measurement_id, phase, ms FROM samples
                WHERE measurement_id IN (SELECT id FROM measurements {where})
                ORDER BY measurement_id, phase, idx""",
            params,
        ):
            samples.setdefault(mid, {"warmup": [], "steady": []})[phase].append(ms)
        return [self._measurement(r, samples.get(r["id"], {})) for r in rows]

    @staticmethod
    def _filter(
        model_sha: str | None,
        target: str | None,
        role: str | None,
        strategy: str | None,
        ids: Sequence[int] | None,
    ) -> tuple[str, list[Any]]:
        clauses: list[str] = []
        params: list[Any] = []
        for column, value in (
            ("model_sha256", model_sha),
            ("target", target),
            ("role", role),
            ("strategy", strategy),
        ):
            if value is not None:
                clauses.append(f"{column} = ?")
                params.append(value)
        if ids is not None:
            clauses.append(f"id IN ({', '.join('?' * len(ids)) or 'NULL'})")
            params.extend(int(i) for i in ids)
        return ("WHERE " + " AND ".join(clauses) if clauses else ""), params

    @staticmethod
    def _measurement(r: sqlite3.Row, samples: Mapping[str, list[float]]) -> StoredMeasurement:
        summary = None
        if r["summary_count"] is not None:
            summary = StatsSummary(
                r["summary_count"],
                r["summary_min_ms"],
                r["summary_max_ms"],
                r["summary_avg_ms"],
                r["summary_std_ms"],
            )
        part = PartMeasurement(
            method=r["method"],
            runtime=r["runtime"],
            settings=_settings_from_json(r["settings_json"]),
            init_ms=r["init_ms"],
            first_ms=r["first_ms"],
            warmup_ms=list(samples.get("warmup", [])),
            steady_ms=list(samples.get("steady", [])),
            steady_summary=summary,
            mem_init_mb=r["mem_init_mb"],
            mem_overall_mb=r["mem_overall_mb"],
            mem_peak_mb=r["mem_peak_mb"],
            error=r["error"],
        )
        return StoredMeasurement(
            id=r["id"],
            model_sha256=r["model_sha256"],
            split=r["split"],
            role=r["role"],
            target=r["target"],
            strategy=r["strategy"],
            part=part,
            started_at=r["started_at"],
            finished_at=r["finished_at"],
            evidence=tuple(json.loads(r["evidence_json"])),
            conditions=json.loads(r["conditions_json"]),
            derived_from=r["derived_from"],
            kit_version=r["kit_version"],
        )

    def measurements_frame(self, model_sha: str | None = None) -> pd.DataFrame:
        """One row per measurement (no samples) for ad-hoc analysis."""
        where, params = self._filter(model_sha, None, None, None, None)
        with self._lock:
            return pd.read_sql_query(
                f"SELECT * FROM measurements {where} ORDER BY id", self._conn, params=params
            )

    def samples_frame(self, model_sha: str | None = None) -> pd.DataFrame:
        """Every raw sample joined with what it measured: the long format plots and stats want."""
        where, params = ("WHERE m.model_sha256 = ?", [model_sha]) if model_sha else ("", [])
        with self._lock:
            return pd.read_sql_query(
                f"""SELECT s.measurement_id, m.model_sha256, m.split, m.role, m.target,
                           m.strategy, s.phase, s.idx, s.ms
                    FROM samples s JOIN measurements m ON m.id = s.measurement_id
                    {where}
                    ORDER BY s.measurement_id, s.phase, s.idx""",
                self._conn,
                params=params,
            )
