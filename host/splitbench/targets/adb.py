"""Phones as targets: the one wrapper around ``adbutils`` and the adb target built on it.

Nothing else in the kit talks to adb. Two layers live here:

* :class:`Phone` — one device behind an adb server: shell commands with a *total* deadline (not
  adbutils' per-read socket timeout, which a chatty process never trips), sync push/pull/list on
  adbutils' connections, and the translation of every adb failure into one
  :class:`~splitbench.errors.DeviceError` line (unplugged, unauthorised, offline, full).
  adbutils' own client would start a real ``adb`` server when it cannot connect; this one never
  does, so a wrong port is a clear error instead of a surprise server on 5037.
* :class:`AdbTarget` — the :class:`~splitbench.targets.base.Target` a sweep uses: uploads by
  content hash, the phone-side ``runner.sh`` over a batch of parts in one adb call, evidence files
  pulled into the run directory, the ``benchmark_model`` parsers, and per-part failures (crash,
  hang) as ``PartMeasurement.error`` while failures of the phone itself raise.

Every path the kit writes or deletes on the phone goes through :class:`DeviceDir`, which refuses
anything outside the kit's device directory.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import os
import posixpath
import re
import shlex
import socket
import stat
import struct
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path
from typing import Literal

import adbutils
from adbutils import AdbConnection, AdbError
from adbutils.errors import AdbConnectionError, AdbTimeout

from splitbench.errors import DeviceError, SplitbenchError
from splitbench.measure.types import PartMeasurement, RunSettings
from splitbench.targets.base import TargetInfo
from splitbench.targets.binaries import (
    APP_PACKAGE,
    BatchOutcome,
    PartFiles,
    app_run_text,
    app_start_command,
    benchmark_flags,
    check_binary_abi,
    file_sha256,
    kit_launcher_script,
    measurement_from_stdout,
    official_binary_hint,
    parse_meta,
    part_measurement,
    read_elf_arch,
    settings_hash,
)
from splitbench.targets.device_info import DeviceFacts, collect_facts, parse_df_free

DEFAULT_PORT = 5037
DEFAULT_DEVICE_DIR = "/data/local/tmp/splitbench"
RunnerChoice = Literal["auto", "benchmark_model", "kit", "app"]

_SYNC_CHUNK = 64 * 1024  # adb's SYNC_DATA_MAX
_SHORT = 30.0  # seconds allowed to quick commands (getprop, mkdir, df, kill)
_V1_EXIT = "SPLITBENCH_EXIT:"
_QUICKACK: int | None = getattr(socket, "TCP_QUICKACK", None)  # Linux only


def adb_server_port(adb_port: int | None = None) -> int:
    """``adb_port``, else ``$ANDROID_ADB_SERVER_PORT``, else 5037 — how adb itself finds it."""
    if adb_port:
        return adb_port
    env = os.environ.get("ANDROID_ADB_SERVER_PORT", "").strip()
    if env:
        try:
            return int(env)
        except ValueError:
            raise DeviceError(f"ANDROID_ADB_SERVER_PORT={env!r} is not a port number") from None
    return DEFAULT_PORT


# -- adb server connection -----------------------------------------------------------------------


class _Connection(AdbConnection):
    """An adbutils connection that never spawns ``adb start-server`` when nobody answers."""

    def _safe_connect(self) -> socket.socket:
        return self._create_socket()


class _Client(adbutils.AdbClient):
    def make_connection(self, timeout: float | None = None) -> AdbConnection:
        try:
            conn = _Connection(self.host, self.port)
        except (AdbTimeout, AdbConnectionError, OSError) as exc:
            raise _ServerGone(str(exc)) from exc
        conn.conn.settimeout(timeout or _SHORT)  # a server that accepts but never answers
        return conn


class _ServerGone(Exception):
    """Nothing answers on the adb server port."""


class RemoteTimeout(Exception):
    """A remote command passed its deadline; its connection was closed and its process killed."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"timed out after {seconds:g} s")
        self.seconds = seconds


class _Lost(Exception):
    """The connection broke in the middle of an operation."""


class _SyncFailed(Exception):
    """The phone answered a sync request with FAIL and this message."""


def _no_server(host: str, port: int) -> DeviceError:
    return DeviceError(
        f"no adb server answers on {host}:{port} — start it with `adb start-server` (or "
        "`adb -P PORT start-server`), set ANDROID_ADB_SERVER_PORT / --adb-port, or run "
        "`splitbench emulator start`"
    )


def _client(port: int | None, host: str) -> _Client:
    return _Client(host=host, port=adb_server_port(port))


@dataclass(frozen=True)
class DeviceEntry:
    """One line of ``adb devices``."""

    serial: str
    state: str


def list_entries(adb_port: int | None = None, host: str = "127.0.0.1") -> list[DeviceEntry]:
    """Every device the adb server knows, whatever its state."""
    client = _client(adb_port, host)
    try:
        return [DeviceEntry(d.serial, d.state) for d in client.list()]
    except _ServerGone:
        raise _no_server(host, client.port) from None
    except (AdbError, OSError) as exc:
        raise DeviceError(f"the adb server on {host}:{client.port} failed: {exc}") from None


def resolve_serials(
    spec: Sequence[str], adb_port: int | None = None, host: str = "127.0.0.1"
) -> list[str]:
    """Turn ``adb:SERIAL`` (repeatable), ``adb`` (the one connected phone) and ``all`` (every
    connected phone) into serials. ``adb`` with zero or several phones is an error listing them;
    so is a named phone that is unauthorised or offline."""
    entries = list_entries(adb_port, host)
    ready = [e.serial for e in entries if e.state == "device"]
    listing = ", ".join(f"{e.serial} ({e.state})" for e in entries) or "none"
    out: list[str] = []
    for item in spec:
        if item in ("all", "adb:all"):
            if not ready:
                raise DeviceError(f"--clients all: no phone is ready (adb sees: {listing})")
            out += ready
        elif item == "adb":
            if len(ready) != 1:
                raise DeviceError(
                    f"--client adb needs exactly one connected phone, found {len(ready)} "
                    f"(adb sees: {listing}); name one with --client adb:SERIAL"
                )
            out += ready
        elif item.startswith("adb:") and item[4:]:
            serial = item[4:]
            entry = next((e for e in entries if e.serial == serial), None)
            if entry is None:
                raise DeviceError(f"no phone {serial} is connected (adb sees: {listing})")
            if entry.state != "device":
                raise _state_error(serial, entry.state)
            out.append(serial)
        else:
            raise DeviceError(f"unknown phone spec '{item}': use adb, adb:SERIAL or all")
    return list(dict.fromkeys(out))


def _state_error(serial: str, state: str) -> DeviceError:
    if state == "unauthorized":
        return DeviceError(
            f"phone {serial} is unauthorised: accept the USB debugging prompt on the phone "
            "(tick 'Always allow from this computer'), then rerun"
        )
    if state == "offline":
        return DeviceError(
            f"phone {serial} is offline: replug the USB cable (or run `adb reconnect offline`), "
            "then rerun"
        )
    return DeviceError(f"phone {serial} is in state '{state}', not ready for commands")


# -- paths on the phone --------------------------------------------------------------------------


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


# -- one phone -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ShellResult:
    returncode: int
    stdout: bytes
    stderr: bytes

    @property
    def text(self) -> str:
        return self.stdout.decode("utf-8", errors="replace")

    @property
    def error_text(self) -> str:
        return (self.stderr or self.stdout).decode("utf-8", errors="replace").strip()


class Phone:
    """One device behind an adb server (thin, adbutils-style): ``shell``, ``push``, ``pull``.

    ``in_sweep`` marks that the phone answered before, so a later loss is reported as "unplugged
    during the sweep" (with the resume hint) rather than "not connected".
    """

    def __init__(
        self,
        serial: str,
        *,
        adb_port: int | None = None,
        host: str = "127.0.0.1",
        shell_v2: bool | None = None,
    ):
        self.serial = serial
        self.host = host
        self.client = _client(adb_port, host)
        self.in_sweep = False
        self._device = adbutils.AdbDevice(self.client, serial=serial)
        # None: use shell protocol v2 (exit status, separate stderr) when the phone lists it
        # (Android 7+); False forces v1, whose exit status comes from an echo after the command
        self._v2: bool | None = shell_v2

    # errors ---------------------------------------------------------------------------------

    def _state(self) -> str | None:
        """The phone's state as the server lists it now; None when absent."""
        try:
            for info in self.client.list():
                if info.serial == self.serial:
                    return info.state
        except (_ServerGone, AdbError, OSError):
            raise _no_server(self.host, self.client.port) from None
        return None

    def translate(self, exc: BaseException, doing: str) -> DeviceError:
        """One line for any failure of adb, the connection or the phone."""
        if isinstance(exc, DeviceError):
            return exc
        if isinstance(exc, _ServerGone):
            return _no_server(self.host, self.client.port)
        state = self._state()
        if state is not None and state != "device":
            return _state_error(self.serial, state)
        if state is None:
            if self.in_sweep:
                return DeviceError(
                    f"phone {self.serial} disconnected during the sweep; finished measurements "
                    "are saved — rerun the same command to resume"
                )
            return DeviceError(f"no phone {self.serial} is connected ({doing})")
        if isinstance(exc, _Lost | EOFError | ConnectionError):
            return DeviceError(
                f"the connection to phone {self.serial} broke while {doing} (the phone is still "
                "listed); finished measurements are saved — rerun the same command to resume"
            )
        return DeviceError(f"phone {self.serial}: {doing} failed: {_one_line(exc)}")

    @contextlib.contextmanager
    def _errors(self, doing: str) -> Iterator[None]:
        try:
            yield
        except (RemoteTimeout, _SyncFailed, DeviceError):
            raise
        except (AdbError, OSError, EOFError, _Lost, _ServerGone) as exc:
            raise self.translate(exc, doing) from None

    def _transport(self, timeout: float) -> AdbConnection:
        conn = self._device.open_transport(timeout=timeout)
        with contextlib.suppress(OSError):  # small sync frames go out at once, not after an ACK
            conn.conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.in_sweep = True
        return conn

    @property
    def shell_v2(self) -> bool:
        if self._v2 is None:
            with self._errors("reading adb features"):
                self._v2 = "shell_v2" in self._device.get_features().split(",")
        return self._v2

    # shell ------------------------------------------------------------------------------------

    def shell(self, command: str, timeout: float = _SHORT, kill: str | None = None) -> ShellResult:
        """Run ``command`` with a total deadline of ``timeout`` seconds.

        On the deadline the connection is closed (adbd then ends the session) and, if given,
        ``kill`` — a command that kills what ``command`` started, e.g. from its pid file — is run;
        then :class:`RemoteTimeout` is raised.
        """
        deadline = time.monotonic() + timeout
        with self._errors(f"running {command.split()[0] if command else 'shell'}"):
            v2 = self.shell_v2
            conn = self._transport(timeout)
            try:
                # v1 has no exit status: a child shell runs the command (so its `exit` or a
                # signal ends only that shell) and the status is echoed after it
                service = (
                    f"shell,v2,raw:{command}"
                    if v2
                    else f"shell:sh -c {shlex.quote(command)}; echo {_V1_EXIT}$?"
                )
                conn.send_command(service)
                conn.check_okay()
                reader = _Reader(conn.conn, deadline)
                result = _read_v2(reader) if v2 else _read_v1(reader)
            except RemoteTimeout:
                conn.close()
                if kill:
                    with contextlib.suppress(DeviceError, RemoteTimeout):
                        self.shell(kill, timeout=_SHORT)
                raise RemoteTimeout(timeout) from None
            finally:
                conn.close()
        return result

    def check_shell(self, command: str, doing: str, timeout: float = _SHORT) -> str:
        """Run a command that must succeed; its stdout, or a one-line :class:`DeviceError`."""
        try:
            result = self.shell(command, timeout=timeout)
        except RemoteTimeout:
            raise DeviceError(
                f"phone {self.serial} did not answer within {timeout:g} s while {doing}"
            ) from None
        if result.returncode != 0:
            detail = result.error_text.splitlines()[-1:] or [f"exit status {result.returncode}"]
            raise DeviceError(f"phone {self.serial}: {doing} failed: {detail[0]}")
        return result.text

    # sync -------------------------------------------------------------------------------------

    @contextlib.contextmanager
    def sync(self, timeout: float, doing: str) -> Iterator[_Sync]:
        """One ``sync:`` session (several requests, one adb command)."""
        with self._errors(doing):
            conn = self._transport(timeout)
            try:
                conn.send_command("sync:")
                conn.check_okay()
                session = _Sync(conn.conn, time.monotonic() + timeout, timeout)
                yield session
                session.quit()
            except RemoteTimeout:
                raise DeviceError(
                    f"phone {self.serial} stopped answering while {doing} ({timeout:g} s)"
                ) from None
            finally:
                conn.close()

    def stat(self, path: str) -> tuple[int, int] | None:
        """(mode, size) of a remote path, or None when it does not exist."""
        with self.sync(_SHORT, f"checking {path}") as s:
            return s.stat(path)

    def push(self, data: bytes | Path, remote: str, mode: int = 0o644) -> int:
        """Upload ``data`` to ``remote``; returns the bytes sent. A full phone raises a
        :class:`DeviceError` naming the free space."""
        size = len(data) if isinstance(data, bytes) else data.stat().st_size
        timeout = 60.0 + size / 2e6  # generous for USB 2.0 and adb over Wi-Fi
        try:
            with self.sync(timeout, f"pushing {posixpath.basename(remote)}") as s:
                return s.send(data, remote, mode)
        except _SyncFailed as exc:
            message = str(exc)
            if "No space left" in message or "ENOSPC" in message:
                raise self._no_space(remote, size) from None
            raise DeviceError(f"phone {self.serial} refused {remote}: {_one_line(exc)}") from None

    def _no_space(self, remote: str, size: int) -> DeviceError:
        parent = posixpath.dirname(remote)
        free = "unknown"
        with contextlib.suppress(DeviceError, RemoteTimeout):
            out = self.shell(f"df -k {shlex.quote(parent)}").text
            value = parse_df_free(out)
            free = f"{value} bytes" if value is not None else free
        return DeviceError(
            f"no space left on phone {self.serial}: pushing {posixpath.basename(remote)} "
            f"({size} bytes) failed with {free} free in {parent} — free some space and rerun"
        )

    def pull_dir(self, remote_dir: str, timeout: float = 120.0) -> dict[str, bytes]:
        """Every regular file directly in ``remote_dir`` (empty when the directory is absent)."""
        with self.sync(timeout, f"pulling {remote_dir}") as s:
            names = [n for n, mode in s.list(remote_dir) if stat.S_ISREG(mode)]
            return {name: s.recv(posixpath.join(remote_dir, name)) for name in names}


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(a) for a in exc.args if a) if exc.args else type(exc).__name__
    return " ".join(text.split()) or type(exc).__name__


class _Reader:
    """Reads from a socket against one overall deadline."""

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        self.sock = sock
        self.deadline = deadline

    def recv(self, n: int) -> bytes:
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise RemoteTimeout(0)
        self.sock.settimeout(remaining)
        if _QUICKACK is not None:  # ack at once: a server's Nagle then never waits for us
            with contextlib.suppress(OSError):
                self.sock.setsockopt(socket.IPPROTO_TCP, _QUICKACK, 1)
        try:
            return self.sock.recv(n)
        except TimeoutError:
            raise RemoteTimeout(0) from None

    def exact(self, n: int) -> bytes:
        chunks: list[bytes] = []
        while n:
            chunk = self.recv(min(n, 1 << 20))
            if not chunk:
                raise _Lost("connection closed")
            chunks.append(chunk)
            n -= len(chunk)
        return b"".join(chunks)

    def send(self, data: bytes) -> None:
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise RemoteTimeout(0)
        self.sock.settimeout(remaining)
        try:
            self.sock.sendall(data)
        except TimeoutError:
            raise RemoteTimeout(0) from None


def _read_v2(reader: _Reader) -> ShellResult:
    out, err = bytearray(), bytearray()
    while True:
        packet_id, length = struct.unpack("<BI", reader.exact(5))
        data = reader.exact(length) if length else b""
        if packet_id == 1:
            out += data
        elif packet_id == 2:
            err += data
        elif packet_id == 3:
            return ShellResult(data[0] if data else 255, bytes(out), bytes(err))


def _read_v1(reader: _Reader) -> ShellResult:
    buf = bytearray()
    while chunk := reader.recv(65536):
        buf += chunk
    marker = buf.rfind(_V1_EXIT.encode())
    if marker < 0:
        raise _Lost("shell ended without its exit status")
    code = int(bytes(buf[marker + len(_V1_EXIT) :]).strip() or b"255")
    return ShellResult(code, bytes(buf[:marker]), b"")


class _Sync:
    """The requests of one sync session (adb's file_sync_protocol)."""

    def __init__(self, sock: socket.socket, deadline: float, timeout: float) -> None:
        self.io = _Reader(sock, deadline)
        self.timeout = timeout

    def _request(self, cmd: bytes, path: str) -> None:
        raw = path.encode("utf-8")
        self.io.send(cmd + struct.pack("<I", len(raw)) + raw)

    def _fail_message(self, length: int) -> str:
        return self.io.exact(length).decode("utf-8", errors="replace")

    def stat(self, path: str) -> tuple[int, int] | None:
        self._request(b"STAT", path)
        reply = self.io.exact(16)
        if reply[:4] != b"STAT":
            raise _Lost(f"unexpected sync reply {reply[:4]!r}")
        mode, size, _mtime = struct.unpack("<III", reply[4:])
        return None if mode == 0 else (mode, size)

    def list(self, path: str) -> list[tuple[str, int]]:
        self._request(b"LIST", path)
        entries: list[tuple[str, int]] = []
        while True:
            head = self.io.exact(20)
            if head[:4] == b"DONE":
                return entries
            if head[:4] != b"DENT":
                raise _Lost(f"unexpected sync reply {head[:4]!r}")
            mode, _size, _mtime, namelen = struct.unpack("<IIII", head[4:])
            name = self.io.exact(namelen).decode("utf-8", errors="surrogateescape")
            if name not in (".", ".."):
                entries.append((name, mode))

    def send(self, data: bytes | Path, remote: str, mode: int) -> int:
        self._request(b"SEND", f"{remote},{stat.S_IFREG | mode}")
        sent = 0
        try:
            with contextlib.ExitStack() as stack:
                src = stack.enter_context(data.open("rb")) if isinstance(data, Path) else None
                view = memoryview(data) if isinstance(data, bytes) else None
                while True:
                    if src is not None:
                        chunk = src.read(_SYNC_CHUNK)
                    else:
                        assert view is not None
                        chunk = bytes(view[sent : sent + _SYNC_CHUNK])
                    if not chunk:
                        break
                    self.io.send(b"DATA" + struct.pack("<I", len(chunk)) + chunk)
                    sent += len(chunk)
                self.io.send(b"DONE" + struct.pack("<I", int(time.time())))
        except (BrokenPipeError, ConnectionResetError):
            pass  # the phone gave up early (e.g. full): its FAIL is still waiting to be read
        reply, length = struct.unpack("<4sI", self.io.exact(8))
        if reply == b"FAIL":
            raise _SyncFailed(self._fail_message(length))
        if reply != b"OKAY":
            raise _Lost(f"unexpected sync reply {reply!r}")
        return sent

    def recv(self, path: str) -> bytes:
        self._request(b"RECV", path)
        buf = bytearray()
        while True:
            frame, length = struct.unpack("<4sI", self.io.exact(8))
            if frame == b"DATA":
                buf += self.io.exact(length)
            elif frame == b"DONE":
                return bytes(buf)
            elif frame == b"FAIL":
                raise _SyncFailed(self._fail_message(length))
            else:
                raise _Lost(f"unexpected sync reply {frame!r}")

    def quit(self) -> None:
        with contextlib.suppress(OSError, RemoteTimeout):
            self.io.send(b"QUIT" + struct.pack("<I", 0))


# -- devices listing -----------------------------------------------------------------------------


def list_devices(
    adb_port: int | None = None,
    host: str = "127.0.0.1",
    device_dir: str = DEFAULT_DEVICE_DIR,
) -> list[DeviceFacts]:
    """Facts about every phone the adb server lists (``splitbench devices``). A phone that is
    unauthorised or offline is listed with its state and nothing else."""
    facts: list[DeviceFacts] = []
    for entry in list_entries(adb_port, host):
        if entry.state != "device":
            facts.append(DeviceFacts(serial=entry.serial, state=entry.state, device_dir=device_dir))
            continue
        phone = Phone(entry.serial, adb_port=adb_port, host=host)
        facts.append(read_facts(phone, device_dir))
    return facts


def read_facts(phone: Phone, device_dir: str) -> DeviceFacts:
    def run(script: str) -> str:
        try:
            return phone.shell(script, timeout=_SHORT).text
        except RemoteTimeout:
            raise DeviceError(
                f"phone {phone.serial} did not answer within {_SHORT:g} s while reading its facts"
            ) from None

    return collect_facts(run, phone.serial, device_dir)


# -- the target ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Runner:
    """What runs a part on the phone, once prepared."""

    kind: str  # "benchmark_model", "kit" or "app"
    command: tuple[str, ...]  # remote argv before the per-part flags (empty for the app)
    label: str  # how errors name it
    runtime: str  # PartMeasurement.runtime / TargetInfo.runtime
    profile_csv: bool  # the runner writes --profiling_output_csv_file


@dataclass(frozen=True)
class _Part:
    local: Path
    sha: str
    remote: str
    name: str  # file stem on the phone and in the evidence directory


def _runner_script() -> bytes:
    return resources.files("splitbench_device").joinpath("runner.sh").read_bytes()


def _safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", text)


class AdbTarget:
    """A phone (or the emulated phone) as a measurement target.

    The runner is chosen once per target: ``benchmark_model`` when a binary is given, the kit's
    own runner on the emulated phone, the official benchmark app on a phone that has it, else a
    :class:`DeviceError` saying where to get TensorFlow's prebuilt binary.

    After a run, ``bytes_pushed`` counts every byte uploaded by this target and ``warnings``
    lists conditions that make timings unstable (charging, battery saver, screen on).
    """

    kind = "adb"

    def __init__(
        self,
        serial: str | None,
        *,
        adb_port: int | None = None,
        host: str = "127.0.0.1",
        device_dir: str = DEFAULT_DEVICE_DIR,
        benchmark_binary: Path | None = None,
        runner: RunnerChoice = "auto",
        run_dir: Path,
        timeout_s: float = 600.0,
        cooldown_temp_c: float | None = None,
        cooldown_max_wait_s: float = 120.0,
        affinity_mask: str | None = None,
    ) -> None:
        if runner not in ("auto", "benchmark_model", "kit", "app"):
            raise SplitbenchError(f"unknown runner {runner!r}: auto, benchmark_model, kit, app")
        if affinity_mask is not None and not re.fullmatch(r"(0x)?[0-9a-fA-F]+", affinity_mask):
            raise SplitbenchError(f"CPU affinity mask {affinity_mask!r} is not a hex mask")
        if benchmark_binary is not None:
            read_elf_arch(Path(benchmark_binary))  # missing or not ELF: fail before any adb
        if serial is None:
            serial = resolve_serials(["adb"], adb_port, host)[0]
        self.serial = serial
        self.name = f"adb:{serial}"
        self.dirs = DeviceDir(device_dir)
        self.binary = Path(benchmark_binary) if benchmark_binary is not None else None
        self.runner_choice: RunnerChoice = runner
        self.run_dir = Path(run_dir).absolute()  # evidence paths stay valid from any cwd
        self.timeout_s = float(timeout_s)
        self.cooldown_temp_c = cooldown_temp_c
        self.cooldown_max_wait_s = cooldown_max_wait_s
        self.affinity_mask = affinity_mask
        self.phone = Phone(serial, adb_port=adb_port, host=host)
        self.bytes_pushed = 0
        self.warnings: list[str] = []
        self._facts: DeviceFacts | None = None
        self._runner: _Runner | None = None
        self._runner_path: str | None = None
        self._ready_dirs = False

    # Target protocol --------------------------------------------------------------------------

    def facts(self) -> DeviceFacts:
        if self._facts is None:
            self._facts = read_facts(self.phone, self.dirs.root)
            self.warnings = list(dict.fromkeys([*self.warnings, *self._facts.warnings()]))
        return self._facts

    def describe(self) -> TargetInfo:
        facts = self.facts()
        extra = facts.as_extra()
        extra["runner"] = self._runner.kind if self._runner else self._planned_runner(facts)
        if self.warnings:
            extra["warnings"] = " | ".join(self.warnings)
        if self.affinity_mask:
            extra["affinity_mask"] = self.affinity_mask
        runtime = self._runner.runtime if self._runner else self._planned_runtime(extra["runner"])
        return TargetInfo(
            name=self.name,
            kind=self.kind,
            cpu_model=facts.soc or "unknown",
            cores=len(facts.cores),
            runtime=runtime,
            extra=extra,
        )

    def measure(self, part: Path, settings: RunSettings) -> PartMeasurement:
        return self.measure_batch([part], settings)[0]

    def close(self) -> None:
        """Nothing stays open between commands; uploaded parts stay on the phone for reuse."""

    # batch ------------------------------------------------------------------------------------

    def measure_batch(self, parts: Sequence[Path], settings: RunSettings) -> list[PartMeasurement]:
        """Measure several parts with one runner call (one adb round trip for the runs)."""
        runner = self._prepare()
        if runner.kind == "app":
            return [self._measure_app(self._upload(p, settings), settings) for p in parts]
        staged = [self._upload(p, settings) for p in parts]
        batch = self.dirs.path("runs", uuid.uuid4().hex[:12])
        out_dir = posixpath.join(batch, "out")
        listing = "".join(f"{p.name} {p.remote}\n" for p in staged).encode()
        self._push(listing, posixpath.join(batch, "parts.list"))
        command = self._runner_command(
            runner, out_dir, posixpath.join(batch, "parts.list"), settings
        )
        per_part = self.timeout_s + (
            self.cooldown_max_wait_s if self.cooldown_temp_c is not None else 0.0
        )
        budget = len(staged) * (per_part + 3.0) + 5.0  # + the runner's own bookkeeping
        timed_out = False
        status: int | None = None
        try:
            status = self.phone.shell(
                command, timeout=budget, kill=self._kill_command(out_dir)
            ).returncode
        except RemoteTimeout:
            timed_out = True
        files = self.phone.pull_dir(out_dir)
        outcome = BatchOutcome(status=status, timed_out_after=budget if timed_out else None)
        results = [self._result(p, files, settings, runner, outcome) for p in staged]
        with contextlib.suppress(DeviceError, RemoteTimeout):
            self.phone.shell(self.dirs.remove_command(batch))
        return results

    # preparation ------------------------------------------------------------------------------

    def _planned_runner(self, facts: DeviceFacts) -> str:
        if self.runner_choice != "auto":
            return self.runner_choice
        if self.binary is not None:
            return "benchmark_model"
        return "kit" if facts.emulated else "benchmark_model or app"

    def _planned_runtime(self, kind: str) -> str:
        """The runtime string measurements will carry, known before anything is pushed."""
        if kind == "benchmark_model" and self.binary is not None:
            return f"benchmark_model sha256:{file_sha256(self.binary)[:16]}"
        if kind == "kit":
            from splitbench.measure.litert_runner import runtime_version

            return f"splitbench kit runner ({runtime_version()})"
        if kind == "app":
            return f"{APP_PACKAGE} app"
        return kind

    def _prepare(self) -> _Runner:
        if self._runner is not None:
            return self._runner
        facts = self.facts()
        kind = self.runner_choice
        if kind == "auto":
            if self.binary is not None:
                kind = "benchmark_model"
            elif facts.emulated:
                kind = "kit"
            elif self._app_installed():
                kind = "app"
            else:
                raise DeviceError(
                    f"phone {self.serial} needs TensorFlow Lite's benchmark_model: download "
                    f"{official_binary_hint(facts.abi)} and pass --benchmark-binary PATH (or "
                    f"install the benchmark app {APP_PACKAGE})"
                )
        self._ensure_dirs()
        if kind == "benchmark_model":
            runner = self._prepare_binary(facts)
        elif kind == "kit":
            runner = self._prepare_kit(facts)
        else:
            runner = self._prepare_app(facts)
        self._runner_path = self._push_named(_runner_script(), "bin", "runner.sh", 0o755)
        self._runner = runner
        return runner

    def _ensure_dirs(self) -> None:
        if not self._ready_dirs:
            dirs = " ".join(shlex.quote(self.dirs.path(d)) for d in ("parts", "bin", "runs"))
            self.phone.check_shell(f"mkdir -p {dirs}", "creating the kit's directory")
            self._ready_dirs = True

    def _prepare_binary(self, facts: DeviceFacts) -> _Runner:
        if self.binary is None:
            raise DeviceError(
                f"the benchmark_model runner needs --benchmark-binary PATH: download "
                f"{official_binary_hint(facts.abi)}"
            )
        check_binary_abi(self.binary, list(facts.abilist), self.serial)
        sha = file_sha256(self.binary)
        remote = self._push_named(self.binary, "bin", "benchmark_model", 0o755, sha=sha)
        self.phone.check_shell(
            f"chmod 755 {shlex.quote(remote)}", "making benchmark_model executable"
        )
        return _Runner(
            "benchmark_model",
            (remote,),
            "benchmark_model",
            self._planned_runtime("benchmark_model"),
            profile_csv=True,
        )

    def _prepare_kit(self, facts: DeviceFacts) -> _Runner:
        if not facts.emulated:
            raise DeviceError(
                f"phone {self.serial} is a real phone: the kit runner only runs on the emulated "
                f"phone; use {official_binary_hint(facts.abi)} with --benchmark-binary"
            )
        script = kit_launcher_script(sys.executable).encode()
        remote = self._push_named(script, "bin", "kit_benchmark_model.sh", 0o755)
        return _Runner(
            "kit",
            ("sh", remote),
            "kit benchmark runner",
            self._planned_runtime("kit"),
            profile_csv=True,
        )

    def _app_installed(self) -> bool:
        try:
            out = self.phone.shell(f"pm list packages {APP_PACKAGE}").text
        except RemoteTimeout:
            return False
        return f"package:{APP_PACKAGE}" in out.split()

    def _prepare_app(self, facts: DeviceFacts) -> _Runner:
        if not self._app_installed():
            raise DeviceError(
                f"the TensorFlow Lite benchmark app ({APP_PACKAGE}) is not installed on phone "
                f"{self.serial}: install it with `adb install -r -d -g "
                "android_aarch64_benchmark_model.apk` (TensorFlow's nightly prebuilt APK) or "
                "pass --benchmark-binary"
            )
        return _Runner("app", (), "benchmark app", self._planned_runtime("app"), profile_csv=False)

    # uploads ----------------------------------------------------------------------------------

    def _push(self, data: bytes | Path, remote: str, mode: int = 0o644) -> int:
        sent = self.phone.push(data, self.dirs.check(remote), mode)
        self.bytes_pushed += sent
        return sent

    def _push_named(
        self, data: bytes | Path, folder: str, name: str, mode: int, sha: str | None = None
    ) -> str:
        """Upload under ``<folder>/<sha16>-<name>`` unless a file of that name and size is
        already there: content-addressed, so nothing is pushed twice."""
        if sha is None:
            sha = hashlib.sha256(data if isinstance(data, bytes) else data.read_bytes()).hexdigest()
        size = len(data) if isinstance(data, bytes) else data.stat().st_size
        remote = self.dirs.path(folder, f"{sha[:16]}-{name}")
        found = self.phone.stat(remote)
        if found is None or found[1] != size:
            self._push(data, remote, mode)
        return remote

    def upload_part(self, part: Path) -> tuple[str, int]:
        """Put a model file on the phone as ``parts/<sha256[:16]>.tflite``; returns (remote
        path, bytes sent) — 0 bytes when a file of that name and size is already there."""
        _sha, remote, sent = self._stage(part)
        return remote, sent

    def _stage(self, part: Path) -> tuple[str, str, int]:
        if not part.is_file():
            raise SplitbenchError(f"part file {part} does not exist")
        self._ensure_dirs()
        sha = file_sha256(part)
        remote = self.dirs.path("parts", f"{sha[:16]}.tflite")
        found = self.phone.stat(remote)
        sent = 0
        if found is None or found[1] != part.stat().st_size:
            sent = self._push(part, remote)
        return sha, remote, sent

    def _upload(self, part: Path, settings: RunSettings) -> _Part:
        sha, remote, _sent = self._stage(part)
        return _Part(part, sha, remote, f"{sha[:16]}-{settings_hash(settings)}")

    # running ----------------------------------------------------------------------------------

    def _runner_command(
        self, runner: _Runner, out_dir: str, listing: str, settings: RunSettings
    ) -> str:
        assert self._runner_path is not None
        args = [
            "sh",
            self._runner_path,
            "-o",
            out_dir,
            "-l",
            listing,
            "-x",
            str(math.ceil(self.timeout_s)),
        ]
        if self.cooldown_temp_c is not None:
            args += [
                "-c",
                str(round(self.cooldown_temp_c * 1000)),
                "-w",
                str(math.ceil(self.cooldown_max_wait_s)),
            ]
        if self.affinity_mask:
            args += ["-a", self.affinity_mask]
        if runner.profile_csv:
            args.append("-P")
        args += ["--", *runner.command, *benchmark_flags(settings)]
        return shlex.join(args)

    def _kill_command(self, out_dir: str) -> str:
        """Kill the runner (its process group and pid) first, so it starts nothing new, then
        the part it was running. Reads only the kit's own pid files."""
        runner_pid = shlex.quote(posixpath.join(out_dir, "runner.pid"))
        child_pid = shlex.quote(posixpath.join(out_dir, "child.pid"))
        return (
            f"if [ -f {runner_pid} ]; then read -r p g < {runner_pid};"
            ' [ -n "$g" ] && [ "$g" -gt 1 ] && kill -9 -"$g" 2>/dev/null;'
            ' [ -n "$p" ] && kill -9 "$p" 2>/dev/null; fi;'
            f" if [ -f {child_pid} ]; then read -r c < {child_pid};"
            ' [ -n "$c" ] && kill -9 "$c" 2>/dev/null; fi; true'
        )

    def _evidence_dir(self) -> Path:
        path = self.run_dir / "evidence" / _safe_name(self.name)
        path.mkdir(parents=True, exist_ok=True)
        return path

    def _result(
        self,
        part: _Part,
        files: dict[str, bytes],
        settings: RunSettings,
        runner: _Runner,
        outcome: BatchOutcome,
    ) -> PartMeasurement:
        """Keep the runner's files as evidence and turn them into the part's record."""
        evidence_dir = self._evidence_dir()
        evidence: list[str] = []
        for suffix in ("stdout", "csv", "meta"):
            data = files.get(f"{part.name}.{suffix}")
            if data is not None:
                path = evidence_dir / f"{part.name}.{suffix}"
                path.write_bytes(data)
                evidence.append(str(path))
        run = PartFiles.from_files(part.name, files)
        run.meta.update(
            {
                "runner": runner.kind,
                "part_sha256": part.sha,
                "serial": self.serial,
                "runner_exit_status": outcome.describe(),
            }
        )
        measured = part_measurement(
            run, settings, runner.label, runner.runtime, outcome, math.ceil(self.timeout_s)
        )
        return replace(measured, evidence=evidence)

    # the benchmark app ------------------------------------------------------------------------

    def _measure_app(self, part: _Part, settings: RunSettings) -> PartMeasurement:
        runner = self._prepare()
        meta = {"runner": "app", "part_sha256": part.sha, "serial": self.serial}
        meta.update(self._state("before"))
        since = self.phone.check_shell("date '+%m-%d %H:%M:%S.000'", "reading the clock").strip()
        self.phone.check_shell(
            app_start_command(part.remote, settings), "starting the benchmark app"
        )
        deadline = time.monotonic() + self.timeout_s
        logcat = f"logcat -d -v threadtime -T {shlex.quote(since)} -s tflite"
        previous = None
        text: str | None = None
        while time.monotonic() < deadline:
            dump = self.phone.shell(logcat, timeout=_SHORT).text
            text = app_run_text(dump)
            if text is not None and dump == previous:
                break  # finished and quiet for one poll: the op tables are complete
            previous = dump
            time.sleep(1.0)
        else:
            with contextlib.suppress(DeviceError, RemoteTimeout):
                self.phone.shell(f"am force-stop {APP_PACKAGE}")
            return PartMeasurement(
                method="benchmark_model",
                runtime=runner.runtime,
                settings=settings,
                meta=meta,
                error=f"timed out after {math.ceil(self.timeout_s)} s",
            )
        meta.update(self._state("after"))
        path = self._evidence_dir() / f"{part.name}.stdout"
        path.write_text(text or "")
        measured = measurement_from_stdout(text or "", 0, settings, runner.label, runner.runtime)
        return replace(measured, evidence=[str(path)], meta=meta)

    def _state(self, prefix: str) -> dict[str, str]:
        """The phone's state (temperature, frequencies, battery) via ``runner.sh -m``."""
        assert self._runner_path is not None
        command = shlex.join(["sh", self._runner_path, "-m", prefix])
        return parse_meta(self.phone.check_shell(command, "reading the phone's state"))
