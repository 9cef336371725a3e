"""``splitbench doctor DIR``: what is in a results database, whether it is damaged, and a copy
of every row that can still be read into a new database.

The damaged file is never modified: it (and its ``-wal`` journal) is copied to a scratch folder
and only the copy is opened, so not even a WAL checkpoint touches the original.

Recovery is row by row. A btree page in the middle of a table can be unreadable while the rest
is fine, so rows are read by rowid one at a time and unreadable ones are skipped. A measurement
is kept only when it is whole: its model and target were recovered and its samples read back
complete (indices 0..n-1 with no gap, and at least one steady sample or a summary unless it
records a failure). A partial measurement would bias a mean; it is dropped, and the next sweep
measures that part again.
"""

from __future__ import annotations

import shutil
import sqlite3
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from splitbench.errors import ResultsError
from splitbench.results import schema
from splitbench.results.store import now_iso

ROWID_TABLES = ("targets", "models", "settings", "splits", "measurements", "codec_results")
PROBE_MARGIN = 2000  # rowids probed past the last known one, for tables whose end is unreadable


@dataclass
class DoctorReport:
    path: Path
    problems: list[str]  # integrity_check output; empty when the database is healthy
    counts: dict[str, int | str]  # rows per table, or why they could not be counted
    recovered_path: Path | None = None
    recovered: dict[str, int] = field(default_factory=dict)
    dropped_measurements: int = 0

    @property
    def healthy(self) -> bool:
        return not self.problems


def examine(db_path: Path, *, recover: bool = True) -> DoctorReport:
    """Check ``db_path`` with ``PRAGMA integrity_check``; when damaged and ``recover``, copy the
    readable rows into ``results.recovered.sqlite`` (or ``…recovered-N…``) beside it."""
    if not db_path.is_file():
        raise ResultsError(f"{db_path}: results database not found")
    with tempfile.TemporaryDirectory(prefix="splitbench-doctor-") as tmp:
        copy = Path(tmp) / db_path.name
        shutil.copyfile(db_path, copy)
        wal = db_path.with_name(db_path.name + "-wal")
        if wal.is_file():
            shutil.copyfile(wal, copy.with_name(copy.name + "-wal"))
        src = sqlite3.connect(copy)
        try:
            problems = _integrity(src)
            if problems and any("not a database" in p for p in problems):
                raise ResultsError(f"{db_path}: not a SQLite database ({problems[0]})")
            report = DoctorReport(db_path, problems, _counts(src))
            if problems and recover:
                _recover(src, _free_name(db_path.with_name("results.recovered.sqlite")), report)
        finally:
            src.close()
    return report


def _integrity(conn: sqlite3.Connection) -> list[str]:
    try:
        rows = [r[0] for r in conn.execute("PRAGMA integrity_check(20)").fetchall()]
    except sqlite3.DatabaseError as exc:
        return [str(exc)]
    return [] if rows == ["ok"] else rows


def _counts(conn: sqlite3.Connection) -> dict[str, int | str]:
    out: dict[str, int | str] = {}
    for table in (*ROWID_TABLES, "samples"):
        try:
            out[table] = int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
        except sqlite3.DatabaseError as exc:
            out[table] = f"unreadable ({exc})"
    return out


def _free_name(path: Path) -> Path:
    n = 1
    candidate = path
    while candidate.exists():
        n += 1
        candidate = path.with_name(f"{path.stem}-{n}{path.suffix}")
    return candidate


def _columns(conn: sqlite3.Connection, table: str) -> list[str]:
    return [r[1] for r in conn.execute(f"PRAGMA table_info({table})").fetchall()]


def _rows(conn: sqlite3.Connection, table: str) -> Iterator[dict[str, Any]]:
    """Every readable row of a rowid table: all at once when the table reads cleanly, else one
    rowid at a time, skipping the unreadable ones."""
    cols = _columns(conn, table)
    if not cols:  # a table this file does not have (codec_results before schema 3)
        return
    select = f"SELECT {', '.join(cols)} FROM {table}"
    try:
        rows = conn.execute(select).fetchall()
        yield from (dict(zip(cols, r, strict=True)) for r in rows)
        return
    except sqlite3.DatabaseError:
        pass
    last = _known_max_rowid(conn, table)
    rowid, misses = 1, 0
    while rowid <= last or misses < PROBE_MARGIN:
        try:
            row = conn.execute(f"{select} WHERE rowid = ?", (rowid,)).fetchone()
        except sqlite3.DatabaseError:
            row = None
        if row is None:
            misses += 1
        else:
            misses = 0
            yield dict(zip(cols, row, strict=True))
        rowid += 1


def _known_max_rowid(conn: sqlite3.Connection, table: str) -> int:
    best = 0
    for sql, params in (
        (f"SELECT max(rowid) FROM {table}", ()),
        ("SELECT seq FROM sqlite_sequence WHERE name = ?", (table,)),
    ):
        try:
            found = conn.execute(sql, params).fetchone()
        except sqlite3.DatabaseError:
            continue
        if found and found[0] is not None:
            best = max(best, int(found[0]))
    return best


def _samples(conn: sqlite3.Connection, mid: int) -> list[tuple[str, int, float]] | None:
    try:
        rows = conn.execute(
            "SELECT phase, idx, ms FROM samples WHERE measurement_id = ? ORDER BY phase, idx",
            (mid,),
        ).fetchall()
    except sqlite3.DatabaseError:
        return None
    for phase in ("warmup", "steady"):
        idx = [i for p, i, _ in rows if p == phase]
        if idx != list(range(len(idx))):
            return None  # a gap: samples were lost
    return [(p, int(i), float(ms)) for p, i, ms in rows]


def _whole(m: dict[str, Any], samples: list[tuple[str, int, float]]) -> bool:
    if m.get("error") is not None:
        return True
    steady = any(p == "steady" for p, _, _ in samples)
    return steady or m.get("summary_count") is not None


def _insert(conn: sqlite3.Connection, table: str, row: dict[str, Any], cols: set[str]) -> None:
    keep = {k: v for k, v in row.items() if k in cols}
    names = ", ".join(keep)
    conn.execute(
        f"INSERT OR IGNORE INTO {table} ({names}) VALUES ({', '.join('?' * len(keep))})",
        list(keep.values()),
    )


def _recover(src: sqlite3.Connection, dest_path: Path, report: DoctorReport) -> None:
    try:
        version = int(src.execute("PRAGMA user_version").fetchone()[0])
    except sqlite3.DatabaseError:
        version = schema.SCHEMA_VERSION
    dest = sqlite3.connect(dest_path, isolation_level=None)
    try:
        dest.execute("BEGIN")
        schema.create(dest)
        kept: dict[str, set[Any]] = {}
        keys = {"targets": "name", "models": "sha256", "settings": "hash", "measurements": "id"}
        for table in ROWID_TABLES:
            cols = set(_columns(dest, table))
            n = 0
            kept[table] = set()
            for row in _rows(src, table):
                if table == "measurements":
                    if (
                        row["model_sha256"] not in kept["models"]
                        or row["target"] not in kept["targets"]
                    ):
                        report.dropped_measurements += 1
                        continue
                    samples = _samples(src, row["id"])
                    if samples is None or not _whole(row, samples):
                        report.dropped_measurements += 1
                        continue
                    if row.get("settings_hash") not in kept["settings"]:
                        row["settings_hash"] = None  # re-derived below
                    if row.get("derived_from") not in kept["measurements"]:
                        row["derived_from"] = None
                    _insert(dest, table, row, cols)
                    dest.executemany(
                        "INSERT INTO samples (measurement_id, phase, idx, ms) VALUES (?, ?, ?, ?)",
                        [(row["id"], p, i, ms) for p, i, ms in samples],
                    )
                elif (
                    table in ("splits", "codec_results")
                    and row["model_sha256"] not in kept["models"]
                ):
                    continue
                else:
                    _insert(dest, table, row, cols)
                if table in keys:
                    kept[table].add(row[keys[table]])
                n += 1
            report.recovered[table] = n
        schema.fill_identity(dest, now_iso())
        report.recovered["samples"] = int(
            dest.execute("SELECT count(*) FROM samples").fetchone()[0]
        )
        dest.execute("COMMIT")
        if version > schema.SCHEMA_VERSION:
            raise ResultsError(f"{report.path}: written by a newer splitbench; cannot recover it")
    except BaseException:
        dest.close()
        dest_path.unlink(missing_ok=True)
        raise
    dest.close()
    report.recovered_path = dest_path
