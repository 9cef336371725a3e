"""The adb server side: which servers, which phones they list, and the client that talks to them.

An adb server is reachable over TCP (``adb -H HOST -P PORT``, ``ADB_SERVER_SOCKET=tcp:HOST:PORT``,
an SSH tunnel), so a phone is a (server, serial) pair. adbutils' own client starts a real ``adb``
server when it cannot connect; the one here never does (not locally, and never on a remote host),
so a wrong address is a clear error instead of a surprise server on 5037.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import threading
import weakref
from collections.abc import Sequence
from dataclasses import dataclass

import adbutils
from adbutils import AdbConnection, AdbError
from adbutils.errors import AdbConnectionError, AdbTimeout

from splitbench.errors import DeviceError, SplitbenchError

DEFAULT_PORT = 5037
LOCAL_HOST = "127.0.0.1"
SHORT = 30.0  # seconds allowed to quick commands (getprop, mkdir, df, kill)
SERVER_TIMEOUT = 10.0  # seconds an adb server may take to answer a host request (host:devices)


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


@dataclass(frozen=True)
class AdbServer:
    """One adb server, reached over TCP. ``local`` marks the one found the standard way."""

    host: str
    port: int
    local: bool = False

    @property
    def label(self) -> str:
        """``HOST:PORT`` (``[v6]:PORT`` for an IPv6 address) — how the kit names the server."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    def __str__(self) -> str:
        return self.label

    @property
    def on_this_host(self) -> bool:
        """Whether the server listens on this machine (``localhost`` or a loopback address)."""
        import ipaddress

        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False


_HOST_PORT = re.compile(
    r"^(?:\[(?P<v6>[0-9A-Fa-f:.]+)\]|(?P<host>[A-Za-z0-9._-]+)):(?P<port>\d{1,5})$"
)


def local_server(adb_port: int | None = None) -> AdbServer:
    """The local server found the way adb finds it: ``--adb-port``, else ``ADB_SERVER_SOCKET``
    (``tcp:HOST:PORT`` or ``tcp:PORT``), else ``ANDROID_ADB_SERVER_PORT``, else 5037."""
    if adb_port:
        return AdbServer(LOCAL_HOST, adb_port, local=True)
    socket_spec = os.environ.get("ADB_SERVER_SOCKET", "").strip()
    if socket_spec:
        rest = socket_spec[4:] if socket_spec.startswith("tcp:") else None
        if rest is not None and rest.isdigit():
            return AdbServer(LOCAL_HOST, _port(rest, "ADB_SERVER_SOCKET"), local=True)
        found = _HOST_PORT.match(rest or "")
        if not found:
            raise DeviceError(f"ADB_SERVER_SOCKET={socket_spec!r} is not tcp:HOST:PORT or tcp:PORT")
        host = found["v6"] or found["host"]
        return AdbServer(host, _port(found["port"], "ADB_SERVER_SOCKET"), local=True)
    return AdbServer(LOCAL_HOST, adb_server_port(), local=True)


def _port(text: str, where: str) -> int:
    port = int(text)
    if not 0 < port < 65536:
        raise SplitbenchError(f"{where}: port {port} is not between 1 and 65535")
    return port


def parse_server(text: str, adb_port: int | None = None) -> AdbServer:
    """``HOST:PORT``, ``[IPv6]:PORT`` or ``local`` (the server found the standard way)."""
    value = text.strip()
    if value == "local":
        return local_server(adb_port)
    found = _HOST_PORT.match(value)
    if not found:
        raise SplitbenchError(
            f"adb server {text!r} is not HOST:PORT (e.g. 127.0.0.1:5037, phones.lab:15037, "
            "[::1]:5037) or 'local'"
        )
    return AdbServer(found["v6"] or found["host"], _port(found["port"], f"adb server {text!r}"))


SERVERS_ENV = "SPLITBENCH_ADB_SERVERS"


def servers_from(options: Sequence[str] | None, adb_port: int | None = None) -> list[AdbServer]:
    """The servers a command asks: ``--adb-server`` values, else ``$SPLITBENCH_ADB_SERVERS``
    (comma-separated), else only the local server. Duplicates are asked once."""
    values = [v for v in (options or []) if v.strip()]
    if not values:
        env = os.environ.get(SERVERS_ENV, "")
        values = [v for v in env.split(",") if v.strip()]
        if env.strip() and not values:
            raise SplitbenchError(f"{SERVERS_ENV}={env!r} names no server")
    if not values:
        return [local_server(adb_port)]
    servers: dict[tuple[str, int], AdbServer] = {}
    for value in values:
        server = parse_server(value, adb_port)
        servers.setdefault((server.host, server.port), server)
    return list(servers.values())


# -- adb server connection -----------------------------------------------------------------------


class Connection(AdbConnection):
    """An adbutils connection that never spawns ``adb start-server`` when nobody answers,
    connects within the server's timeout (adbutils: 3 s whatever was asked), and closes at once:
    adbutils' ``close()`` sleeps 10 ms after the shutdown (20 ms and more on a busy machine),
    which was most of the host's cost of a quick request."""

    def __init__(self, host: str, port: int, timeout: float) -> None:
        self._address, self._timeout = (host, port), timeout
        super().__init__(host, port)

    def _safe_connect(self) -> socket.socket:
        try:
            sock = socket.create_connection(self._address, timeout=self._timeout)
        except TimeoutError:
            raise AdbTimeout("connect to adb server timeout") from None
        except OSError as exc:
            raise AdbConnectionError(f"connect to adb server failed: {exc}") from None
        # adbutils' keepalive: a connection that goes silent is noticed in about 40 s
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        for option, value in (("TCP_KEEPIDLE", 10), ("TCP_KEEPCNT", 3), ("TCP_KEEPINTVL", 10)):
            if hasattr(socket, option):  # Linux
                sock.setsockopt(socket.IPPROTO_TCP, getattr(socket, option), value)
        return sock

    def close(self) -> None:
        with contextlib.suppress(AdbError, OSError):
            self.conn.close()


class Client(adbutils.AdbClient):
    """adbutils' client with no server start, where ``timeout`` bounds every wait for the adb
    server: the connect and each read of a host request (``host:devices``, ``features``,
    ``host:tport``). adbutils passes 600 s to some of them (``get_features``,
    ``open_transport``); a server that lists a phone and then stalls must not hold a command
    for ten minutes. Reads of a shell or sync session set their own total deadline
    (:class:`~splitbench.targets.adb.wire.Reader`)."""

    def __init__(self, host: str, port: int, timeout: float = SHORT) -> None:
        super().__init__(host=host, port=port)
        self.timeout = timeout
        self._version: int | None = None
        self.aborted = False
        self._live: weakref.WeakSet[socket.socket] = weakref.WeakSet()  # connections in use
        self._lock = threading.Lock()

    def server_version(self) -> int:
        """Asked once per client: adbutils asks it before every transport it opens (one more
        connection per shell, push or pull)."""
        if self._version is None:
            self._version = super().server_version()
        return self._version

    def make_connection(self, timeout: float | None = None) -> AdbConnection:
        try:
            conn = Connection(self.host, self.port, self.timeout)
        except (AdbTimeout, AdbConnectionError, OSError) as exc:
            raise ServerGone(str(exc)) from exc
        # a server that accepts but never answers: never longer than the server's timeout
        conn.conn.settimeout(min(timeout, self.timeout) if timeout else self.timeout)
        with self._lock:
            if self.aborted:
                conn.close()
                raise ServerGone("interrupted")
            self._live.add(conn.conn)
        return conn

    def abort(self) -> None:
        """End every request in flight at once and refuse new ones: an interrupted command
        must not wait for a thread blocked on a phone or a silent server (up to a shell's
        deadline). A shut-down socket wakes its reader in any thread."""
        with self._lock:
            self.aborted = True
            live = list(self._live)
        for sock in live:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


class ServerGone(Exception):
    """Nothing answers on the adb server port."""


def no_server(host: str, port: int) -> DeviceError:
    return DeviceError(
        f"no adb server answers on {host}:{port} — start it with `adb start-server` (or "
        "`adb -P PORT start-server`), set ANDROID_ADB_SERVER_PORT / --adb-port, or run "
        "`splitbench emulator start`"
    )


def server_error(server: AdbServer, exc: BaseException, timeout: float) -> DeviceError:
    """One line for an adb server that cannot be used: absent, silent, or another protocol."""
    if isinstance(exc, ServerGone):
        if any(t in str(exc) for t in ("Name or service not known", "name resolution", "nodename")):
            return DeviceError(f"adb server {server.label}: host name {server.host!r} not found")
        if server.local:
            return no_server(server.host, server.port)
        return DeviceError(
            f"adb server {server.label} does not answer (is the machine on, `adb -a nodaemon "
            'server` running there, and the SSH tunnel up? see docs/phones.md, "Phone pool")'
        )
    if isinstance(exc, AdbTimeout | TimeoutError):
        return DeviceError(f"adb server {server.label} did not answer within {timeout:g} s")
    text = str(exc)
    if isinstance(exc, ValueError) or "Unknown data" in text:
        return DeviceError(
            f"{server.label} does not speak the adb protocol ({_one_line(text)}); is that the "
            "adb server's port?"
        )
    if isinstance(exc, EOFError | ConnectionError) or "connection closed" in text:
        return DeviceError(f"adb server {server.label} closed the connection without an answer")
    return DeviceError(f"the adb server on {server.label} failed: {_one_line(text)}")


def _one_line(text: str) -> str:
    return " ".join(text.split())[:120]


def make_client(port: int | None, host: str) -> Client:
    return Client(host=host, port=adb_server_port(port))


def server_client(server: AdbServer, timeout: float = SHORT) -> Client:
    return Client(host=server.host, port=server.port, timeout=timeout)


@dataclass(frozen=True)
class DeviceEntry:
    """One line of ``adb devices``."""

    serial: str
    state: str


def list_entries(
    adb_port: int | None = None,
    host: str = LOCAL_HOST,
    *,
    server: AdbServer | None = None,
    timeout: float = SERVER_TIMEOUT,
) -> list[DeviceEntry]:
    """Every device an adb server knows, whatever its state (``server``, else the one on
    ``host``:``adb_port`` found the standard way)."""
    if server is None:
        server = AdbServer(host, adb_server_port(adb_port), local=host == LOCAL_HOST)
    client = server_client(server, timeout)
    try:
        return [DeviceEntry(d.serial, d.state) for d in client.list()]
    except (ServerGone, AdbError, OSError, EOFError, ValueError) as exc:
        raise server_error(server, exc, timeout) from None


def state_error(serial: str, state: str) -> DeviceError:
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
