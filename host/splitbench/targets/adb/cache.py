"""What the kit uploads to a phone: a content-hash cache inside the kit's device directory,
bounded in size, least recently used first out.

Parts go to ``parts/<sha256[:16]>.tflite``, the runner and binaries to
``bin/<sha16>-<name>``; a file of that name and size already on the phone is reused, so a rerun
pushes nothing twice while the cache holds it. The cache is bounded (``--device-cache-mb``):
before a push would pass the bound, the least recently used files are removed (never one the
current batch needs). "Used" is the file's mtime on the phone: a push sets it, and every batch
touches the parts it runs, so the order survives between runs and between hosts. Every byte sent
is counted (``bytes_pushed``), so a sweep can say what it cost the link.
"""

from __future__ import annotations

import hashlib
import posixpath
import shlex
import stat
import time
from dataclasses import dataclass
from pathlib import Path

from splitbench.errors import DeviceError, SplitbenchError
from splitbench.targets.adb.devicedir import DeviceDir
from splitbench.targets.adb.phone import Phone, PhoneFull
from splitbench.targets.binaries import file_sha256
from splitbench.units import MB, mb_text

CACHE_FOLDERS = ("parts", "bin")
DEFAULT_CACHE_MB = 512.0


@dataclass
class _Entry:
    size: int
    used: float  # last use, seconds since the epoch (the file's mtime on the phone)


def mb(n: int) -> str:
    return mb_text(n)


class UploadCache:
    """Content-addressed uploads into the kit's device directory on one phone, bounded by
    ``limit_bytes`` (None: unbounded)."""

    def __init__(
        self,
        phone: Phone,
        dirs: DeviceDir,
        limit_bytes: int | None = int(DEFAULT_CACHE_MB * MB),
        clean_hint: str = "",
    ) -> None:
        if limit_bytes is not None and limit_bytes <= 0:
            raise SplitbenchError("--device-cache-mb must be more than 0")
        self.phone = phone
        self.dirs = dirs
        self.limit = limit_bytes
        self.clean_hint = clean_hint  # e.g. "splitbench clean adb:SERIAL"
        self.bytes_pushed = 0
        self.evicted: list[str] = []
        self._index: dict[str, _Entry] | None = None
        self.pinned: set[str] = set()  # needed by the current batch or runner: never evicted

    # what is there -----------------------------------------------------------------------------

    def index(self) -> dict[str, _Entry]:
        """Every cached file on the phone (read once, then kept up to date here)."""
        if self._index is None:
            self._index = {}
            for folder in CACHE_FOLDERS:
                root = self.dirs.path(folder)
                for name, mode, size, mtime in self.phone.list_dir(root):
                    if stat.S_ISREG(mode):
                        self._index[posixpath.join(root, name)] = _Entry(size, float(mtime))
        return self._index

    def held_bytes(self) -> int:
        return sum(e.size for e in self.index().values())

    def touch(self, remotes: list[str]) -> None:
        """Mark files used now (here; the caller touches them on the phone)."""
        now = time.time()
        for remote in remotes:
            entry = self.index().get(remote)
            if entry is not None:
                entry.used = now

    def touch_command(self, remotes: list[str]) -> str:
        """A shell prefix that sets the files' mtime on the phone (LRU order across runs)."""
        self.touch(remotes)
        paths = " ".join(shlex.quote(self.dirs.check(r)) for r in remotes)
        return f"touch -c {paths} 2>/dev/null; " if paths else ""

    # room ------------------------------------------------------------------------------------

    def _bound(self) -> str:
        """The bound as the user gave it in MB (the bytes were rounded down from it)."""
        return f"{round((self.limit or 0) / MB, 4):g}"

    def _evict(self, needed: int, keep: set[str], budget: int | None) -> None:
        """Remove least recently used files until ``needed`` more bytes fit in ``budget``
        (the bound, or what the phone has free)."""
        index = self.index()
        held = sum(e.size for e in index.values())
        if budget is None or held + needed <= budget:
            return
        victims: list[str] = []
        for remote, entry in sorted(index.items(), key=lambda item: item[1].used):
            if held + needed <= budget:
                break
            if remote in keep or remote in self.pinned:
                continue
            victims.append(remote)
            held -= entry.size
        if victims:
            command = "rm -f " + " ".join(shlex.quote(self.dirs.check(v)) for v in victims)
            self.phone.check_shell(command, "removing least recently used parts")
            for victim in victims:
                del index[victim]
            self.evicted += victims

    def _make_room(self, remote: str, size: int) -> None:
        if self.limit is None:
            return
        if size > self.limit:
            raise DeviceError(
                f"{posixpath.basename(remote)} ({mb(size)}) is larger than the phone cache "
                f"bound --device-cache-mb {self._bound()}: raise --device-cache-mb"
            )
        self._evict(size, {remote}, self.limit)
        held = self.held_bytes()
        if held + size > self.limit:
            raise DeviceError(
                f"the parts this batch needs on phone {self.phone.who} ({mb(held + size)}) do "
                f"not fit in --device-cache-mb {self._bound()}: raise --device-cache-mb"
            )

    # pushing -----------------------------------------------------------------------------------

    def push(self, data: bytes | Path, remote: str, mode: int = 0o644) -> int:
        """Upload ``data`` to ``remote`` (inside the device directory). A full phone first gives
        back what the cache can spare; if that is not enough, one line says how much the kit
        holds there and how to clean it."""
        remote = self.dirs.check(remote)
        try:
            sent = self.phone.push(data, remote, mode)
        except PhoneFull as full:
            size = full.size
            spare = sum(
                e.size for r, e in self.index().items() if r not in self.pinned and r != remote
            )
            if self._index is None or spare < size:
                raise self._full(full) from None
            self._evict(size, {remote}, self.held_bytes() - spare + size)
            try:
                sent = self.phone.push(data, remote, mode)
            except PhoneFull as again:
                raise self._full(again) from None
        self.bytes_pushed += sent
        if posixpath.dirname(posixpath.dirname(remote)) == self.dirs.root:
            self.index()[remote] = _Entry(sent, time.time())
        return sent

    def _full(self, full: PhoneFull) -> DeviceError:
        held = self.held_bytes() if self._index is not None else None
        holds = f"the kit holds {mb(held)} there" if held is not None else "the kit's share unknown"
        hint = f"; `{self.clean_hint}` removes it" if self.clean_hint else ""
        return DeviceError(f"{full} ({holds} in {self.dirs.root}{hint})")

    def push_named(
        self, data: bytes | Path, folder: str, name: str, mode: int, sha: str | None = None
    ) -> str:
        """Upload under ``<folder>/<sha16>-<name>`` unless a file of that name and size is
        already there: content-addressed, so nothing is pushed twice. The file stays pinned
        (the runner and binaries are needed by every batch)."""
        if sha is None:
            sha = hashlib.sha256(data if isinstance(data, bytes) else data.read_bytes()).hexdigest()
        size = len(data) if isinstance(data, bytes) else data.stat().st_size
        remote = self.dirs.path(folder, f"{sha[:16]}-{name}")
        self._ensure(data, remote, size, mode)
        self.pinned.add(remote)
        return remote

    def stage_part(self, part: Path, keep: set[str] | None = None) -> tuple[str, str, int]:
        """Put a model file on the phone as ``parts/<sha256[:16]>.tflite``; returns (sha256,
        remote path, bytes sent) — 0 bytes when a file of that name and size is there.
        ``keep``: other files of the same batch, never evicted to make room for this one."""
        if not part.is_file():
            raise SplitbenchError(f"part file {part} does not exist")
        sha = file_sha256(part)
        remote = self.dirs.path("parts", f"{sha[:16]}{part.suffix or '.tflite'}")
        self.pinned |= keep or set()
        try:
            sent = self._ensure(part, remote, part.stat().st_size, 0o644)
        finally:
            self.pinned -= keep or set()
        return sha, remote, sent

    def _ensure(self, data: bytes | Path, remote: str, size: int, mode: int) -> int:
        found = self.index().get(remote)
        if found is not None and found.size == size:
            # the index was read once; check the file is still there (another sweep or a
            # `clean` may have removed it) — one sync request, no shell
            there = self.phone.stat(remote)
            if there is not None and there[1] == size:
                found.used = time.time()
                return 0
            del self.index()[remote]
        self._make_room(remote, size)
        return self.push(data, remote, mode)
