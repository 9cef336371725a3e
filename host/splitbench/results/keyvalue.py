"""A small SQLite key → number store for caches of derived data (simulated network transfers),
kept beside the results database code so that every use of SQLite lives in this package.

Safe for concurrent processes (SQLite's own locking, a 30 s busy timeout); writes are committed
in batches, and whatever was put is committed when the store is closed, even after a failure.
"""

from __future__ import annotations

import math
import re
import sqlite3
from collections.abc import Sequence
from pathlib import Path

_BATCH = 500
_NAME = re.compile(r"^[a-z_]+$")


class KeyValueStore:
    """``with KeyValueStore(path, "table") as store: store.get(keys); store.put(key, value)``.
    NaN values round-trip (stored as NULL)."""

    def __init__(self, path: Path, table: str) -> None:
        if not _NAME.match(table):
            raise ValueError(f"table name {table!r}: lower-case letters and _ only")
        self.path = Path(path)
        self.table = table
        self.pending = 0

    def __enter__(self) -> KeyValueStore:
        self.db = sqlite3.connect(self.path, timeout=30)
        self.db.execute(f"CREATE TABLE IF NOT EXISTS {self.table} (key TEXT PRIMARY KEY, v REAL)")
        return self

    def get(self, keys: Sequence[str]) -> dict[str, float]:
        """The stored values of those of ``keys`` that are present."""
        found: dict[str, float] = {}
        for i in range(0, len(keys), _BATCH):
            chunk = list(keys[i : i + _BATCH])
            marks = ",".join("?" * len(chunk))
            rows = self.db.execute(f"SELECT key, v FROM {self.table} WHERE key IN ({marks})", chunk)
            found.update({k: float("nan") if v is None else float(v) for k, v in rows})
        return found

    def put(self, key: str, value: float) -> None:
        """Store one value (committed in batches: a commit per value would spend more time in
        fsync than the work it caches)."""
        stored = None if math.isnan(value) else value
        self.db.execute(f"INSERT OR REPLACE INTO {self.table} VALUES (?, ?)", (key, stored))
        self.pending += 1
        if self.pending >= _BATCH:
            self.db.commit()
            self.pending = 0

    def __exit__(self, *exc: object) -> None:
        self.db.commit()  # also after a failure: what finished stays stored
        self.db.close()
