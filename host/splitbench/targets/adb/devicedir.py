"""The kit's directory on the phone, the only place it writes or deletes."""

from __future__ import annotations

import posixpath
import shlex

from splitbench.errors import DeviceError

DEFAULT_DEVICE_DIR = "/data/local/tmp/splitbench"


class DeviceDir:
    """The kit's directory on the phone. Every remote path the kit writes or deletes is made
    here, and anything that would resolve outside it is refused — so a bug or a hostile part
    name can never make the kit delete the user's files."""

    def __init__(self, root: str) -> None:
        norm = posixpath.normpath(root)
        if not root.startswith("/") or norm in ("/", "/data", "/sdcard", "/data/local/tmp"):
            raise DeviceError(
                f"device directory {root!r} must be an absolute path of its own, e.g. "
                f"{DEFAULT_DEVICE_DIR}"
            )
        self.root = norm

    def contains(self, path: str) -> bool:
        norm = posixpath.normpath(path)
        return path.startswith("/") and (norm == self.root or norm.startswith(self.root + "/"))

    def check(self, path: str) -> str:
        """``path`` normalised, or :class:`DeviceError` when it leaves the device directory."""
        if not self.contains(path):
            raise DeviceError(
                f"refusing to touch {path!r} on the phone: outside the kit's directory {self.root}"
            )
        return posixpath.normpath(path)

    def path(self, *parts: str) -> str:
        return self.check(posixpath.join(self.root, *parts))

    def remove_command(self, path: str) -> str:
        """``rm -rf`` of a path inside the device directory (never the directory's parent)."""
        return f"rm -rf {shlex.quote(self.check(path))}"
