"""Host services: what the adb *server* answers itself (``host:...``, ``host-serial:S:...``).

Why separate from the server loop: these are pure request → reply functions over the device
registry, so their formats (OKAY/FAIL, ``%04x`` lengths, the ``devices -l`` columns, the
8-byte transport id of ``tport``) can be read and checked in one place. Error texts are the
real server's: ``device 'S' not found``, ``no devices/emulators found``,
``more than one device/emulator``, ``device offline``, ``device unauthorized. ...``.
"""

from __future__ import annotations

import re
import struct
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass

from splitbench.emulator import wire
from splitbench.emulator.device import FEATURES, EmulatedDevice

#: Version of the adb server protocol we speak (adb 1.0.41: platform-tools 29 and later).
#: The real ``adb`` client restarts a server whose version differs from its own.
SERVER_VERSION = 41


@dataclass(frozen=True)
class HostReply:
    """Bytes to send; if ``device`` is set, the connection now talks to that device."""

    data: bytes
    device: EmulatedDevice | None = None


@dataclass(frozen=True)
class Target:
    """Which device a request is for: by serial, by transport id, or (neither) the only one."""

    serial: str | None = None
    transport_id: int | None = None


class Registry:
    """The emulated devices of one server, looked up the way the real server does."""

    def __init__(self, devices: Iterable[EmulatedDevice]) -> None:
        self._devices = {d.serial: d for d in devices}

    def all(self) -> list[EmulatedDevice]:
        return list(self._devices.values())

    def get(self, serial: str) -> EmulatedDevice | None:
        return self._devices.get(serial)

    def listed(self) -> list[EmulatedDevice]:
        """Devices ``adb devices`` shows (plugged in, whatever their state)."""
        return [d for d in self._devices.values() if d.present]

    def acquire(self, target: Target, any_state: bool = False) -> tuple[EmulatedDevice | None, str]:
        """One device for a service, or the real server's error message."""
        listed = self.listed()
        if target.serial is not None:
            found = [d for d in listed if d.serial == target.serial]
            if not found:
                return None, f"device '{target.serial}' not found"
        elif target.transport_id is not None:
            found = [d for d in listed if d.transport_id == target.transport_id]
            if not found:
                return None, f"no device with transport id '{target.transport_id}'"
        else:
            found = listed
            if not found:
                return None, "no devices/emulators found"
            if len(found) > 1:
                return None, "more than one device/emulator"
        device = found[0]
        error = device.transport_error()
        if error and not (any_state and device.state == "offline"):
            return None, error
        return device, ""


def is_host_request(request: str) -> bool:
    return request.startswith(
        ("host:", "host-serial:", "host-transport-id:", "host-usb:", "host-local:")
    )


def _split_target(request: str, registry: Registry) -> tuple[Target, str]:
    """Separate the prefix's target from the service (serials may contain ':')."""
    if request.startswith("host-serial:"):
        rest = request[len("host-serial:") :]
        for serial in sorted((d.serial for d in registry.all()), key=len, reverse=True):
            if rest.startswith(serial + ":"):
                return Target(serial=serial), rest[len(serial) + 1 :]
        serial, _, service = rest.rpartition(":")
        return Target(serial=serial), service
    if request.startswith("host-transport-id:"):
        tid, _, service = request[len("host-transport-id:") :].partition(":")
        return Target(transport_id=int(tid) if tid.isdigit() else -1), service
    return Target(), request.partition(":")[2]


def handle(request: str, registry: Registry, stop: threading.Event) -> HostReply:
    """Answer one host request."""
    target, service = _split_target(request, registry)
    if service == "version":
        return HostReply(wire.okay(f"{SERVER_VERSION:04x}"))
    if service in ("devices", "devices-l"):
        return HostReply(wire.okay(device_list(registry.listed(), service == "devices-l")))
    if service == "kill":
        return HostReply(wire.OKAY)  # the emulator is stopped by its owner, not by clients
    if service == "host-features":
        return HostReply(wire.okay(",".join(FEATURES)))
    if service in ("list-forward", "reverse:list-forward"):
        return HostReply(wire.okay(""))
    if service.startswith(("transport", "tport:")):
        return _transport(service, registry)
    if service.startswith("wait-for-"):
        return _wait_for(target, service, registry, stop)
    if service in ("features", "get-state", "get-serialno", "get-devpath"):
        device, error = registry.acquire(target, any_state=service == "get-state")
        if device is None:
            return HostReply(wire.fail(error))
        answer = {
            "features": device.features(),
            "get-state": device.state,
            "get-serialno": device.serial,
            "get-devpath": "unknown",
        }[service]
        return HostReply(wire.okay(answer))
    return HostReply(wire.fail(f"unknown host service '{service}'"))


def device_list(devices: list[EmulatedDevice], long: bool) -> str:
    """The text of ``host:devices`` / ``host:devices-l``, column for column as adb prints it."""
    lines = []
    for d in devices:
        if not long:
            lines.append(f"{d.serial}\t{d.state}\n")
            continue
        line = f"{d.serial:<22} {d.state}"
        if d.state == "device":
            line += f" product:{d.profile.product} model:{_sanitize(d.profile.model)}"
            line += f" device:{d.profile.device}"
        lines.append(f"{line} transport_id:{d.transport_id}\n")
    return "".join(lines)


def _sanitize(value: str) -> str:
    """adb replaces every character that is not alphanumeric in the model name with '_'."""
    return re.sub(r"[^A-Za-z0-9]", "_", value)


def _transport(service: str, registry: Registry) -> HostReply:
    """``transport:S``, ``transport-id:N``, ``transport-{any,usb,local}`` reply OKAY;
    ``tport:{serial:S,id:N,any,usb,local}`` reply OKAY + the 8-byte transport id."""
    tport = service.startswith("tport:")
    if tport:
        selector = service[len("tport:") :]
    elif service.startswith("transport:"):
        selector = "serial:" + service[len("transport:") :]
    elif service.startswith("transport-id:"):
        selector = "id:" + service[len("transport-id:") :]
    else:
        selector = service[len("transport-") :]
    if selector.startswith("serial:"):
        target = Target(serial=selector[len("serial:") :])
    elif selector.startswith("id:"):
        tid = selector[len("id:") :]
        target = Target(transport_id=int(tid) if tid.isdigit() else -1)
    elif selector in ("any", "usb", "local"):
        target = Target()
    else:
        return HostReply(wire.fail(f"unknown host service '{service}'"))
    device, error = registry.acquire(target)
    if device is None:
        return HostReply(wire.fail(error))
    reply = wire.OKAY + (struct.pack("<Q", device.transport_id) if tport else b"")
    return HostReply(reply, device=device)


def _wait_for(
    target: Target, service: str, registry: Registry, stop: threading.Event, timeout: float = 60.0
) -> HostReply:
    """``wait-for-<transport>-<state>``: OKAY, then OKAY again once the device is there."""
    wanted = service.rsplit("-", 1)[-1]
    deadline = time.monotonic() + timeout
    while not stop.is_set() and time.monotonic() < deadline:
        device, _error = registry.acquire(target, any_state=True)
        if wanted == "disconnect" and device is None:
            return HostReply(wire.OKAY + wire.OKAY)
        if device is not None and device.state == wanted:
            return HostReply(wire.OKAY + wire.OKAY)
        time.sleep(0.1)
    return HostReply(wire.fail("timeout expired while waiting for device"))
