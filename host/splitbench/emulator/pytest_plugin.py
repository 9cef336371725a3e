"""pytest fixture ``adb_emulator``: a started :class:`AdbEmulator` with one phone.

Register with ``pytest_plugins = ["splitbench.emulator.pytest_plugin"]`` in a conftest.
The device serial is :data:`SERIAL`; the root is the test's ``tmp_path``; the server listens on
a free port of 127.0.0.1 and is stopped (commands killed, sandbox gone) after the test. Its
commands run as Android's shell user (uid 2000) where the machine allows it (as root); a test
that needs the device's root starts its own ``AdbEmulator`` with
``EmulatedDeviceSpec(serial, root=True)``. Pids the phone reports are its own PID namespace's:
``adb_emulator.device(SERIAL).sandbox.host_pid(pid)`` is the host pid of one.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from splitbench.emulator.device import DEFAULT_SERIAL, EmulatedDeviceSpec
from splitbench.emulator.server import AdbEmulator

SERIAL = DEFAULT_SERIAL


@pytest.fixture
def adb_emulator(tmp_path: Path) -> Iterator[AdbEmulator]:
    with AdbEmulator(port=0, devices=[EmulatedDeviceSpec(SERIAL)], root=tmp_path / "emu") as emu:
        yield emu
