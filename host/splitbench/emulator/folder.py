"""The folder of the emulated phones' files (their ``/system``, ``/sys``, mount points).

Why new or empty only: the emulator creates a directory per phone and removes it when it
stops; in a folder that already holds things (``--root /etc``) it would mix its own with
them. Stopping leaves the folder as it was found: a given empty folder stays empty, a folder
the emulator made (a temporary one, or missing parents of the given path) is removed, also
when start-up fails.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from splitbench.emulator.device import EmulatorInputError


def check_folder(path: Path) -> None:
    """Refuse, in one line, a path that is not a new or empty folder."""
    if not (path.exists() or path.is_symlink()):
        return
    why = None
    if not path.is_dir():
        why = "it is not a folder"
    elif any(path.iterdir()):
        why = "it is not empty (give a new or empty folder: what the emulator puts there goes "
        why += "when it stops)"
    if why:
        raise EmulatorInputError(f"cannot keep the emulated phones' files in {path}: {why}")


class PhonesFolder:
    """Where the phones' directories go; :meth:`clear` removes what :meth:`make` created."""

    def __init__(self, given: Path | None) -> None:
        if given is not None:
            check_folder(given)
        self.given = given
        self._made: Path | None = None  # the topmost directory this object created

    def make(self) -> Path:
        """The folder, created if needed (a temporary one when none was given)."""
        if self.given is None:
            self._made = Path(tempfile.mkdtemp(prefix="sbemu-"))
            return self._made
        check_folder(self.given)
        path = self.given.absolute()
        self._made = next((p for p in [*reversed(path.parents), path] if not p.exists()), None)
        path.mkdir(parents=True, exist_ok=True)
        return path

    def clear(self, names: list[str]) -> None:
        """Remove the phones' directories ``names`` and every directory :meth:`make` made."""
        if self.given is not None:
            for name in names:
                shutil.rmtree(self.given.absolute() / name, ignore_errors=True)
        if self._made is not None:
            shutil.rmtree(self._made, ignore_errors=True)
            self._made = None
