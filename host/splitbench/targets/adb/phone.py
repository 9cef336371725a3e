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
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import adbutils
from adbutils import AdbConnection, AdbError, AdbTimeout

from splitbench.errors import DeviceError
from splitbench.targets.adb.devicedir import DEFAULT_DEVICE_DIR
from splitbench.targets.adb.parallel import map_in_parallel
from splitbench.targets.adb.pool import PhoneRef, show_serial, survey
from splitbench.targets.adb.server import (
    LOCAL_HOST,
    SERVER_TIMEOUT,
    SHORT,
    AdbServer,
    ServerGone,
    adb_server_port,
    server_client,
    server_error,
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


def close_now(conn: AdbConnection) -> None:
    """Close a finished connection at once. adbutils' own ``close()`` sleeps 10 ms after the
    shutdown (20 ms and more on a busy machine): that sleep was most of the host's cost of a
    quick request (a stat: 24 ms with it, 3 ms without, measured on the emulated phone)."""
    with contextlib.suppress(AdbError, OSError):
        conn.conn.close()


class PhoneFull(DeviceError):
    """A push failed because the phone's storage is full."""

    def __init__(self, who: str, remote: str, size: int, free: int | None) -> None:
        self.remote, self.size, self.free = remote, size, free
        shown = "unknown" if free is None else f"{free} bytes"
        super().__init__(
            f"no space left on phone {who}: pushing {posixpath.basename(remote)} ({size} bytes) "
            f"failed with {shown} free in {posixpath.dirname(remote)} — free some space and rerun"
        )


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
        host: str = LOCAL_HOST,
        server: AdbServer | None = None,
        qualified: bool = False,
        shell_v2: bool | None = None,
        server_timeout: float = SERVER_TIMEOUT,
    ):
        self.serial = serial
        if server is None:
            server = AdbServer(host, adb_server_port(adb_port), local=host == LOCAL_HOST)
        self.server = server
        self.host = server.host
        # every request to the server waits at most server_timeout (--adb-timeout); a shell or
        # sync session has its own total deadline on top
        self.client = server_client(server, server_timeout)
        # how lines name the phone: with its server when its serial alone is ambiguous
        self.who = f"{serial} on {server.label}" if qualified else serial
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
        except (ServerGone, AdbError, OSError, EOFError, ValueError) as exc:
            raise self._server_lost(exc) from None
        return None

    def _server_lost(self, exc: BaseException) -> DeviceError:
        """The adb server itself failed: before the sweep, why; during it, the resume hint."""
        if self.in_sweep:
            return DeviceError(
                f"adb server {self.server.label} stopped answering during the sweep, phone "
                f"{self.serial} stopped; finished measurements are saved — rerun the same "
                "command to resume"
            )
        return server_error(self.server, exc, self.client.timeout)

    def translate(self, exc: BaseException, doing: str) -> DeviceError:
        """One line for any failure of adb, the connection or the phone."""
        if isinstance(exc, DeviceError):
            return exc
        if self.client.aborted:  # the command was interrupted: ask the server nothing more
            return DeviceError(f"phone {self.who}: interrupted while {doing}")
        if isinstance(exc, ServerGone):
            return self._server_lost(exc)
        if isinstance(exc, AdbTimeout | TimeoutError):  # asking the state again would stall too
            line = (
                f"phone {self.who}: adb server {self.server.label} did not answer within "
                f"{self.client.timeout:g} s while {doing}"
            )
            if self.in_sweep:
                line += "; finished measurements are saved — rerun the same command to resume"
            return DeviceError(line)
        state = self._state()
        if state is not None and state != "device":
            return state_error(self.who, state)
        if state is None:
            if self.in_sweep:
                return DeviceError(
                    f"phone {self.who} disconnected during the sweep; finished measurements "
                    "are saved — rerun the same command to resume"
                )
            return DeviceError(f"no phone {show_serial(self.who)} is connected ({doing})")
        if isinstance(exc, Lost | EOFError | ConnectionError):
            return DeviceError(
                f"the connection to phone {self.who} broke while {doing} (the phone is still "
                "listed); finished measurements are saved — rerun the same command to resume"
            )
        return DeviceError(f"phone {self.who}: {doing} failed: {one_line(exc)}")

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
                close_now(conn)
                if kill:
                    with contextlib.suppress(DeviceError, RemoteTimeout):
                        self.shell(kill, timeout=SHORT)
                raise RemoteTimeout(timeout) from None
            finally:
                close_now(conn)
        return result

    def check_shell(self, command: str, doing: str, timeout: float = SHORT) -> str:
        """Run a command that must succeed; its stdout, or a one-line :class:`DeviceError`."""
        try:
            result = self.shell(command, timeout=timeout)
        except RemoteTimeout:
            raise DeviceError(
                f"phone {self.who} did not answer within {timeout:g} s while {doing}"
            ) from None
        if result.returncode != 0:
            detail = result.error_text.splitlines()[-1:] or [f"exit status {result.returncode}"]
            raise DeviceError(f"phone {self.who}: {doing} failed: {detail[0]}")
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
                    f"phone {self.who} stopped answering while {doing} ({timeout:g} s)"
                ) from None
            finally:
                close_now(conn)

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
            raise DeviceError(f"phone {self.who} refused {remote}: {one_line(exc)}") from None

    def _no_space(self, remote: str, size: int) -> PhoneFull:
        parent = posixpath.dirname(remote)
        free: int | None = None
        with contextlib.suppress(DeviceError, RemoteTimeout):
            free = parse_df_free(self.shell(f"df -k {shlex.quote(parent)}").text)
        return PhoneFull(self.who, remote, size, free)

    def list_dir(self, remote_dir: str) -> list[tuple[str, int, int, int]]:
        """(name, mode, size, mtime) of every entry of ``remote_dir`` (empty when absent)."""
        with self.sync(SHORT, f"listing {remote_dir}") as s:
            return s.list_stat(remote_dir)

    def pull_dir(self, remote_dir: str, timeout: float = 120.0) -> dict[str, bytes]:
        """Every regular file directly in ``remote_dir`` (empty when the directory is absent)."""
        with self.sync(timeout, f"pulling {remote_dir}") as s:
            names = [n for n, mode in s.list(remote_dir) if stat.S_ISREG(mode)]
            return {name: s.recv(posixpath.join(remote_dir, name)) for name in names}


# -- devices listing -----------------------------------------------------------------------------


def list_devices(
    adb_port: int | None = None,
    host: str = LOCAL_HOST,
    device_dir: str = DEFAULT_DEVICE_DIR,
) -> list[DeviceFacts]:
    """Facts about every phone one adb server lists. A phone that is unauthorised or offline is
    listed with its state and nothing else; a server that does not answer is an error."""
    server = AdbServer(host, adb_server_port(adb_port), local=host == LOCAL_HOST)
    listing = list_pool([server], device_dir)
    if listing.server_errors:
        raise DeviceError(listing.server_errors[0][1])
    for _ref, error in listing.phone_errors:
        raise DeviceError(error)
    return [facts for _ref, facts in listing.phones]


@dataclass
class PoolListing:
    """``splitbench devices`` over several servers: each phone with the server it hangs off,
    one line per server that could not be asked, one per phone whose facts could not be read."""

    phones: list[tuple[PhoneRef, DeviceFacts]] = field(default_factory=list)
    server_errors: list[tuple[AdbServer, str]] = field(default_factory=list)
    phone_errors: list[tuple[PhoneRef, str]] = field(default_factory=list)
    servers_answered: int = 0


def list_pool(
    servers: Sequence[AdbServer],
    device_dir: str = DEFAULT_DEVICE_DIR,
    timeout: float = SERVER_TIMEOUT,
) -> PoolListing:
    """Facts about every phone on every server, read in parallel (a slow remote phone host
    does not hold up the others)."""
    found = survey(servers, timeout)
    listing = PoolListing(
        server_errors=list(found.errors.items()), servers_answered=len(found.entries)
    )
    refs = [
        (found.ref(server, e.serial), e.state)
        for server, entries in found.entries.items()
        for e in entries
    ]

    def read(item: tuple[PhoneRef, str]) -> DeviceFacts | DeviceError:
        ref, state = item
        if state != "device":
            return DeviceFacts(serial=ref.serial, state=state, device_dir=device_dir)
        try:
            phone = Phone(
                ref.serial, server=ref.server, qualified=ref.qualified, server_timeout=timeout
            )
            return read_facts(phone, device_dir)
        except DeviceError as exc:
            return exc

    answers = map_in_parallel(read, refs)
    for (ref, _state), answer in zip(refs, answers, strict=True):
        if isinstance(answer, DeviceError):
            listing.phone_errors.append((ref, str(answer)))
        else:
            listing.phones.append((ref, answer))
    return listing


def read_facts(phone: Phone, device_dir: str) -> DeviceFacts:
    def run(script: str) -> str:
        try:
            return phone.shell(script, timeout=SHORT).text
        except RemoteTimeout:
            raise DeviceError(
                f"phone {phone.who} did not answer within {SHORT:g} s while reading its facts"
            ) from None

    return collect_facts(run, phone.serial, device_dir)
