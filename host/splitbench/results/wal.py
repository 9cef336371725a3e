"""The committed pages of a SQLite write-ahead log (https://www.sqlite.org/fileformat2.html#walformat).

The doctor reads a damaged database's pages itself (:mod:`splitbench.results.pages`); rows
committed since the last checkpoint live only in the ``-wal`` file, and SQLite does not move them
into a file it finds malformed. A frame counts only when its salts and its running checksum are
right and a commit frame follows it; the newest committed copy of each page wins.
"""

from __future__ import annotations

import struct

MAGIC = (0x377F0682, 0x377F0683)  # the low bit: checksums of big-endian words
HEADER_BYTES = 32
FRAME_HEADER_BYTES = 24


def _checksum(data: bytes, big_endian: bool, s0: int, s1: int) -> tuple[int, int]:
    words = struct.unpack(f"{'>' if big_endian else '<'}{len(data) // 4}I", data)
    for i in range(0, len(words), 2):
        s0 = (s0 + words[i] + s1) & 0xFFFFFFFF
        s1 = (s1 + words[i + 1] + s0) & 0xFFFFFFFF
    return s0, s1


def committed_pages(wal: bytes) -> dict[int, bytes]:
    """Page number -> the page as of the last complete transaction in ``wal`` ({} if none)."""
    if len(wal) < HEADER_BYTES:
        return {}
    magic, _, page_size, _, salt1, salt2, c0, c1 = struct.unpack(">8I", wal[:HEADER_BYTES])
    if magic not in MAGIC or page_size < 512 or page_size & (page_size - 1):
        return {}
    big = bool(magic & 1)
    s = _checksum(wal[:24], big, 0, 0)
    if s != (c0, c1):
        return {}
    pages: dict[int, bytes] = {}
    pending: dict[int, bytes] = {}
    at = HEADER_BYTES
    while at + FRAME_HEADER_BYTES + page_size <= len(wal):
        head = wal[at : at + FRAME_HEADER_BYTES]
        number, commit, f1, f2, c0, c1 = struct.unpack(">6I", head)
        page = wal[at + FRAME_HEADER_BYTES : at + FRAME_HEADER_BYTES + page_size]
        s = _checksum(page, big, *_checksum(head[:8], big, *s))
        if (f1, f2) != (salt1, salt2) or s != (c0, c1) or number == 0:
            break
        pending[number] = page
        if commit:
            pages.update(pending)
            pending = {}
        at += FRAME_HEADER_BYTES + page_size
    return pages
