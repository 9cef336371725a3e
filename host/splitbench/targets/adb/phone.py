"""One phone behind an adb server: the one wrapper around ``adbutils`` (adbutils-style: ``shell``,
``push``, ``pull``), with a total deadline per command and every adb failure translated into one
:class:`~splitbench.errors.DeviceError` line (unplugged, unauthorised, offline, full)."""

from __future__ import annotations

import contextlib
import posixpath
import shlex
import socket
import stat
import time
from collections.abc import Iterator
from pathlib import Path

import adbutils
from adbutils import AdbConnection, AdbError

from splitbench.errors import DeviceError
from splitbench.targets.adb.devicedir import DEFAULT_DEVICE_DIR
from splitbench.targets.adb.server import (
    SHORT,
    ServerGone,
    list_entries,
    make_client,
    no_server,
    state_error,
)
from splitbench.targets.adb.wire import (
    V1_EXIT,
    Lost,
    Reader,
    RemoteTimeout,
    ShellResult,
    SyncFailed,
    SyncSession,
    one_line,
    read_v1,
    read_v2,
)
from splitbench.targets.device_info import DeviceFacts, collect_facts, parse_df_free


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
        self.client = make_client(adb_port, host)
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
        except (ServerGone, AdbError, OSError):
            raise no_server(self.host, self.client.port) from None
        return None

    def translate(self, exc: BaseException, doing: str) -> DeviceError:
        """One line for any failure of adb, the connection or the phone."""
        if isinstance(exc, DeviceError):
            return exc
        if isinstance(exc, ServerGone):
            return no_server(self.host, self.client.port)
        state = self._state()
        if state is not None and state != "device":
            return state_error(self.serial, state)
        if state is None:
            if self.in_sweep:
                return DeviceError(
                    f"phone {self.serial} disconnected during the sweep; finished measurements "
                    "are saved — rerun the same command to resume"
                )
            return DeviceError(f"no phone {self.serial} is connected ({doing})")
        if isinstance(exc, Lost | EOFError | ConnectionError):
            return DeviceError(
                f"the connection to phone {self.serial} broke while {doing} (the phone is still "
                "listed); finished measurements are saved — rerun the same command to resume"
            )
        return DeviceError(f"phone {self.serial}: {doing} failed: {one_line(exc)}")

    @contextlib.contextmanager
    def _errors(self, doing: str) -> Iterator[None]:
        try:
            yield
        except (RemoteTimeout, SyncFailed, DeviceError):
            raise
        except (AdbError, OSError, EOFError, Lost, ServerGone) as exc:
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

    def shell(self, command: str, timeout: float = SHORT, kill: str | None = None) -> ShellResult:
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
                    else f"shell:sh -c {shlex.quote(command)}; echo {V1_EXIT}$?"
                )
                conn.send_command(service)
                conn.check_okay()
                reader = Reader(conn.conn, deadline)
                result = read_v2(reader) if v2 else read_v1(reader)
            except RemoteTimeout:
                conn.close()
                if kill:
                    with contextlib.suppress(DeviceError, RemoteTimeout):
                        self.shell(kill, timeout=SHORT)
                raise RemoteTimeout(timeout) from None
            finally:
                conn.close()
        return result

    def check_shell(self, command: str, doing: str, timeout: float = SHORT) -> str:
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
    def sync(self, timeout: float, doing: str) -> Iterator[SyncSession]:
        """One ``sync:`` session (several requests, one adb command)."""
        with self._errors(doing):
            conn = self._transport(timeout)
            try:
                conn.send_command("sync:")
                conn.check_okay()
                session = SyncSession(conn.conn, time.monotonic() + timeout, timeout)
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
        with self.sync(SHORT, f"checking {path}") as s:
            return s.stat(path)

    def push(self, data: bytes | Path, remote: str, mode: int = 0o644) -> int:
        """Upload ``data`` to ``remote``; returns the bytes sent. A full phone raises a
        :class:`DeviceError` naming the free space."""
        size = len(data) if isinstance(data, bytes) else data.stat().st_size
        timeout = 60.0 + size / 2e6  # generous for USB 2.0 and adb over Wi-Fi
        try:
            with self.sync(timeout, f"pushing {posixpath.basename(remote)}") as s:
                return s.send(data, remote, mode)
        except SyncFailed as exc:
            message = str(exc)
            if "No space left" in message or "ENOSPC" in message:
                raise self._no_space(remote, size) from None
            raise DeviceError(f"phone {self.serial} refused {remote}: {one_line(exc)}") from None

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
            return phone.shell(script, timeout=SHORT).text
        except RemoteTimeout:
            raise DeviceError(
                f"phone {phone.serial} did not answer within {SHORT:g} s while reading its facts"
            ) from None

    return collect_facts(run, phone.serial, device_dir)
