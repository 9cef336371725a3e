"""The folder of the emulated phones' files (their ``/system``, ``/sys``, mount points).

Why a new or empty folder only: the emulator creates a directory per phone and removes it when
it stops; in a folder that already holds things (``--root /etc``) it would mix its own with
them. Stopping leaves the folder as it was found: a given empty folder stays empty, a folder
the emulator made (a temporary one, or missing parents of the given path) is removed, also when
start-up fails.

A killed emulator cannot clean up: while it runs, the folder holds :data:`MARKER`, locked
(``flock``) by the emulator and naming the phone directories it made. A later emulator given
the same folder removes those directories when nobody holds the lock (the one that made them
is dead), and refuses the folder while somebody does.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import tempfile
from pathlib import Path

from splitbench.emulator.device import EmulatorInputError

#: Present, and locked, while an emulator uses the folder; lists the phone directories.
MARKER = ".splitbench-emulator"


def _refuse(path: Path, why: str) -> EmulatorInputError:
    return EmulatorInputError(f"cannot keep the emulated phones' files in {path}: {why}")


def _plain(name: str) -> bool:
    return bool(name) and "/" not in name and name not in (".", "..")


def check_folder(path: Path) -> None:
    """Refuse, in one line, a path that is not a new or empty folder (or one an emulator left:
    see :meth:`PhonesFolder.make`)."""
    if not (path.exists() or path.is_symlink()):
        return
    if not path.is_dir():
        raise _refuse(path, "it is not a folder")
    if any(entry.name != MARKER for entry in path.iterdir()) and not (path / MARKER).is_file():
        raise _refuse(
            path,
            "it is not empty (give a new or empty folder: what the emulator puts there goes "
            "when it stops)",
        )


class PhonesFolder:
    """Where the phones' directories go; :meth:`clear` removes what :meth:`make` created."""

    def __init__(self, given: Path | None) -> None:
        if given is not None:
            check_folder(given)
        self.given = given
        self._path: Path | None = None
        self._made: Path | None = None  # the topmost directory this object created
        self._lock: int | None = None

    def make(self, names: list[str]) -> Path:
        """The folder for phone directories ``names``, created if needed (a temporary one when
        none was given), with what a dead emulator left there removed."""
        if self.given is None:
            path = Path(tempfile.mkdtemp(prefix="sbemu-"))
            self._made = path
        else:
            check_folder(self.given)
            path = self.given.absolute()
            self._made = next((p for p in [*reversed(path.parents), path] if not p.exists()), None)
            path.mkdir(parents=True, exist_ok=True)
        lock = os.open(path / MARKER, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(lock)
            raise _refuse(path, "another emulator is using it") from None
        # only now is what is in the folder this object's to remove
        self._path, self._lock = path, lock
        left = os.pread(self._lock, 1 << 16, 0).decode(errors="replace").split()
        for name in left:
            if _plain(name):
                shutil.rmtree(path / name, ignore_errors=True)
        others = sorted(entry.name for entry in path.iterdir() if entry.name != MARKER)
        if others:
            self.clear([])
            raise _refuse(path, f"it holds {others[0]}, which no emulator left there")
        os.ftruncate(self._lock, 0)
        os.pwrite(self._lock, "".join(f"{name}\n" for name in names).encode(), 0)
        return path

    def clear(self, names: list[str]) -> None:
        """Remove the phones' directories ``names``, the marker, and every directory
        :meth:`make` made."""
        path = self._path
        if path is not None:
            for name in names:
                if _plain(name):
                    shutil.rmtree(path / name, ignore_errors=True)
            if self._lock is not None:
                with contextlib.suppress(FileNotFoundError):
                    (path / MARKER).unlink()
        if self._lock is not None:
            os.close(self._lock)
            self._lock = None
        if self._made is not None:
            shutil.rmtree(self._made, ignore_errors=True)
            self._made = None
        self._path = None
