"""An emulated Android phone behind a real adb server protocol, for CI and for users without a
phone. ``adbutils`` and Debian's ``adb`` CLI talk to it as to a real server; shell commands run
for real on this host in a per-device sandbox (see :mod:`splitbench.emulator.sandbox`)."""

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
