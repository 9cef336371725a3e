"""The results database: every raw sample with the metadata needed to trust it later.

One SQLite file in the run directory (tables in :mod:`splitbench.results.schema`). Why SQLite
and why this shape:

* A sweep can die at any point (a phone unplugged, a hang, Ctrl-C, SIGTERM). Each measurement
  is one transaction — the measurement row and all of its samples commit together or not at
  all — and is committed the moment it finishes, so a rerun resumes with :meth:`count_bouts`
  and repeats nothing that finished.
* The run settings are part of a measurement's identity (:mod:`splitbench.results.identity`):
  a rerun with other settings adds measurements beside the old ones; tables pick one settings
  identity (the latest by default).
* Like pyperf, raw samples are stored and statistics are derived when reporting. Rows that come
  from a tool printing only count/min/max/avg/std (``benchmark_model`` stdout) keep that summary in
  their own columns, never disguised as samples.
* ``strategy`` separates ``direct`` measurements (a head or tail file run by itself) from
  ``predicted`` ones (derived from an op-profiled run of the whole model, referenced through
  ``derived_from``), so both timing methods live side by side for the same split and target.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from itertools import groupby
from operator import itemgetter
from pathlib import Path
from typing import Any

import pandas as pd

from splitbench import __version__ as KIT_VERSION
from splitbench.measure.types import PartMeasurement, RunSettings
from splitbench.results import schema
from splitbench.results.identity import (
    SettingsRecord,
    settings_from_json,
    settings_hash,
    settings_key,
)
from splitbench.results.records import (
    AnchorResult,
    CodecResult,
    ModelRecord,
    SplitRecord,
    StoredMeasurement,
    TargetRecord,
    measurement_from_row,
    model_from_row,
    split_from_row,
    target_from_row,
)
from splitbench.results.store import Store, now_iso
from splitbench.targets.base import TargetInfo

ROLES = ("head", "tail", "whole")
STRATEGIES = ("direct", "predicted")


def _iso(stamp: datetime | None) -> str | None:
    if stamp is None:
        return None
    if stamp.tzinfo is None:
        stamp = stamp.astimezone()  # naive means local time
    return stamp.astimezone(UTC).isoformat(timespec="milliseconds")


class ResultsDB(Store):
    """One results database file. Safe to share between threads of one process (a lock guards
    the connection) and to open from several processes at once (SQLite file locking, WAL)."""

    def __enter__(self) -> ResultsDB:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- writers ----------------------------------------------------------------------------

    def record_target(self, info: TargetInfo, *, kit_version: str = KIT_VERSION) -> None:
        """Insert or refresh a target; ``first_seen`` is kept from the first time."""
        with self._write() as conn:
            self._upsert_target(conn, info, kit_version)

    @staticmethod
    def _upsert_target(conn: sqlite3.Connection, info: TargetInfo, kit_version: str) -> None:
        now = now_iso()
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
                (sha256, name, str(path), file_bytes, num_operators, output_bytes, now_iso()),
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
                    now_iso(),
                ),
            )

    def has_split(self, model_sha: str, split: int) -> bool:
        """Whether the cut was already made and checked (resume skips re-verifying it)."""
        rows = self._read(
            "SELECT 1 FROM splits WHERE model_sha256 = ? AND split = ?", (model_sha, split)
        )
        return bool(rows)

    def record_codec(self, model_sha: str, result: CodecResult) -> None:
        """Insert or replace one codec result (a rerun that recomputes it overwrites)."""
        with self._write() as conn:
            conn.execute(
                """INSERT OR REPLACE INTO codec_results (model_sha256, split, kind, codec,
                       coded_bytes, encode_ms, decode_ms, max_abs_diff, lossless, timed_on,
                       detail_json)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                (
                    model_sha,
                    result.split,
                    result.kind,
                    result.codec,
                    result.coded_bytes,
                    result.encode_ms,
                    result.decode_ms,
                    result.max_abs_diff,
                    int(result.lossless),
                    result.timed_on,
                    json.dumps(result.detail),
                ),
            )

    def has_codec(self, model_sha: str, split: int, kind: str, codec: str) -> bool:
        """Whether this codec was already run on this split (resume skips it)."""
        rows = self._read(
            "SELECT 1 FROM codec_results WHERE model_sha256 = ? AND split = ? AND kind = ? "
            "AND codec = ?",
            (model_sha, split, kind, codec),
        )
        return bool(rows)

    def codec_results(self, model_sha: str, kind: str) -> dict[int, CodecResult]:
        """The recorded results of one kind (``cut`` or ``delivery``), by split."""
        rows = self._read(
            """SELECT split, kind, codec, coded_bytes, encode_ms, decode_ms, max_abs_diff,
                      lossless, timed_on, detail_json FROM codec_results
               WHERE model_sha256 = ? AND kind = ? ORDER BY split""",
            (model_sha, kind),
        )
        return {
            r["split"]: CodecResult(
                r["split"],
                r["kind"],
                r["codec"],
                r["coded_bytes"],
                r["encode_ms"],
                r["decode_ms"],
                r["max_abs_diff"],
                bool(r["lossless"]),
                r["timed_on"],
                json.loads(r["detail_json"]),
            )
            for r in rows
        }

    def record_anchor(self, model_sha: str, result: AnchorResult) -> None:
        """Insert or replace one anchor codec's row (a rerun that recomputes it overwrites)."""
        with self._write() as conn:
            conn.execute(
                """INSERT OR REPLACE INTO anchor_results (model_sha256, codec, name, param,
                       coded_bytes, encode_ms, decode_ms, max_abs_diff, metric_name, metric,
                       timed_on, note, detail_json, recorded_at)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                (
                    model_sha,
                    result.codec,
                    result.name,
                    result.param,
                    result.coded_bytes,
                    result.encode_ms,
                    result.decode_ms,
                    result.max_abs_diff,
                    result.metric_name,
                    result.metric,
                    result.timed_on,
                    result.note,
                    json.dumps(result.detail),
                    now_iso(),
                ),
            )

    def anchor_results(self, model_sha: str) -> dict[str, AnchorResult]:
        """The recorded anchor codecs of a model, by label (``jpeg:90``), in recording order."""
        rows = self._read(
            """SELECT codec, name, param, coded_bytes, encode_ms, decode_ms, max_abs_diff,
                      metric_name, metric, timed_on, note, detail_json FROM anchor_results
               WHERE model_sha256 = ? ORDER BY rowid""",
            (model_sha,),
        )
        return {
            r["codec"]: AnchorResult(
                r["codec"],
                r["name"],
                r["param"],
                r["coded_bytes"],
                r["encode_ms"],
                r["decode_ms"],
                r["max_abs_diff"],
                r["metric_name"],
                r["metric"],
                r["timed_on"],
                r["note"],
                json.loads(r["detail_json"]),
            )
            for r in rows
        }

    def record_settings(self, settings: RunSettings, rounds: int | None = 1) -> str:
        """Register a settings identity (idempotent) and return its hash."""
        with self._write() as conn:
            return self._upsert_settings(conn, settings, rounds)

    @staticmethod
    def _upsert_settings(
        conn: sqlite3.Connection, settings: RunSettings, rounds: int | None
    ) -> str:
        key = settings_hash(settings, rounds)
        conn.execute(
            "INSERT OR IGNORE INTO settings (hash, settings_json, rounds, first_used) "
            "VALUES (?, ?, ?, ?)",
            (key, settings_key(settings), rounds, now_iso()),
        )
        return key

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
        rounds: int = 1,
        bout: int | None = None,
    ) -> int:
        """Store one measurement and all its samples in one committed transaction; return its id.

        ``split`` is None exactly for ``role='whole'``. ``target`` may be a :class:`TargetInfo`
        (recorded in the same transaction) or the name of a recorded target. ``evidence`` are
        files kept beside the database (benchmark stdout, profiling CSV), stored relative to the
        run directory so the directory can be moved. ``conditions`` holds the device state at
        measurement time (temperature, frequencies, governor, battery) for the hygiene checks.
        ``rounds`` (bouts per part) and ``part.settings`` (per bout) form the settings identity;
        ``bout`` is which bout this was. If any row violates a constraint (e.g. a NaN or
        negative sample) nothing is stored.
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
            key = self._upsert_settings(conn, part.settings, rounds)
            cur = conn.execute(
                """INSERT INTO measurements (model_sha256, split, role, target, strategy, method,
                       runtime, settings_json, derived_from, init_ms, first_ms, mem_init_mb,
                       mem_overall_mb, mem_peak_mb, summary_count, summary_min_ms, summary_max_ms,
                       summary_avg_ms, summary_std_ms, error, started_at, finished_at,
                       evidence_json, conditions_json, kit_version, settings_hash, bout)
                   VALUES ("""
                + ", ".join("?" * 27)
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
                    _iso(finished_at) or now_iso(),
                    json.dumps(evidence_list),
                    json.dumps(dict(conditions or {}), sort_keys=True, default=str),
                    kit_version,
                    key,
                    bout,
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
            for table in schema.TABLES:
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
        rounds: int = 1,
    ) -> int | None:
        """Id of the latest finished measurement of exactly this work, or None if it is missing.

        A failed measurement (one with an error) is found too unless ``retry_failed``."""
        sql = """SELECT id FROM measurements
                 WHERE model_sha256 = ? AND split IS ? AND role = ? AND target = ?
                   AND strategy = ? AND settings_hash = ?"""
        if retry_failed:
            sql += " AND error IS NULL"
        rows = self._read(
            sql + " ORDER BY id DESC LIMIT 1",
            (model_sha, split, role, target_name, strategy, settings_hash(settings, rounds)),
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
        rounds: int = 1,
    ) -> tuple[int, int]:
        """How many finished measurements (bouts) of exactly this work succeeded and failed.

        A sweep measures each part in several bouts spread over its passes; the table pools
        them. Counting is what lets a rerun finish exactly the bouts that are missing.
        """
        rows = self._read(
            """SELECT SUM(error IS NULL), SUM(error IS NOT NULL) FROM measurements
               WHERE model_sha256 = ? AND split IS ? AND role = ? AND target = ?
                 AND strategy = ? AND settings_hash = ?""",
            (model_sha, split, role, target_name, strategy, settings_hash(settings, rounds)),
        )
        ok, failed = rows[0] if rows else (0, 0)
        return int(ok or 0), int(failed or 0)

    # -- readers ----------------------------------------------------------------------------

    def targets(self) -> list[TargetRecord]:
        return [target_from_row(r) for r in self._read("SELECT * FROM targets ORDER BY name")]

    def target(self, name: str) -> TargetRecord | None:
        rows = self._read("SELECT * FROM targets WHERE name = ?", (name,))
        return target_from_row(rows[0]) if rows else None

    def models(self) -> list[ModelRecord]:
        rows = self._read("SELECT * FROM models ORDER BY name, sha256")
        return [model_from_row(r) for r in rows]

    def model(self, sha256: str) -> ModelRecord | None:
        rows = self._read("SELECT * FROM models WHERE sha256 = ?", (sha256,))
        return model_from_row(rows[0]) if rows else None

    def splits(self, model_sha: str) -> list[SplitRecord]:
        rows = self._read(
            "SELECT * FROM splits WHERE model_sha256 = ? ORDER BY split", (model_sha,)
        )
        return [split_from_row(r) for r in rows]

    def settings_sets(
        self, model_sha: str | None = None, targets: Sequence[str] | None = None
    ) -> list[SettingsRecord]:
        """Settings identities with measurements (of this model on these targets), the most
        recently measured last."""
        clauses, params = ["m.strategy = 'direct'"], []
        if model_sha is not None:
            clauses.append("m.model_sha256 = ?")
            params.append(model_sha)
        if targets is not None:
            clauses.append(f"m.target IN ({', '.join('?' * len(targets)) or 'NULL'})")
            params.extend(targets)
        rows = self._read(
            f"""SELECT s.hash, s.settings_json, s.rounds, count(m.id) AS n,
                       max(m.finished_at) AS last, max(m.id) AS last_id
                FROM settings s JOIN measurements m ON m.settings_hash = s.hash
                WHERE {" AND ".join(clauses)}
                GROUP BY s.hash ORDER BY last_id""",
            params,
        )
        return [
            SettingsRecord(
                r["hash"], settings_from_json(r["settings_json"]), r["rounds"], r["n"], r["last"]
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
        settings_hash: str | None = None,
        with_samples: bool = True,
    ) -> list[StoredMeasurement]:
        """Measurements with their raw samples (none with ``with_samples=False``: what was
        measured, how and when, for a fraction of the time), oldest first, filtered by the
        given fields."""
        where, params = _filter(model_sha, target, role, strategy, ids, settings_hash)
        rows = self._read(f"SELECT * FROM measurements {where} ORDER BY id", params)
        samples = (
            self._samples(f"SELECT id FROM measurements {where}", params) if with_samples else {}
        )
        return [measurement_from_row(r, samples.get(r["id"], {})) for r in rows]

    def with_samples(self, found: Sequence[StoredMeasurement]) -> list[StoredMeasurement]:
        """``found`` (read without samples) with their raw samples."""
        ids = [m.id for m in found]
        samples: dict[int, dict[str, list[float]]] = {}
        for at in range(0, len(ids), 900):  # within SQLite's oldest limit on parameters
            chunk = ids[at : at + 900]
            samples.update(self._samples(", ".join("?" * len(chunk)), chunk))
        return [
            replace(
                m,
                part=replace(
                    m.part,
                    warmup_ms=list(samples.get(m.id, {}).get("warmup", [])),
                    steady_ms=list(samples.get(m.id, {}).get("steady", [])),
                ),
            )
            for m in found
        ]

    def _samples(self, ids_sql: str, params: Sequence[Any]) -> dict[int, dict[str, list[float]]]:
        """Raw samples by measurement id and phase, of the measurements ``ids_sql`` names."""
        found = self._read_tuples(
            f"""SELECT measurement_id, phase, ms FROM samples WHERE measurement_id IN ({ids_sql})
                ORDER BY measurement_id, phase, idx""",
            params,
        )
        samples: dict[int, dict[str, list[float]]] = {}
        for (mid, phase), group in groupby(found, key=itemgetter(0, 1)):
            samples.setdefault(mid, {})[phase] = [ms for _, _, ms in group]
        return samples

    def measurements_frame(self, model_sha: str | None = None) -> pd.DataFrame:
        """One row per measurement (no samples) for ad-hoc analysis."""
        where, params = _filter(model_sha, None, None, None, None, None)
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
                           m.strategy, m.settings_hash, s.phase, s.idx, s.ms
                    FROM samples s JOIN measurements m ON m.id = s.measurement_id
                    {where}
                    ORDER BY s.measurement_id, s.phase, s.idx""",
                self._conn,
                params=params,
            )


def _filter(
    model_sha: str | None,
    target: str | None,
    role: str | None,
    strategy: str | None,
    ids: Sequence[int] | None,
    settings: str | None,
) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    params: list[Any] = []
    for column, value in (
        ("model_sha256", model_sha),
        ("target", target),
        ("role", role),
        ("strategy", strategy),
        ("settings_hash", settings),
    ):
        if value is not None:
            clauses.append(f"{column} = ?")
            params.append(value)
    if ids is not None:
        clauses.append(f"id IN ({', '.join('?' * len(ids)) or 'NULL'})")
        params.extend(int(i) for i in ids)
    return ("WHERE " + " AND ".join(clauses) if clauses else ""), params
