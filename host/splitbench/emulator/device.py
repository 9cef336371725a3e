"""One emulated phone: its spec, its state as adb reports it, and its faults.

Why faults live here: the kit must be tested against every way a phone misbehaves (unplugged
mid-sweep, unauthorised, offline, full, a crashing or hanging benchmark). Each fault is a plain
state of this object, set at start from :class:`EmulatedDeviceSpec` or at run time through the
methods below, and the protocol services only ask the device what to do.

A *command* (for ``fail_after``) is one device service a client opens after choosing the
transport: a ``shell:``/``shell,v2:``/``exec:`` session or a ``sync:`` session (adbutils' push is
two: a STAT and a SEND session). Host queries (``host:devices``, ``features``) do not count.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import re
import signal
import socket
import subprocess
import threading
from dataclasses import dataclass, field
from pathlib import Path

from splitbench.emulator.profile import DeviceProfile, write_profile
from splitbench.emulator.sandbox import Sandbox
from splitbench.errors import SplitbenchError

#: Serial of the emulated phone when none is given (pytest fixture, CLI).
DEFAULT_SERIAL = "sbemu-0001"

#: adb's connection-state names that the emulator can report.
STATES = ("device", "unauthorized", "offline")

#: The real adb server's message when a device has not accepted this host's key.
UNAUTHORIZED_MESSAGE = (
    "device unauthorized.\n"
    "This adb server's $ADB_VENDOR_KEYS is not set\n"
    "Try 'adb kill-server' if that seems wrong.\n"
    "Otherwise check for a confirmation dialog on your device."
)

#: Features this emulator implements (advertised by ``host-serial:S:features``).
FEATURES = ("shell_v2", "stat_v2", "ls_v2", "fixed_push_mkdir")

_transport_ids = itertools.count(1)


class EmulatorInputError(SplitbenchError, ValueError):
    """An emulator setting that cannot work (a serial, a size, a port, a folder): said in one
    line before anything starts."""


@dataclass
class EmulatedDeviceSpec:
    """How an emulated phone starts. ``None`` means "no such fault"."""

    serial: str
    storage_bytes: int | None = None  # size of /data; None: half the host's memory
    fail_after: int | None = None  # unplug when command N+1 is requested
    state: str = "device"  # "device", "unauthorized" or "offline"
    crash_pattern: str | None = None  # regex: matching shell commands die with SIGSEGV (139)
    hang_pattern: str | None = None  # regex: matching shell commands hang until the client leaves
    full_storage: bool = False  # start with /data full
    root: bool = False  # commands and sync run as root of the device (as after ``adb root``)
    profile: DeviceProfile = field(default_factory=DeviceProfile)

    def __post_init__(self) -> None:
        if self.state not in STATES:
            raise ValueError(f"state must be one of {STATES}, not {self.state!r}")
        name = self.serial
        if (
            not name
            or name in (".", "..")
            or any(c.isspace() or c == "/" or not c.isprintable() for c in name)
        ):
            # it names the phone's directory too: nothing that leads elsewhere
            raise EmulatorInputError(
                f"serial {name!r} cannot be an adb serial: no spaces, '/' or control characters"
            )
        if self.storage_bytes is not None and self.storage_bytes <= 0:
            raise EmulatorInputError(
                f"storage of {self.storage_bytes} bytes for the emulated phone's /data: give a "
                "positive number of bytes"
            )
        if self.fail_after is not None and self.fail_after < 0:
            raise EmulatorInputError(
                f"unplug after {self.fail_after} commands: give 0 or more commands"
            )


@dataclass
class _PatternFault:
    pattern: re.Pattern[str]
    remaining: int | None  # None: every matching command

    def take(self, command: str) -> bool:
        if self.remaining == 0 or not self.pattern.search(command):
            return False
        if self.remaining is not None:
            self.remaining -= 1
        return True


class EmulatedDevice:
    """Run-time state of one emulated phone; its public methods are the fault-control API."""

    def __init__(self, spec: EmulatedDeviceSpec, root: Path) -> None:
        self.spec = spec
        self.serial = spec.serial
        self.root = root
        self.profile = spec.profile
        self.transport_id = next(_transport_ids)
        self._lock = threading.Lock()
        self._state = spec.state
        self._present = True
        self._commands = 0
        self._fail_after = spec.fail_after
        self._crash = (
            _PatternFault(re.compile(spec.crash_pattern), None) if spec.crash_pattern else None
        )
        self._hang = (
            _PatternFault(re.compile(spec.hang_pattern), None) if spec.hang_pattern else None
        )
        self._sockets: set[socket.socket] = set()
        self._processes: set[subprocess.Popen[bytes]] = set()
        self.sandbox = Sandbox(root, spec.storage_bytes, as_root=spec.root)
        self._quota = self.sandbox.storage_bytes  # restored when a full-storage fault is lifted

    # -- lifecycle (called by the server) --------------------------------------------------

    def start(self) -> None:
        write_profile(self.root, self.serial, self.profile)
        self.sandbox.start()
        if self.spec.full_storage:
            self.sandbox.fill()

    def stop(self) -> None:
        self._drop_connections()
        self.sandbox.stop()

    # -- what adb reports ------------------------------------------------------------------

    @property
    def present(self) -> bool:
        """False once unplugged: the device is not listed and transports to it fail."""
        return self._present

    @property
    def state(self) -> str:
        return self._state

    @property
    def commands(self) -> int:
        """Device services opened so far (see the module docstring)."""
        return self._commands

    def features(self) -> str:
        return ",".join(FEATURES)

    # -- fault control ---------------------------------------------------------------------

    def unplug(self) -> None:
        """Like pulling the USB cable: the device vanishes and every open connection closes."""
        with self._lock:
            self._present = False
        self._drop_connections()

    def replug(self) -> None:
        """Plug back in (a new transport id, as adb gives); the disconnect counter is cleared."""
        with self._lock:
            self._present = True
            self._fail_after = None
            self._commands = 0
            self.transport_id = next(_transport_ids)

    def set_fail_after(self, commands: int | None) -> None:
        """Unplug when the client asks for command ``commands + 1`` counted from now."""
        with self._lock:
            self._commands = 0
            self._fail_after = commands

    def set_state(self, state: str) -> None:
        """ "device", "unauthorized" or "offline"; leaving "device" closes open connections."""
        if state not in STATES:
            raise ValueError(f"state must be one of {STATES}, not {state!r}")
        with self._lock:
            self._state = state
        if state != "device":
            self._drop_connections()

    def crash_on(self, pattern: str, times: int | None = 1) -> None:
        """Shell commands matching ``pattern`` run, then their shell is killed by SIGSEGV (exit
        status 139, as a crashing binary gives); ``times=None``: every matching command."""
        with self._lock:
            self._crash = _PatternFault(re.compile(pattern), times)

    def hang_on(self, pattern: str, times: int | None = 1) -> None:
        """Shell commands matching ``pattern`` hang (a real ``sleep`` process) until the client
        closes the connection, which kills the process."""
        with self._lock:
            self._hang = _PatternFault(re.compile(pattern), times)

    def clear_faults(self) -> None:
        """Lift crash, hang, disconnect counters and storage fill; state back to "device"."""
        with self._lock:
            self._crash = self._hang = None
            self._fail_after = None
            self._state = "device"
        self.sandbox.set_quota(self._quota)

    def fill_storage(self) -> None:
        """Full-storage fault: ``/data`` keeps what it has and accepts nothing more."""
        self.sandbox.fill()

    def set_storage_bytes(self, size: int) -> None:
        """Resize ``/data`` (the ``--storage-bytes`` quota) at run time."""
        self.sandbox.set_quota(size)
        self._quota = size

    def storage(self) -> tuple[int, int]:
        """(used, total) bytes of ``/data``."""
        return self.sandbox.usage()

    def update_profile(self, **changes: object) -> None:
        """Change readings such as ``cpu_temp_c``, ``battery_level``, ``charging``,
        ``screen_on``; the files read by getprop, dumpsys and /sys change at once."""
        for key, value in changes.items():
            if not hasattr(self.profile, key):
                raise AttributeError(f"DeviceProfile has no field {key!r}")
            setattr(self.profile, key, value)
        write_profile(self.root, self.serial, self.profile)

    def running_pids(self) -> list[int]:
        """Host process ids of shell commands running now, each the leader of its process
        group (to check that kills really happen)."""
        with self._lock:
            launchers = [p.pid for p in self._processes if p.poll() is None]
        pids = [self.sandbox.command_pid(pid) for pid in launchers]
        return [pid for pid in pids if pid is not None]

    # -- used by the services --------------------------------------------------------------

    def transport_error(self) -> str | None:
        """The FAIL message the real server gives when this device cannot take a service."""
        if not self._present:
            return f"device '{self.serial}' not found"
        if self._state == "unauthorized":
            return UNAUTHORIZED_MESSAGE
        if self._state == "offline":
            return "device offline"
        return None

    def begin_command(self) -> bool:
        """Count a device service; False (and the device unplugs) once ``fail_after`` is spent."""
        with self._lock:
            if not self._present:
                return False
            if self._fail_after is not None and self._commands >= self._fail_after:
                unplug = True
            else:
                self._commands += 1
                unplug = False
        if unplug:
            self.unplug()
            return False
        return True

    def shell_fault(self, command: str) -> str | None:
        """ "crash", "hang" or None for this shell command (consumes one use of the fault)."""
        with self._lock:
            if self._hang is not None and self._hang.take(command):
                return "hang"
            if self._crash is not None and self._crash.take(command):
                return "crash"
        return None

    def attach(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.add(sock)

    def detach(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.discard(sock)

    def add_process(self, proc: subprocess.Popen[bytes]) -> None:
        with self._lock:
            self._processes.add(proc)

    def remove_process(self, proc: subprocess.Popen[bytes]) -> None:
        with self._lock:
            self._processes.discard(proc)

    def _drop_connections(self) -> None:
        with self._lock:
            sockets = list(self._sockets)
            procs = list(self._processes)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        for proc in procs:
            self.kill(proc)

    def kill(self, proc: subprocess.Popen[bytes]) -> None:
        """Kill a command and everything it started in its process group (and its launcher,
        when that is a separate process), then reap it."""
        kill_group(proc, self.sandbox.command_pid(proc.pid))


def kill_group(proc: subprocess.Popen[bytes], leader: int | None = None) -> None:
    """Kill ``proc``'s process group and ``leader``'s (if another), then reap ``proc``."""
    if proc.poll() is None:
        for group in (leader, proc.pid):
            if group is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(group, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=5)
