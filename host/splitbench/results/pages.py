"""Reading the rows of a damaged SQLite file straight from its intact b-tree pages.

SQLite itself gives up on a file whose schema pages or interior pages are lost (a truncated
file loses the pages past its end, and the schema's own pages are often among them), although
most table pages are still there, byte for byte. This module reads the file format
(https://www.sqlite.org/fileformat2.html) in pure Python:

* Pages reachable from a root page named in the readable part of ``sqlite_schema`` belong to
  that table.
* The other b-tree pages (an orphan whose parent was lost) are given to a table only when every
  record in them has exactly that table's shape (field count and storage class per column, from
  :mod:`splitbench.results.schema`); a page that fits no table, or more than one, is left out.
  Pages on the free list (deleted rows) are never read.
* A cell is read only when all of its bytes are present (its overflow pages too).

For a ``WITHOUT ROWID`` table (``samples``) the rows come back as sequences in key order with
``None`` wherever rows may be missing (a lost page, or the unknown ends of an orphan subtree), so
the caller can tell a measurement whose samples are all there from one that lost some.
"""

from __future__ import annotations

import sqlite3
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from splitbench.results import schema
from splitbench.results.wal import committed_pages

HEADER = b"SQLite format 3\x00"
DEFAULT_PAGE_SIZE = 4096
TABLE_LEAF, TABLE_INTERIOR, INDEX_LEAF, INDEX_INTERIOR = 13, 5, 10, 2
GAP = None  # rows may be missing here
Item = tuple[int | None, list[Any]] | None  # (rowid or None in an index b-tree, record), or GAP


class Unreadable(Exception):
    """A cell or page whose bytes are missing or make no sense."""


@dataclass(frozen=True)
class Column:
    name: str
    kind: str  # declared type: INTEGER, TEXT, REAL, or "" (any)
    notnull: bool
    rowid_alias: bool  # INTEGER PRIMARY KEY: stored as the rowid, NULL in the record


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[Column, ...]  # in record order
    without_rowid: bool
    min_fields: int  # fewer when trailing columns were added later (ALTER TABLE ADD COLUMN)

    def holds(self, item: Item) -> bool:
        """Whether ``item`` has this table's shape (and comes from its kind of b-tree)."""
        return item is not None and (item[0] is None) == self.without_rowid and self.fits(item[1])

    def fits(self, values: list[Any]) -> bool:
        if not self.min_fields <= len(values) <= len(self.columns):
            return False
        return all(_fits(c, v) for c, v in zip(self.columns, values, strict=False))

    def row(self, rowid: int | None, values: list[Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for i, col in enumerate(self.columns):
            value = values[i] if i < len(values) else None
            if col.rowid_alias and value is None:
                value = rowid
            if col.kind == "REAL" and isinstance(value, int):
                value = float(value)  # SQLite stores whole REAL values as integers
            out[col.name] = value
        return out


def _fits(col: Column, value: Any) -> bool:
    if value is None:
        return col.rowid_alias or not col.notnull
    if col.kind == "INTEGER":
        return isinstance(value, int)
    if col.kind == "REAL":
        return isinstance(value, int | float)
    if col.kind == "TEXT":
        return isinstance(value, str)
    return True


def known_tables() -> dict[str, Table]:
    """Our tables as :mod:`schema` creates them, columns in the order records store them."""
    conn = sqlite3.connect(":memory:")
    try:
        schema.create(conn)
        out: dict[str, Table] = {}
        for name in schema.TABLES:
            info = conn.execute(f"PRAGMA table_info({name})").fetchall()
            wr = conn.execute(f"PRAGMA table_list({name})").fetchone()[4]
            cols = [
                Column(n, t.upper(), bool(nn), pk == 1 and t.upper() == "INTEGER" and not wr)
                for _, n, t, nn, _, pk in info
            ]
            if wr:  # a WITHOUT ROWID record holds the primary key first, in key order
                order = sorted(range(len(info)), key=lambda i: (info[i][5] == 0, info[i][5], i))
                cols = [cols[i] for i in order]
            added = 2 if name == "measurements" else 0  # settings_hash, bout (schema 2)
            out[name] = Table(name, tuple(cols), bool(wr), len(cols) - added)
        return out
    finally:
        conn.close()


def _int(buf: bytes, pos: int, n: int) -> int:
    """A big-endian unsigned integer of ``n`` bytes, all of which must be there."""
    if pos < 0 or pos + n > len(buf):
        raise Unreadable("past the end of the page")
    return int.from_bytes(buf[pos : pos + n], "big")


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    value = 0
    for i in range(9):
        if pos + i >= len(buf):
            raise Unreadable("varint past the end")
        byte = buf[pos + i]
        if i == 8:
            value = (value << 8) | byte
            break
        value = (value << 7) | (byte & 0x7F)
        if byte < 0x80:
            break
    if value >= 1 << 63:
        value -= 1 << 64
    return value, pos + i + 1


def _record(payload: bytes) -> list[Any]:
    size, pos = _varint(payload, 0)
    if not 0 < size <= len(payload):
        raise Unreadable("bad record header")
    types = []
    while pos < size:
        t, pos = _varint(payload, pos)
        types.append(t)
    if pos != size:
        raise Unreadable("bad record header")
    values: list[Any] = []
    for t in types:
        if t in (0, 8, 9):
            values.append(None if t == 0 else t - 8)
            continue
        if t in (10, 11):
            raise Unreadable("reserved serial type")
        n = (1, 2, 3, 4, 6, 8, 8)[t - 1] if t < 12 else (t - 12) // 2
        chunk = payload[pos : pos + n]
        if len(chunk) != n:
            raise Unreadable("record past its payload")
        pos += n
        if t == 7:
            values.append(struct.unpack(">d", chunk)[0])
        elif t < 7:
            values.append(int.from_bytes(chunk, "big", signed=True))
        elif t % 2:
            try:
                values.append(chunk.decode("utf-8"))
            except UnicodeDecodeError:
                raise Unreadable("text is not UTF-8") from None
        else:
            values.append(chunk)
    if pos != len(payload):
        raise Unreadable("record shorter than its payload")
    return values


@dataclass
class Page:
    number: int
    kind: int
    cells: list[int]  # offsets
    right: int  # right-most child (interior pages)


@dataclass
class Salvage:
    """What the intact pages hold."""

    rows: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # rowid tables
    sequences: dict[str, list[list[dict[str, Any] | None]]] = field(default_factory=dict)
    user_version: int = 0
    application_id: int = 0
    header_lost: bool = False  # so was the free list: rows deleted earlier may be among these


class PageFile:
    """A database file's pages, with the newer copies a write-ahead log holds (``newer``)."""

    def __init__(self, data: bytes, newer: dict[int, bytes] | None = None) -> None:
        self.newer = newer or {}
        self.header = self.newer.get(1, data)
        self.header_lost = len(self.header) < 100 or not self.header.startswith(HEADER)
        if self.header_lost:
            # With page 1 went the page size, the schema's root and the free list: pages are
            # read at SQLite's default size (splitbench never sets another) and all are orphans.
            self.header = bytes(100)
            self.page_size = self.usable = DEFAULT_PAGE_SIZE
            if len(data) < 2 * self.page_size:
                raise Unreadable("no SQLite header and no page past it")
        else:
            size = int.from_bytes(self.header[16:18], "big")
            self.page_size = 65536 if size == 1 else size
            if self.page_size < 512 or self.page_size & (self.page_size - 1):
                raise Unreadable("bad page size")
            self.usable = self.page_size - self.header[20]
        self.data = data
        in_file = (len(data) + self.page_size - 1) // self.page_size
        self.pages = max(in_file, *self.newer) if self.newer else in_file
        self.overflow: set[int] = set()

    def raw(self, number: int) -> bytes:
        if number in self.newer:
            return self.newer[number]
        if not 1 <= number <= self.pages:
            raise Unreadable(f"page {number} is missing")
        return self.data[(number - 1) * self.page_size : number * self.page_size]

    def page(self, number: int) -> Page:
        raw = self.raw(number)
        at = 100 if number == 1 else 0
        if len(raw) < at + 12:
            raise Unreadable(f"page {number} is cut short")
        kind = raw[at]
        if kind not in (TABLE_LEAF, TABLE_INTERIOR, INDEX_LEAF, INDEX_INTERIOR):
            raise Unreadable(f"page {number} is not a b-tree page")
        count = _int(raw, at + 3, 2)
        head = at + (8 if kind in (TABLE_LEAF, INDEX_LEAF) else 12)
        right = _int(raw, at + 8, 4) if head - at == 12 else 0
        if head + 2 * count > self.usable:
            raise Unreadable(f"page {number}: too many cells")
        cells = [_int(raw, head + 2 * i, 2) for i in range(count)]
        if any(not head + 2 * count <= c < self.usable for c in cells):
            raise Unreadable(f"page {number}: a cell outside the page")
        return Page(number, kind, cells, right)

    def freelist(self) -> set[int]:
        out: set[int] = set()
        trunk = int.from_bytes(self.header[32:36], "big")
        while trunk and trunk not in out:
            out.add(trunk)
            try:
                raw = self.raw(trunk)
            except Unreadable:
                break
            try:
                n = _int(raw, 4, 4)
                out.update(_int(raw, 8 + 4 * i, 4) for i in range(min(n, self.usable // 4)))
                trunk = _int(raw, 0, 4)
            except Unreadable:
                break
        return out

    def _payload(self, raw: bytes, pos: int, size: int, index: bool) -> bytes:
        u = self.usable
        most = (u - 12) * 64 // 255 - 23 if index else u - 35
        least = (u - 12) * 32 // 255 - 23
        local = size
        if size > most:
            local = least + (size - least) % (u - 4)
            if local > most:
                local = least
        out = raw[pos : pos + local]
        if len(out) != local:
            raise Unreadable("cell past the end of its page")
        if local == size:
            return out
        parts = [out]
        next_page = _int(raw, pos + local, 4)
        remaining = size - local
        seen: set[int] = set()
        while remaining > 0:
            if next_page in seen:
                raise Unreadable("overflow loop")
            seen.add(next_page)
            page = self.raw(next_page)
            chunk = page[4 : 4 + min(remaining, u - 4)]
            if len(chunk) != min(remaining, u - 4):
                raise Unreadable("overflow page cut short")
            parts.append(chunk)
            remaining -= len(chunk)
            next_page = _int(page, 0, 4)
        self.overflow.update(seen)
        return b"".join(parts)

    def cell(self, page: Page, offset: int) -> tuple[int | None, int | None, list[Any] | None]:
        """(left child, rowid, record) of one cell; what a kind of cell lacks is None."""
        raw = self.raw(page.number)
        if page.kind == TABLE_INTERIOR:
            return _int(raw, offset, 4), _varint(raw, offset + 4)[0], None
        child = None
        pos = offset
        if page.kind == INDEX_INTERIOR:
            child = _int(raw, offset, 4)
            pos += 4
        size, pos = _varint(raw, pos)
        rowid = None
        if page.kind == TABLE_LEAF:
            rowid, pos = _varint(raw, pos)
        payload = self._payload(raw, pos, size, page.kind != TABLE_LEAF)
        return child, rowid, _record(payload)

    def walk(self, number: int, seen: set[int]) -> Iterator[Item]:
        """Records of the b-tree under ``number`` in key order, None where some may be lost."""
        if number in seen:
            yield GAP
            return
        try:
            page = self.page(number)
        except Unreadable:
            yield GAP
            return
        seen.add(number)
        for offset in page.cells:
            try:
                child, rowid, record = self.cell(page, offset)
            except Unreadable:
                yield GAP
                continue
            if child is not None:
                yield from self.walk(child, seen)
            if record is not None:
                yield rowid, record
        if page.right:
            yield from self.walk(page.right, seen)


def salvage(data: bytes, wal: bytes = b"") -> Salvage:
    """Every row of our tables that the intact pages of ``data`` (a database file) hold, as of
    the last transaction committed to its write-ahead log ``wal``."""
    pf = PageFile(data, committed_pages(wal))
    tables = known_tables()
    found = Salvage(
        user_version=int.from_bytes(pf.header[60:64], "big"),
        application_id=int.from_bytes(pf.header[68:72], "big"),
        header_lost=pf.header_lost,
    )
    for table in tables.values():
        if table.without_rowid:
            found.sequences[table.name] = []
        else:
            found.rows[table.name] = []
    seen: set[int] = set()
    roots: dict[str, int] = {}
    for item in pf.walk(1, seen):
        if item is not None and len(item[1]) == 5:
            kind, name, _, root, _ = item[1]
            if kind == "table" and name in tables and isinstance(root, int):
                roots[name] = root
    for name, root in roots.items():
        _collect(found, tables[name], list(pf.walk(root, seen)))
    skip = seen | pf.freelist() | pf.overflow
    for root in _orphan_roots(pf, skip):
        items = list(pf.walk(root, seen))
        records = [i for i in items if i is not None]
        fitting = [t for t in tables.values() if records and all(map(t.holds, records))]
        if len(fitting) == 1:
            _collect(found, fitting[0], [GAP, *items, GAP])  # its neighbours are unknown
    return found


def _orphan_roots(pf: PageFile, skip: set[int]) -> list[int]:
    """B-tree pages not reached from a known root whose parent is not among them either."""
    pages: dict[int, Page] = {}
    for number in range(2, pf.pages + 1):
        if number not in skip:
            try:
                pages[number] = pf.page(number)
            except Unreadable:
                continue
    children: set[int] = set()
    for page in pages.values():
        if page.kind in (TABLE_INTERIOR, INDEX_INTERIOR):
            children.add(page.right)
            raw = pf.raw(page.number)
            children.update(_int(raw, o, 4) for o in page.cells if o + 4 <= len(raw))
    return [n for n in pages if n not in children]


def _collect(found: Salvage, table: Table, items: list[Item]) -> None:
    rows: list[dict[str, Any] | None] = [
        table.row(i[0], i[1]) if i is not None and table.holds(i) else GAP for i in items
    ]
    if table.without_rowid:
        found.sequences[table.name].append(rows)
    else:
        found.rows[table.name].extend(r for r in rows if r is not None)
