"""Phones as targets over adb. Nothing else in the kit talks to adb.

One concept per module, like adbutils itself:

* :mod:`.server` — which adb servers (``--adb-server HOST:PORT``, ``local``), what each lists,
  and a client that never starts an adb server of its own.
* :mod:`.pool` — phones over several servers: ``adb:SERIAL`` / ``adb:HOST:PORT/SERIAL`` names,
  the parallel survey of every server, ``all``.
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
from splitbench.targets.adb.pool import (
    PhoneRef,
    Survey,
    file_label,
    parse_phone,
    resolve_phones,
    resolve_serials,
    survey,
)
from splitbench.targets.adb.server import (
    DEFAULT_PORT,
    AdbServer,
    DeviceEntry,
    adb_server_port,
    list_entries,
    local_server,
    parse_server,
    servers_from,
)
from splitbench.targets.adb.target import AdbTarget, RunnerChoice
from splitbench.targets.adb.wire import RemoteTimeout, ShellResult

__all__ = [
    "DEFAULT_DEVICE_DIR",
    "DEFAULT_PORT",
    "AdbServer",
    "AdbTarget",
    "DeviceDir",
    "DeviceEntry",
    "Phone",
    "PhoneRef",
    "RemoteTimeout",
    "RunnerChoice",
    "ShellResult",
    "Survey",
    "adb_server_port",
    "file_label",
    "list_devices",
    "list_entries",
    "local_server",
    "parse_phone",
    "parse_server",
    "read_facts",
    "resolve_phones",
    "resolve_serials",
    "servers_from",
    "survey",
]
