"""The results database's tables, and the upgrade of older files to the current schema.

Schema version :data:`SCHEMA_VERSION` (kept in ``PRAGMA user_version``; ``application_id``
marks the file as ours):

``targets``      name PK, kind, cpu_model, cores, runtime, extra_json, kit_version, first_seen,
                 last_seen
``models``       sha256 PK, name, path, file_bytes, num_operators, output_bytes, first_seen
``splits``       (model_sha256, split) PK, cut_tensors_json, intermediate_bytes, head_bytes,
                 tail_bytes, head_sha256, tail_sha256, max_abs_diff, bit_exact, verify_passed,
                 verify_error, recorded_at
``settings``     hash PK, settings_json (per bout), rounds (NULL: unknown), first_used
``measurements`` id PK, model_sha256, split (NULL for role 'whole'), role, target, strategy,
                 method, runtime, settings_json, settings_hash → settings, bout, derived_from,
                 init_ms, first_ms, mem_init_mb, mem_overall_mb, mem_peak_mb,
                 summary_count/min/max/avg/std_ms, error, started_at, finished_at,
                 evidence_json, conditions_json, kit_version
``samples``      (measurement_id, phase, idx) PK, ms
``codec_results`` (model_sha256, split, kind, codec) PK, coded_bytes, encode_ms, decode_ms,
                 max_abs_diff, lossless, timed_on, detail_json: a cut or delivery codec's row
                 per split (:mod:`splitbench.compress.split_codecs`)
``anchor_results`` (model_sha256, codec) PK, name, param, coded_bytes, encode_ms, decode_ms,
                 max_abs_diff, metric_name, metric, timed_on, note, detail_json: one picture
                 codec of the all-on-the-server anchor (:mod:`splitbench.anchor.stage`)

Version 2 added ``settings`` and the ``settings_hash``/``bout`` columns: the run settings became
part of a measurement's identity (see :mod:`splitbench.results.identity`). Version 3 made
``codec_results`` part of the schema (before, the codec store created it on its own, so
``--fresh`` and the doctor did not know it). Version 4 added ``anchor_results``.
"""

from __future__ import annotations

import json
import sqlite3

from splitbench.results.identity import settings_from_json, settings_hash

SCHEMA_VERSION = 4
APPLICATION_ID = 0x53504C42  # "SPLB": marks the file as a splitbench results database
TABLES = (  # delete order
    "anchor_results",
    "codec_results",
    "samples",
    "measurements",
    "settings",
    "splits",
    "models",
    "targets",
)

_CREATE = """
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

CREATE TABLE IF NOT EXISTS settings (
    hash          TEXT PRIMARY KEY,
    settings_json TEXT NOT NULL,
    rounds        INTEGER CHECK (rounds >= 1),
    first_used    TEXT NOT NULL
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
    settings_hash   TEXT REFERENCES settings(hash),
    bout            INTEGER CHECK (bout >= 0),
    CHECK ((role = 'whole') = (split IS NULL))
) STRICT;

CREATE INDEX IF NOT EXISTS measurements_lookup
    ON measurements (model_sha256, target, role, strategy, split);

CREATE INDEX IF NOT EXISTS measurements_identity
    ON measurements (model_sha256, split, role, target, strategy, settings_hash);

CREATE TABLE IF NOT EXISTS samples (
    measurement_id INTEGER NOT NULL REFERENCES measurements(id),
    phase          TEXT NOT NULL CHECK (phase IN ('warmup', 'steady')),
    idx            INTEGER NOT NULL CHECK (idx >= 0),
    ms             REAL NOT NULL CHECK (ms >= 0),
    PRIMARY KEY (measurement_id, phase, idx)
) STRICT, WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS codec_results (
    model_sha256  TEXT NOT NULL,
    split         INTEGER NOT NULL,
    kind          TEXT NOT NULL CHECK (kind IN ('cut', 'delivery')),
    codec         TEXT NOT NULL,
    coded_bytes   REAL,
    encode_ms     REAL,
    decode_ms     REAL,
    max_abs_diff  REAL,
    lossless      INTEGER,
    timed_on      TEXT,
    detail_json   TEXT NOT NULL DEFAULT '{}',
    PRIMARY KEY (model_sha256, split, kind, codec)
);

CREATE TABLE IF NOT EXISTS anchor_results (
    model_sha256  TEXT NOT NULL,
    codec         TEXT NOT NULL,
    name          TEXT NOT NULL,
    param         INTEGER,
    coded_bytes   REAL CHECK (coded_bytes >= 0),
    encode_ms     REAL,
    decode_ms     REAL,
    max_abs_diff  REAL,
    metric_name   TEXT NOT NULL DEFAULT '',
    metric        REAL,
    timed_on      TEXT NOT NULL,
    note          TEXT NOT NULL DEFAULT '',
    detail_json   TEXT NOT NULL DEFAULT '{}',
    recorded_at   TEXT NOT NULL,
    PRIMARY KEY (model_sha256, codec)
) STRICT;
"""


def statements(script: str = _CREATE) -> list[str]:
    """The schema statement by statement: executescript() would COMMIT first, and the schema
    must appear inside the caller's transaction (atomically, even with racing creators)."""
    return [s for s in script.split(";") if s.strip()]


def create(conn: sqlite3.Connection) -> None:
    for statement in statements():
        conn.execute(statement)
    conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")


def upgrade(conn: sqlite3.Connection, version: int, now: str) -> None:
    """Bring a file of an older schema to the current one, inside the caller's transaction."""
    if version < 2:
        _v1_to_v2(conn, now)
    if version < 3:  # a version-2 file may have the table already, made by the codec store
        _create_only(conn, "codec_results (")
    if version < 4:
        _create_only(conn, "anchor_results (")
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")


def _create_only(conn: sqlite3.Connection, *markers: str) -> None:
    """Run the schema statements that contain one of ``markers`` (``IF NOT EXISTS``: what a
    file already has stays as it is)."""
    for statement in statements():
        if any(marker in statement for marker in markers):
            conn.execute(statement)


def _v1_to_v2(conn: sqlite3.Connection, now: str) -> None:
    """Schema 1 knew per-bout settings but not how many bouts made a part. The number of bouts
    is taken as the most bouts any part has under those settings (what a finished sweep leaves);
    each row's bout is its position among the rows of the same part."""
    conn.execute("ALTER TABLE measurements ADD COLUMN settings_hash TEXT REFERENCES settings(hash)")
    conn.execute("ALTER TABLE measurements ADD COLUMN bout INTEGER CHECK (bout >= 0)")
    _create_only(conn, "settings (", "measurements_identity")
    fill_identity(conn, now)


def fill_identity(conn: sqlite3.Connection, now: str) -> None:
    """Give rows written without a settings identity (schema 1) their settings hash and bout."""
    rows = conn.execute(
        """SELECT settings_json, max(n) FROM (
               SELECT settings_json, count(*) AS n FROM measurements
               WHERE settings_hash IS NULL
               GROUP BY model_sha256, split, role, target, strategy, settings_json)
           GROUP BY settings_json"""
    ).fetchall()
    for text, rounds in rows:
        key = settings_hash(settings_from_json(text), rounds)
        conn.execute(
            "INSERT OR IGNORE INTO settings (hash, settings_json, rounds, first_used) "
            "VALUES (?, ?, ?, ?)",
            (key, json.dumps(json.loads(text), sort_keys=True), rounds, now),
        )
        conn.execute(
            "UPDATE measurements SET settings_hash = ? "
            "WHERE settings_json = ? AND settings_hash IS NULL",
            (key, text),
        )
    conn.execute(
        """UPDATE measurements SET bout = (
               SELECT count(*) FROM measurements AS o
               WHERE o.model_sha256 = measurements.model_sha256
                 AND o.split IS measurements.split AND o.role = measurements.role
                 AND o.target = measurements.target AND o.strategy = measurements.strategy
                 AND o.settings_json = measurements.settings_json AND o.id < measurements.id)
           WHERE bout IS NULL"""
    )
