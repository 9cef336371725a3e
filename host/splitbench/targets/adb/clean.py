"""``splitbench clean``: remove what the kit left on a phone, and nothing else.

Only the kit's own folders inside its device directory are removed (``parts/``, ``bin/``,
``runs/``), each through :class:`DeviceDir` (which refuses any path outside the directory);
``rm -rf`` does not follow symbolic links, so a link inside them pointing elsewhere is removed,
not what it points to. The directory itself goes only when it is then empty (``rmdir``), so a
file a user put there by hand survives.
"""

from __future__ import annotations

import shlex
import stat
from dataclasses import dataclass

from splitbench.targets.adb.devicedir import DeviceDir
from splitbench.targets.adb.phone import Phone
from splitbench.targets.adb.pool import PhoneRef
from splitbench.targets.adb.server import SERVER_TIMEOUT

KIT_FOLDERS = ("parts", "bin", "runs")


@dataclass(frozen=True)
class Cleaned:
    name: str
    device_dir: str
    files: int
    bytes: int
    dir_removed: bool


def clean_phone(ref: PhoneRef, device_dir: str, server_timeout: float = SERVER_TIMEOUT) -> Cleaned:
    """Remove the kit's folders on one phone; what they held (files directly in ``parts/`` and
    ``bin/``, plus leftover run folders)."""
    dirs = DeviceDir(device_dir)
    phone = Phone(
        ref.serial, server=ref.server, qualified=ref.qualified, server_timeout=server_timeout
    )
    files = held = 0
    for folder in KIT_FOLDERS:
        for _name, mode, size, _mtime in phone.list_dir(dirs.path(folder)):
            files += 1
            held += size if stat.S_ISREG(mode) else 0
    removals = " && ".join(dirs.remove_command(dirs.path(f)) for f in KIT_FOLDERS)
    phone.check_shell(removals, f"removing the kit's files in {dirs.root}")
    root = shlex.quote(dirs.root)
    gone = phone.shell(f"rmdir {root} 2>/dev/null; [ ! -e {root} ]").returncode == 0
    return Cleaned(ref.name, dirs.root, files, held, gone)
