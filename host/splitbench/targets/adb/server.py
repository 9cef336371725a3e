"""The adb server side: which server, which phones it lists, and the client that talks to it.

adbutils' own client starts a real ``adb`` server when it cannot connect; the one here never
does, so a wrong port is a clear error instead of a surprise server on 5037.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Sequence
from dataclasses import dataclass

import adbutils
from adbutils import AdbConnection, AdbError
from adbutils.errors import AdbConnectionError, AdbTimeout

from splitbench.errors import DeviceError

DEFAULT_PORT = 5037
SHORT = 30.0  # seconds allowed to quick commands (getprop, mkdir, df, kill)


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


class Connection(AdbConnection):
    """An adbutils connection that never spawns ``adb start-server`` when nobody answers."""

    def _safe_connect(self) -> socket.socket:
        return self._create_socket()


class Client(adbutils.AdbClient):
    def make_connection(self, timeout: float | None = None) -> AdbConnection:
        try:
            conn = Connection(self.host, self.port)
        except (AdbTimeout, AdbConnectionError, OSError) as exc:
            raise ServerGone(str(exc)) from exc
        conn.conn.settimeout(timeout or SHORT)  # a server that accepts but never answers
        return conn


class ServerGone(Exception):
    """Nothing answers on the adb server port."""


def no_server(host: str, port: int) -> DeviceError:
    return DeviceError(
        f"no adb server answers on {host}:{port} — start it with `adb start-server` (or "
        "`adb -P PORT start-server`), set ANDROID_ADB_SERVER_PORT / --adb-port, or run "
        "`splitbench emulator start`"
    )


def make_client(port: int | None, host: str) -> Client:
    return Client(host=host, port=adb_server_port(port))


@dataclass(frozen=True)
class DeviceEntry:
    """One line of ``adb devices``."""

    serial: str
    state: str


def list_entries(adb_port: int | None = None, host: str = "127.0.0.1") -> list[DeviceEntry]:
    """Every device the adb server knows, whatever its state."""
    client = make_client(adb_port, host)
    try:
        return [DeviceEntry(d.serial, d.state) for d in client.list()]
    except ServerGone:
        raise no_server(host, client.port) from None
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
                raise state_error(serial, entry.state)
            out.append(serial)
        else:
            raise DeviceError(f"unknown phone spec '{item}': use adb, adb:SERIAL or all")
    return list(dict.fromkeys(out))


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
