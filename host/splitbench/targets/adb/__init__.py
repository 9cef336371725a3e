"""Phones as targets over adb. Nothing else in the kit talks to adb.

One concept per module, like adbutils itself:

* :mod:`.server` — which adb server, the phones it lists (``adb:SERIAL`` specs), and a client
  that never starts an adb server of its own.
* :mod:`.wire` — adb's shell and sync protocols under one total deadline.
* :mod:`.phone` — :class:`Phone`, one device: ``shell``, ``push``, ``pull`` and every adb failure
  as one :class:`~splitbench.errors.DeviceError` line.
* :mod:`.devicedir` — :class:`DeviceDir`: every path the kit writes or deletes on the phone goes
  through it, and anything outside the kit's device directory is refused.
* :mod:`.cache` — uploads named by content hash, so nothing is pushed twice.
* :mod:`.target` — :class:`AdbTarget`, the sweep's target: runner choice, batches, evidence.
"""

from splitbench.targets.adb.devicedir import DEFAULT_DEVICE_DIR, DeviceDir
from splitbench.targets.adb.phone import Phone, list_devices, read_facts
from splitbench.targets.adb.server import (
    DEFAULT_PORT,
    DeviceEntry,
    adb_server_port,
    list_entries,
    resolve_serials,
)
from splitbench.targets.adb.target import AdbTarget, RunnerChoice
from splitbench.targets.adb.wire import RemoteTimeout, ShellResult

__all__ = [
    "DEFAULT_DEVICE_DIR",
    "DEFAULT_PORT",
    "AdbTarget",
    "DeviceDir",
    "DeviceEntry",
    "Phone",
    "RemoteTimeout",
    "RunnerChoice",
    "ShellResult",
    "adb_server_port",
    "list_devices",
    "list_entries",
    "read_facts",
    "resolve_serials",
]
