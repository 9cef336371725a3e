"""Part files of a sweep, written once and reused by every bout of their split.

A sweep measures each part in several bouts, one per pass over the splits. Writing a split's
parts again on every pass cost as much as a sixth of an ONNX sweep's wall time (torchvision's
mobilenet_v2: 1.42 GB of parts per pass), and the files would be byte for byte the same: the
parts of split k depend only on the model and k. So a split's parts are written the first time
a bout needs them and kept until the split's last bout has been measured, then deleted (unless
the user keeps parts).

Disk stays bounded: parts are kept only while all kept parts together stay under a budget
(``KEEP_BUDGET_BYTES``, and never more than half of the disk space free when the sweep started);
a split beyond it is written per bout, as before. A kept file is reused only while it is the
file that was written (same size and modification time); otherwise it is written again.

What is measured does not change: every bout still loads its part from the file into a fresh
runtime session (init, first inference and memory are per-bout KPIs).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

from splitbench.splitter import ModelSplitter, PartFiles

KEEP_BUDGET_BYTES = 3 << 30


@dataclass(frozen=True)
class _Stamp:
    """What identifies a written file: reused only while both still match."""

    size: int
    mtime_ns: int


def _stamp(path: Path | None) -> _Stamp | None:
    if path is None:
        return None
    st = path.stat()
    return _Stamp(st.st_size, st.st_mtime_ns)


def _unchanged(path: Path | None, stamp: _Stamp | None) -> bool:
    try:
        return _stamp(path) == stamp
    except OSError:
        return False


@dataclass
class KeptParts:
    """Part files of one sweep's splits, under ``root``, reused across bouts."""

    splitter: ModelSplitter
    root: Path
    keep_files: bool = False  # the user keeps parts (``--keep-parts``): never delete them
    budget_bytes: int = KEEP_BUDGET_BYTES
    writes: int = 0  # splits whose parts were written (each write is a head and a tail)
    _kept: dict[int, tuple[PartFiles, _Stamp | None, _Stamp | None]] = field(default_factory=dict)
    _kept_bytes: int = 0

    def __post_init__(self) -> None:
        existing = next((p for p in (self.root, *self.root.parents) if p.exists()), None)
        try:
            free = shutil.disk_usage(existing).free if existing is not None else 0
        except OSError:
            free = 0
        self.budget_bytes = min(self.budget_bytes, free // 2)

    def files(self, k: int) -> PartFiles:
        """The parts of split ``k``: the kept files when they are unchanged, else written now
        (and kept for the later bouts when the budget allows)."""
        kept = self._kept.get(k)
        if kept is not None:
            files, head, tail = kept
            if _unchanged(files.head_path, head) and _unchanged(files.tail_path, tail):
                return files
            self._forget(k)
        files = self.splitter.write_parts(k, self.root)
        self.writes += 1
        size = files.head_bytes + files.tail_bytes
        if self._kept_bytes + size <= self.budget_bytes:
            self._kept[k] = (files, _stamp(files.head_path), _stamp(files.tail_path))
            self._kept_bytes += size
        return files

    def is_kept(self, k: int) -> bool:
        return k in self._kept

    def release(self, k: int, *, later_bouts: bool) -> None:
        """Split ``k`` is done for this bout. Its files stay when a later bout may reuse them;
        otherwise they go (unless the user keeps parts)."""
        if later_bouts and k in self._kept:
            return
        self._forget(k)
        if not self.keep_files:
            shutil.rmtree(self.splitter.split_dir(self.root, k), ignore_errors=True)

    def _forget(self, k: int) -> None:
        kept = self._kept.pop(k, None)
        if kept is not None:
            self._kept_bytes -= kept[0].head_bytes + kept[0].tail_bytes
