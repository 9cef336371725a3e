"""An emulated Android phone behind a real adb server protocol, for CI and for users without a
phone. ``adbutils`` and Debian's ``adb`` CLI talk to it as to a real server.

The boundary: the server listens on 127.0.0.1 only and, like adb, has no authentication, so any
local user can use its phones. Their shell commands and pushes run for real, but inside a
per-device sandbox (:mod:`splitbench.emulator.sandbox`): the host is visible read-only and
only where the device needs it (system directories, the kit's interpreter and packages, see
:mod:`splitbench.emulator.hostview`), the device's own ``/data``, ``/sdcard``, ``/system``,
``/sys`` and ``/proc`` are the rest, its processes see no others (a PID namespace per phone),
and commands run as Android's ``shell`` user (uid 2000, a host id range of each phone's own)
when the emulator runs as root. Nothing a command does changes the host's files; the network
is shared with the host.
"""

from splitbench.emulator.device import DEFAULT_SERIAL, EmulatedDevice, EmulatedDeviceSpec
from splitbench.emulator.profile import DeviceProfile, host_abi
from splitbench.emulator.server import AdbEmulator, run_emulator

__all__ = [
    "DEFAULT_SERIAL",
    "AdbEmulator",
    "DeviceProfile",
    "EmulatedDevice",
    "EmulatedDeviceSpec",
    "host_abi",
    "run_emulator",
]
