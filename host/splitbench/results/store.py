"""Opening a results database safely, and the transaction helpers every query goes through.

Why this is its own module:

* A damaged database must never be modified. Before the kit writes anything (even switching to
  WAL or upgrading the schema) it runs ``PRAGMA quick_check`` on a read-only connection; a
  damaged file gives one line that names ``splitbench doctor`` and is left exactly as it was.
* Several phones are measured in parallel into one file: WAL journaling lets readers run beside
  the writer, ``BEGIN IMMEDIATE`` takes the write lock up front (no read-to-write upgrade
  deadlocks), and a busy timeout makes writers queue instead of failing.
* Environment faults (read-only file system, full disk, a path that is a file) become a
  :class:`ResultsError` naming the path and what to do, never a traceback.
"""

from __future__ import annotations

import errno
import os
import sqlite3
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from splitbench.errors import ResultsError
from splitbench.results import schema

BUSY_TIMEOUT_S = 60.0
DB_NAME = "results.sqlite"  # the results database's file name in a run directory
# SQLite's errors about a damaged file; its message can quote damaged bytes that are not UTF-8,
# and Python then raises UnicodeDecodeError in place of the DatabaseError.
DAMAGE_ERRORS = (sqlite3.DatabaseError, UnicodeDecodeError)
SPACE_PROBE_BYTES = 64 * 1024  # opening a WAL database needs a 32 KiB -shm file, then pages


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def fault_message(path: Path, exc: BaseException) -> str:
    """One line for an environment fault around the database file."""
    text = str(exc)
    low = text.lower()
    if "disk is full" in low or "no space" in low:
        return disk_full_message(path)
    if "readonly" in low or "read-only" in low or "permission" in low:
        return f"{path}: cannot write here ({text}); use a writable --out"
    if "unable to open" in low:
        return (
            f"{path}: cannot open the results database ({text}); check that its folder "
            "exists and is writable"
        )
    if "locked" in low or "busy" in low:
        return f"{path}: the results database stayed locked by another process ({text})"
    return f"{path}: results database error: {text}"


def disk_full_message(path: Path) -> str:
    return (
        f"{path}: the disk is full (no space left on the file system); free some space (or use "
        "another --out) and rerun the same command to resume"
    )


def health_problem(path: Path) -> str | None:
    """None when ``PRAGMA quick_check`` passes on a read-only connection, else the first problem.

    Read-only so a damaged file is never touched; ``quick_check`` is O(N) but skips index
    cross-checks, so it costs a fraction of a second even on large sweeps."""
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=BUSY_TIMEOUT_S)
    except sqlite3.Error as exc:
        return str(exc)
    try:
        app_id = conn.execute("PRAGMA application_id").fetchone()[0]
        if app_id not in (0, schema.APPLICATION_ID):
            return None  # not ours: the caller says so
        rows = [r[0] for r in conn.execute("PRAGMA quick_check").fetchall()]
        return None if rows == ["ok"] else "; ".join(rows[:3])
    except DAMAGE_ERRORS as exc:
        return str(exc)
    finally:
        conn.close()


def no_space(folder: Path) -> bool:
    """Whether ``folder``'s file system refuses a write for lack of space. A real write of
    :data:`SPACE_PROBE_BYTES` to an unnamed temporary file: free-block counts do not say what a
    file system will accept (reserved blocks, quotas, tmpfs)."""
    try:
        with tempfile.TemporaryFile(dir=folder) as probe:
            probe.write(b"\0" * SPACE_PROBE_BYTES)
            probe.flush()
            os.fsync(probe.fileno())
    except OSError as exc:
        return exc.errno in (errno.ENOSPC, errno.EDQUOT)
    return False


# Files this process found healthy, by what identifies their state on disk: one report opens
# the same database several times, and each check reads the whole file (0.07 s at 25 MB).
_HEALTHY: set[tuple[str, int, int, int, int]] = set()


def _state(path: Path) -> tuple[str, int, int, int, int]:
    st = path.stat()
    return (str(path.resolve()), st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def check_health(path: Path) -> None:
    """Raise a one-line :class:`ResultsError` when the existing database at ``path`` cannot be
    used as it is: not a database, on a full disk (SQLite then fails to open it with an I/O
    error, which is no damage), or damaged. A file this process found healthy and that has not
    changed since (same inode, size and modification time) is not read again."""
    try:
        state = _state(path)
    except OSError:
        state = None
    if state is not None and state in _HEALTHY:
        return
    problem = health_problem(path)
    if problem is None:
        if state is not None:
            _HEALTHY.add(state)
        return
    if "not a database" in problem:
        raise ResultsError(f"{path}: not a splitbench results database ({problem})")
    if ("i/o error" in problem.lower() or "full" in problem.lower()) and no_space(path.parent):
        raise ResultsError(disk_full_message(path.parent))
    raise ResultsError(damaged_message(path, problem))


def damaged_message(path: Path, problem: str) -> str:
    # One line: an integrity-check row can hold several lines ("*** in database main ***\n
    # Page 35: ...").
    problem = " ".join(problem.split())
    return (
        f"{path}: the results database is damaged ({problem}); it was left as it is — run "
        f"`splitbench doctor {path.parent}` to see what can be recovered"
    )


class Store:
    """One SQLite connection, shared by the threads of one process behind a lock."""

    def __init__(self, path: Path | str, *, create: bool = True) -> None:
        self.path = Path(path)
        self._lock = threading.RLock()
        if self.path.exists() and not self.path.is_file():
            raise ResultsError(f"{self.path}: is not a file; use another --out")
        if not create and not self.path.is_file():
            raise ResultsError(f"{self.path}: results database not found")
        if self.path.is_file() and self.path.stat().st_size > 0:
            check_health(self.path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ResultsError(fault_message(self.path.parent, exc)) from None
        try:
            self._conn = sqlite3.connect(
                self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
            )
        except sqlite3.Error as exc:
            raise ResultsError(fault_message(self.path, exc)) from None
        try:
            self._setup()
        except sqlite3.DatabaseError as exc:
            self._conn.close()
            if "not a database" in str(exc):
                raise ResultsError(
                    f"{self.path}: not a splitbench results database ({exc})"
                ) from None
            raise ResultsError(fault_message(self.path, exc)) from None
        except ResultsError:
            self._conn.close()
            raise

    @property
    def run_dir(self) -> Path:
        """Evidence paths are stored relative to this directory (the database's own)."""
        return self.path.parent

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
                schema.create(conn)
            elif app_id != schema.APPLICATION_ID:
                raise ResultsError(f"{self.path}: not a splitbench results database")
            elif version > schema.SCHEMA_VERSION:
                raise ResultsError(
                    f"{self.path}: written by a newer splitbench (schema {version}; this kit "
                    f"reads up to {schema.SCHEMA_VERSION})"
                )
            elif version < schema.SCHEMA_VERSION:
                schema.upgrade(conn, version, now_iso())

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
        """One write transaction, committed on success and rolled back on any exception.
        A full disk or read-only file system becomes a one-line :class:`ResultsError`."""
        with self._lock:
            try:
                self._conn.execute("BEGIN IMMEDIATE")
                try:
                    yield self._conn
                except BaseException:
                    self._conn.execute("ROLLBACK")
                    raise
                self._conn.execute("COMMIT")
            except sqlite3.OperationalError as exc:
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                raise ResultsError(fault_message(self.path, exc)) from None

    def _read(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        with self._lock:
            cur = self._conn.execute(sql, params)
            cur.row_factory = sqlite3.Row
            return cur.fetchall()

    def _read_tuples(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Plain tuples: for the hundreds of thousands of raw samples of a large run, where
        building a ``sqlite3.Row`` per sample took most of the read."""
        with self._lock:
            return self._conn.execute(sql, params).fetchall()

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    @property
    def schema_version(self) -> int:
        return int(self._read("PRAGMA user_version")[0][0])
