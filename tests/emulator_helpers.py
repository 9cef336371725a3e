"""Small helpers shared by the emulated-phone tests."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import adbutils
from splitbench.emulator import AdbEmulator


def client(emu: AdbEmulator) -> adbutils.AdbClient:
    return adbutils.AdbClient(host="127.0.0.1", port=emu.port)


def wait_until(predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
    """Poll ``predicate`` until it holds or ``timeout`` seconds pass; its last answer."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def gone(pid: int) -> bool:
    """True when the process no longer exists or is a zombie (dead for our purpose)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0] == "Z"
