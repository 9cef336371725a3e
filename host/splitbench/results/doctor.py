"""``splitbench doctor DIR``: what is in a results database, whether it is damaged, and a copy
of every row that can still be read into a new database.

The damaged file is never modified: it (and its ``-wal`` journal) is copied to a scratch folder
and only the copy is opened, so not even a WAL checkpoint touches the original.

Recovery reads the file's intact pages itself (:mod:`splitbench.results.pages`): SQLite gives
up on a file whose schema or interior pages are lost (a truncated file), while most table pages
are still there. Every row found in an intact page is copied, except that a measurement is kept
only when it is whole: its model and target were recovered and its samples are provably all
there (indices 0..n-1 with no gap, the rows on both sides of them read too, and at least one
steady sample or a summary unless it records a failure). A partial measurement would bias a
mean; it is dropped, and the next sweep measures that part again. When no row at all can be
read, :func:`examine` says so in one line and writes nothing.
"""

from __future__ import annotations

import shutil
import sqlite3
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from splitbench.errors import ResultsError
from splitbench.results import schema
from splitbench.results.pages import HEADER, Salvage, Unreadable, salvage
from splitbench.results.store import DAMAGE_ERRORS, fault_message, no_space, now_iso

ROWID_TABLES = (
    "targets",
    "models",
    "settings",
    "splits",
    "measurements",
    "codec_results",
    "anchor_results",
)
KEYS = {"targets": "name", "models": "sha256", "settings": "hash", "measurements": "id"}
Sample = tuple[str, int, float]


@dataclass
class DoctorReport:
    path: Path
    problems: list[str]  # integrity_check output; empty when the database is healthy
    counts: dict[str, int | str]  # rows per table, or why they could not be counted
    recovered_path: Path | None = None
    recovered: dict[str, int] = field(default_factory=dict)
    dropped_measurements: int = 0
    disk_full: bool = False  # the folder takes no write: nothing can be added to the database
    header_lost: bool = False  # page 1 was unreadable: its free list too (see pages.Salvage)

    @property
    def healthy(self) -> bool:
        return not self.problems


def examine(db_path: Path, *, recover: bool = True) -> DoctorReport:
    """Check ``db_path`` with ``PRAGMA integrity_check``; when damaged and ``recover``, copy the
    readable rows into ``results.recovered.sqlite`` (or ``…recovered-N…``) beside it.

    Raises :class:`ResultsError` (one line) when nothing in the file is readable."""
    if not db_path.is_file():
        raise ResultsError(f"{db_path}: results database not found")
    if db_path.stat().st_size == 0:
        raise ResultsError(
            f"{db_path}: the file is empty (0 bytes): nothing is readable, it holds no results"
        )
    with tempfile.TemporaryDirectory(prefix="splitbench-doctor-") as tmp:
        copy = Path(tmp) / db_path.name
        shutil.copyfile(db_path, copy)
        wal = db_path.with_name(db_path.name + "-wal")
        if wal.is_file():
            shutil.copyfile(wal, copy.with_name(copy.name + "-wal"))
        src = sqlite3.connect(copy)
        try:
            report = DoctorReport(db_path, _integrity(src), _counts(src))
        finally:
            src.close()  # the last connection moves the copied WAL into the copy
        report.disk_full = no_space(db_path.parent)
        if report.problems and recover:
            copied_wal = copy.with_name(copy.name + "-wal")  # still there if SQLite gave up
            wal_bytes = copied_wal.read_bytes() if copied_wal.is_file() else b""
            found = _salvage(db_path, copy.read_bytes(), wal_bytes, report.problems)
            report.header_lost = found.header_lost
            dest = _free_name(db_path.with_name("results.recovered.sqlite"))
            try:
                _recover(found, dest, report)
            except (sqlite3.OperationalError, OSError) as exc:
                raise ResultsError(fault_message(db_path.parent, exc)) from None
    return report


def _salvage(db_path: Path, data: bytes, wal: bytes, problems: list[str]) -> Salvage:
    if not HEADER.startswith(data[: len(HEADER)]) and not data.startswith(HEADER):
        nothing = f"{db_path}: not a SQLite database (no SQLite header, no row of ours in it)"
    else:  # the header, or a start of it (a file cut short)
        nothing = (
            f"{db_path}: the results database is damaged ({' '.join(problems[0].split())}) "
            "and nothing is readable: no row of any table survives in it (left as it was)"
        )
    try:
        found = salvage(data, wal)
    except Unreadable:
        raise ResultsError(nothing) from None
    if found.application_id not in (0, schema.APPLICATION_ID):
        raise ResultsError(f"{db_path}: not a splitbench results database")
    if found.user_version > schema.SCHEMA_VERSION:
        raise ResultsError(f"{db_path}: written by a newer splitbench; cannot recover it")
    if not any(found.rows.values()) and not any(r for s in found.sequences.values() for r in s):
        raise ResultsError(nothing)
    return found


def _integrity(conn: sqlite3.Connection) -> list[str]:
    try:
        rows = [r[0] for r in conn.execute("PRAGMA integrity_check(20)").fetchall()]
    except DAMAGE_ERRORS as exc:
        return [str(exc)]
    return [] if rows == ["ok"] else rows


def _counts(conn: sqlite3.Connection) -> dict[str, int | str]:
    out: dict[str, int | str] = {}
    for table in (*ROWID_TABLES, "samples"):
        try:
            out[table] = int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
        except DAMAGE_ERRORS as exc:
            out[table] = f"unreadable ({exc})"
    return out


def _free_name(path: Path) -> Path:
    n = 1
    candidate = path
    while candidate.exists():
        n += 1
        candidate = path.with_name(f"{path.stem}-{n}{path.suffix}")
    return candidate


def _sample_sets(found: Salvage) -> dict[int, list[Sample] | None]:
    """Each measurement's samples, or None when some may be lost: they must form one run in key
    order with a readable row (or the true end of the table) on both sides, and each phase's
    indices must be 0..n-1."""
    runs: dict[int, list[tuple[list[dict[str, Any]], bool]]] = {}
    for seq in found.sequences.get("samples", []):
        mids = [None if row is None else row["measurement_id"] for row in seq]
        i = 0
        while i < len(seq):
            if mids[i] is None:
                i += 1
                continue
            j = i
            while j < len(seq) and mids[j] == mids[i]:
                j += 1
            bounded = (i == 0 or mids[i - 1] is not None) and (j == len(seq) or mids[j] is not None)
            rows = [row for row in seq[i:j] if row is not None]
            runs.setdefault(int(mids[i]), []).append((rows, bounded))  # type: ignore[arg-type]
            i = j
    out: dict[int, list[Sample] | None] = {}
    for mid, found_runs in runs.items():
        rows, bounded = found_runs[0]
        samples = [(r["phase"], int(r["idx"]), float(r["ms"])) for r in rows]
        whole = len(found_runs) == 1 and bounded
        for phase in ("warmup", "steady"):
            idx = [i for p, i, _ in samples if p == phase]
            whole = whole and idx == list(range(len(idx)))
        out[mid] = samples if whole else None
    return out


def _whole(m: dict[str, Any], samples: list[Sample]) -> bool:
    if m.get("error") is not None:
        return True
    steady = any(p == "steady" for p, _, _ in samples)
    return steady or m.get("summary_count") is not None


def _insert(conn: sqlite3.Connection, table: str, row: dict[str, Any], cols: set[str]) -> int:
    keep = {k: v for k, v in row.items() if k in cols}
    names = ", ".join(keep)
    return conn.execute(
        f"INSERT OR IGNORE INTO {table} ({names}) VALUES ({', '.join('?' * len(keep))})",
        list(keep.values()),
    ).rowcount


def _insert_measurement(
    conn: sqlite3.Connection, row: dict[str, Any], samples: list[Sample], cols: set[str]
) -> bool:
    """A measurement and its samples, or neither: a value the schema's checks refuse (a
    negative time, an unknown phase) is a damaged cell that still decoded."""
    conn.execute("SAVEPOINT measurement")
    try:
        if _insert(conn, "measurements", row, cols):
            conn.executemany(
                "INSERT INTO samples (measurement_id, phase, idx, ms) VALUES (?, ?, ?, ?)",
                [(row["id"], p, i, ms) for p, i, ms in samples],
            )
            conn.execute("RELEASE measurement")
            return True
    except sqlite3.IntegrityError:
        pass
    conn.execute("ROLLBACK TO measurement")
    conn.execute("RELEASE measurement")
    return False


def _recover(found: Salvage, dest_path: Path, report: DoctorReport) -> None:
    samples = _sample_sets(found)
    dest = sqlite3.connect(dest_path, isolation_level=None)
    try:
        dest.execute("BEGIN")
        schema.create(dest)
        kept: dict[str, set[Any]] = {table: set() for table in ROWID_TABLES}
        for table in ROWID_TABLES:
            cols = {r[1] for r in dest.execute(f"PRAGMA table_info({table})").fetchall()}
            n = 0
            rows = found.rows.get(table, [])
            if table == "measurements":  # derived_from points at an earlier id
                rows = sorted(rows, key=lambda r: r["id"])
            for row in rows:
                if table == "measurements":
                    mine = samples.get(row["id"], [])
                    if (
                        row["model_sha256"] not in kept["models"]
                        or row["target"] not in kept["targets"]
                        or mine is None
                        or not _whole(row, mine)
                    ):
                        report.dropped_measurements += 1
                        continue
                    if row.get("settings_hash") not in kept["settings"]:
                        row["settings_hash"] = None  # re-derived below
                    if row.get("derived_from") not in kept["measurements"]:
                        row["derived_from"] = None
                    if not _insert_measurement(dest, row, mine, cols):
                        report.dropped_measurements += 1
                        continue
                elif not _insert(dest, table, row, cols):
                    continue
                if table in KEYS:
                    kept[table].add(row[KEYS[table]])
                n += 1
            report.recovered[table] = n
        schema.fill_identity(dest, now_iso())
        report.recovered["samples"] = int(
            dest.execute("SELECT count(*) FROM samples").fetchone()[0]
        )
        dest.execute("COMMIT")
    except BaseException:
        dest.close()
        dest_path.unlink(missing_ok=True)
        raise
    dest.close()
    report.recovered_path = dest_path
