"""Phones on several adb servers at once: naming, listing, and choosing them.

adb is already the distributed engine here: every adb server answers over TCP, so a lab's
phones on several machines are one pool of (server, serial) pairs. A phone is named
``adb:SERIAL`` while its serial is unique among the servers asked, and ``adb:HOST:PORT/SERIAL``
otherwise (the short form is then refused with one line naming both). Servers are asked in
parallel, each under its own timeout, and one that does not answer is one line beside the
others' phones, never the end of the listing.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from splitbench.errors import DeviceError
from splitbench.targets.adb.parallel import map_in_parallel
from splitbench.targets.adb.server import (
    LOCAL_HOST,
    SERVER_TIMEOUT,
    AdbServer,
    DeviceEntry,
    adb_server_port,
    list_entries,
    parse_server,
    state_error,
)
from splitbench.targets.base import file_label  # noqa: F401  (re-exported)

_QUALIFIED = re.compile(
    r"^(?P<server>(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+):\d{1,5})/(?P<serial>.+)$"
)


@dataclass(frozen=True)
class PhoneRef:
    """One phone: the server it hangs off and its serial. ``qualified`` names it with its
    server (needed when the serial is on two servers, or when the user wrote it so)."""

    server: AdbServer
    serial: str
    qualified: bool = False

    @property
    def name(self) -> str:
        """The target name: ``adb:SERIAL`` or ``adb:HOST:PORT/SERIAL``."""
        if self.qualified:
            return f"adb:{self.server.label}/{self.serial}"
        return f"adb:{self.serial}"

    @property
    def full_name(self) -> str:
        return f"adb:{self.server.label}/{self.serial}"


def parse_phone(spec: str) -> tuple[AdbServer | None, str]:
    """``adb:SERIAL`` → (None, SERIAL); ``adb:HOST:PORT/SERIAL`` → (server, SERIAL).

    A serial may itself contain ``:`` (adb over TCP: ``192.168.1.5:5555``), so only a
    ``HOST:PORT`` followed by ``/`` names a server."""
    rest = spec[4:] if spec.startswith("adb:") else spec
    found = _QUALIFIED.match(rest)
    if found:
        return parse_server(found["server"]), found["serial"]
    return None, rest


@dataclass
class Survey:
    """What every server listed, and one line per server that could not be asked."""

    entries: dict[AdbServer, list[DeviceEntry]] = field(default_factory=dict)
    errors: dict[AdbServer, str] = field(default_factory=dict)

    def servers_with(self, serial: str) -> list[AdbServer]:
        return [s for s, found in self.entries.items() if any(e.serial == serial for e in found)]

    def ref(self, server: AdbServer, serial: str, qualified: bool = False) -> PhoneRef:
        """The phone's reference, qualified when its serial is on more than one server."""
        return PhoneRef(server, serial, qualified or len(self.servers_with(serial)) > 1)

    def ready(self) -> list[PhoneRef]:
        return [
            self.ref(server, e.serial)
            for server, found in self.entries.items()
            for e in found
            if e.state == "device"
        ]

    def listing(self) -> str:
        """What adb sees, for error lines: ``emu-1 (device) on 127.0.0.1:5037, …``."""
        many = len(self.entries) + len(self.errors) > 1
        parts = [
            f"{e.serial} ({e.state})" + (f" on {server.label}" if many else "")
            for server, found in self.entries.items()
            for e in found
        ]
        parts += [f"{server.label} did not answer" for server in self.errors]
        return ", ".join(parts) or "none"


def survey(servers: Sequence[AdbServer], timeout: float = SERVER_TIMEOUT) -> Survey:
    """Ask every server for its phones, in parallel; one that fails is kept as its error line."""
    result = Survey()
    if not servers:
        return result

    def ask(server: AdbServer) -> list[DeviceEntry] | DeviceError:
        try:
            return list_entries(server=server, timeout=timeout)
        except DeviceError as exc:
            return exc

    answers = map_in_parallel(ask, servers)
    for server, answer in zip(servers, answers, strict=True):
        if isinstance(answer, DeviceError):
            result.errors[server] = str(answer)
        else:
            result.entries[server] = answer
    return result


def _no_server_answered(found: Survey) -> DeviceError:
    if len(found.errors) == 1:
        return DeviceError(next(iter(found.errors.values())))
    return DeviceError("no adb server answered: " + "; ".join(found.errors.values()))


def resolve_phones(
    specs: Sequence[str],
    servers: Sequence[AdbServer],
    timeout: float = SERVER_TIMEOUT,
    found: Survey | None = None,
) -> list[PhoneRef]:
    """Turn ``adb:SERIAL``, ``adb:HOST:PORT/SERIAL``, ``adb`` (the one connected phone) and
    ``all`` (every ready phone on every server) into phones.

    ``adb`` with zero or several phones is an error listing them; so is a named phone that is
    absent, unauthorised or offline, and a short name whose serial is on two servers. ``all``
    takes the phones of the servers that answered; the caller reports the others
    (``found.errors``). A server named inside a phone name is asked even when not listed.
    """
    asked = list(servers)
    for spec in specs:
        server, _serial = parse_phone(spec) if spec.startswith("adb:") else (None, "")
        if server is not None and (server.host, server.port) not in {
            (s.host, s.port) for s in asked
        }:
            asked.append(server)
    if found is None:
        found = survey(asked, timeout)
    if not found.entries:
        raise _no_server_answered(found)
    listing = found.listing()
    out: list[PhoneRef] = []
    for item in specs:
        if item in ("all", "adb:all"):
            ready = found.ready()
            if not ready:
                raise DeviceError(f"--clients all: no phone is ready (adb sees: {listing})")
            out += ready
        elif item == "adb":
            ready = found.ready()
            if len(ready) != 1:
                raise DeviceError(
                    f"--client adb needs exactly one connected phone, found {len(ready)} "
                    f"(adb sees: {listing}); name one with --client adb:SERIAL"
                )
            out += ready
        elif item.startswith("adb:") and item[4:]:
            out.append(_named(item, found, listing))
        else:
            raise DeviceError(
                f"unknown phone spec '{item}': use adb, adb:SERIAL, adb:HOST:PORT/SERIAL or all"
            )
    unique: dict[tuple[str, int, str], PhoneRef] = {}
    for ref in out:
        unique.setdefault((ref.server.host, ref.server.port, ref.serial), ref)
    return list(unique.values())


def _named(item: str, found: Survey, listing: str) -> PhoneRef:
    server, serial = parse_phone(item)
    if server is not None:
        match = next(
            (
                s
                for s in (*found.entries, *found.errors)
                if (s.host, s.port) == (server.host, server.port)
            ),
            server,
        )
        if match in found.errors:
            raise DeviceError(f"phone {serial}: {found.errors[match]}")
        entry = next((e for e in found.entries.get(match, []) if e.serial == serial), None)
        if entry is None:
            raise DeviceError(
                f"no phone {show_serial(serial)} is connected to {match.label} "
                f"(adb sees: {listing})"
            )
        if entry.state != "device":
            raise state_error(serial, entry.state)
        return PhoneRef(match, serial, qualified=True)
    holders = found.servers_with(serial)
    if len(holders) > 1:
        both = " and ".join(f"adb:{s.label}/{serial}" for s in holders)
        raise DeviceError(f"phone {serial} is on {len(holders)} adb servers: name one, {both}")
    if not holders:
        missing = f"no phone {show_serial(serial)} is connected (adb sees: {listing})"
        if found.errors:
            missing += " — " + "; ".join(found.errors.values())
        raise DeviceError(missing)
    entry = next(e for e in found.entries[holders[0]] if e.serial == serial)
    if entry.state != "device":
        raise state_error(serial, entry.state)
    return PhoneRef(holders[0], serial)


def show_serial(serial: str) -> str:
    """A serial as error lines print it: bare when plain, quoted when it has spaces or shell
    characters (it is never run by a shell; it only travels inside adb requests)."""
    return serial if re.fullmatch(r"[A-Za-z0-9._:@-]+", serial) else repr(serial)


def resolve_serials(
    spec: Sequence[str], adb_port: int | None = None, host: str = LOCAL_HOST
) -> list[str]:
    """:func:`resolve_phones` on one server (``host``:``adb_port``, found the standard way):
    the serials only."""
    server = AdbServer(host, adb_server_port(adb_port), local=host == LOCAL_HOST)
    return [ref.serial for ref in resolve_phones(spec, [server])]
