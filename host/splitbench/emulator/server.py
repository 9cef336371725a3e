"""The emulated adb server: a socket on 127.0.0.1 speaking the smart-socket protocol.

Why 127.0.0.1 only: like a real adb server, it has no authentication, so every local user can
run commands on its phones; another address would open them to the network. The phones'
commands act inside their sandboxes (:mod:`.sandbox`), never on this host.

Why threads: one thread per client connection keeps each protocol exchange a straight-line
function; connections are few (a kit and maybe an ``adb`` CLI). Every blocking call has a
timeout: the accept loop wakes every 0.2 s, requests must arrive within ``IDLE_TIMEOUT``, the
shell pump ticks every 0.2 s. ``stop()`` closes the listener and every client socket, kills
every running command and the sandboxes, and joins the threads, so nothing outlives it.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import socket
import sys
import threading
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType

from splitbench.emulator import host, wire
from splitbench.emulator.device import (
    DEFAULT_SERIAL,
    EmulatedDevice,
    EmulatedDeviceSpec,
    EmulatorInputError,
)
from splitbench.emulator.folder import PhonesFolder
from splitbench.emulator.sandbox import SHELL_UID, SHELL_USER_NOTE
from splitbench.emulator.shell import parse_shell_service, run_shell
from splitbench.emulator.sync import run_sync
from splitbench.errors import DeviceError

log = logging.getLogger(__name__)

IDLE_TIMEOUT = 120.0
_ACCEPT_TICK = 0.2
_JOIN_TIMEOUT = 10.0

#: The only address the emulator listens on.
LOOPBACK = "127.0.0.1"


def check_address(address: str) -> str:
    """127.0.0.1 (``localhost`` is taken as it); any other address is refused in one line."""
    if address in (LOOPBACK, "localhost"):
        return LOOPBACK
    raise DeviceError(
        f"the emulated phone listens on {LOOPBACK} only, not on {address}: like adb it has no "
        "authentication, so any address beyond this host would open its phones to the network"
    )


def check_port(port: int) -> int:
    """A TCP port (0: a free one), or a one-line refusal."""
    if not 0 <= port <= 65535:
        raise EmulatorInputError(f"port {port} is not a TCP port: give 0..65535 (0: a free one)")
    return port


class AdbEmulator:
    """An adb server on loopback with one or more emulated phones behind it.

    ``port=0`` picks a free port (read it from ``.port`` after ``start()``). ``root``, a new
    or empty folder, holds one directory per device (its ``/system`` and ``/sys``) while it
    runs; a temporary directory is used when none is given. Stopping (or a failed start)
    leaves ``root`` as it was found (see :mod:`.folder`). It listens on 127.0.0.1 only
    (``host_address`` is checked by :func:`check_address`); any local user can use it, as
    with adb.
    """

    def __init__(
        self,
        port: int = 0,
        devices: Iterable[EmulatedDeviceSpec | str] = (DEFAULT_SERIAL,),
        root: Path | None = None,
        host_address: str = "127.0.0.1",
    ) -> None:
        specs = [d if isinstance(d, EmulatedDeviceSpec) else EmulatedDeviceSpec(d) for d in devices]
        serials = [s.serial for s in specs]
        if len(set(serials)) != len(serials):
            raise ValueError(f"serials must be unique: {serials}")
        self._requested_port = check_port(port)
        self._address = check_address(host_address)
        self._folder = PhonesFolder(None if root is None else Path(root))
        self.root: Path | None = None  # the folder, once started
        self._specs = specs
        self.registry: host.Registry | None = None
        self._listener: socket.socket | None = None
        self._stop = threading.Event()
        self._threads: set[threading.Thread] = set()
        self._clients: set[socket.socket] = set()
        self._lock = threading.Lock()
        self.port = port

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> AdbEmulator:
        """Create the sandboxes and start listening; returns self."""
        devices: list[EmulatedDevice] = []
        try:
            self.root = self._folder.make([spec.serial for spec in self._specs])
            for spec in self._specs:
                device = EmulatedDevice(spec, self.root / spec.serial)
                devices.append(device)
                device.start()
            self.registry = host.Registry(devices)
            listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                listener.bind((self._address, self._requested_port))
            except OSError as exc:
                listener.close()
                raise DeviceError(
                    f"cannot listen on {self._address}:{self._requested_port}: {exc.strerror}"
                ) from exc
            listener.listen(64)
            listener.settimeout(_ACCEPT_TICK)
        except BaseException:
            for device in devices:
                device.stop()
            self._folder.clear([spec.serial for spec in self._specs])
            raise
        self._listener = listener
        self.port = listener.getsockname()[1]
        self._stop.clear()
        self._spawn(self._accept_loop, "sbemu-accept")
        return self

    def stop(self) -> None:
        """Stop serving; kill every command; remove the phones' directories (and the folder,
        if it was made for them)."""
        self._stop.set()
        if self._listener is not None:
            self._listener.close()
        with self._lock:
            clients = list(self._clients)
        for sock in clients:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        for device in self.registry.all() if self.registry else []:
            device.stop()
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            if thread is not threading.current_thread():
                thread.join(timeout=_JOIN_TIMEOUT)
        self._listener = None
        self._folder.clear([spec.serial for spec in self._specs])

    def __enter__(self) -> AdbEmulator:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- fault control ---------------------------------------------------------------------

    def device(self, serial: str) -> EmulatedDevice:
        """The device with this serial, for fault control (see :class:`EmulatedDevice`)."""
        device = self.registry.get(serial) if self.registry else None
        if device is None:
            raise KeyError(f"no emulated device {serial!r}")
        return device

    @property
    def devices(self) -> list[EmulatedDevice]:
        return self.registry.all() if self.registry else []

    @property
    def notes(self) -> list[str]:
        """What a user should know at start-up (said once): commands that run as the device's
        root because the shell user cannot be had here."""
        asked_for_shell = [d for d in self.devices if not d.spec.root]
        if any(d.sandbox.user != SHELL_UID for d in asked_for_shell):
            return [SHELL_USER_NOTE]
        return []

    # -- serving ---------------------------------------------------------------------------

    def _spawn(self, target: object, name: str, *args: object) -> None:
        thread = threading.Thread(
            target=self._run_tracked, args=(target, *args), name=name, daemon=True
        )
        with self._lock:
            self._threads.add(thread)
        thread.start()

    def _run_tracked(self, target: object, *args: object) -> None:
        try:
            target(*args)  # type: ignore[operator]
        finally:
            with self._lock:
                self._threads.discard(threading.current_thread())

    def _accept_loop(self) -> None:
        listener = self._listener
        assert listener is not None
        while not self._stop.is_set():
            try:
                sock, _peer = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return  # listener closed by stop()
            sock.settimeout(IDLE_TIMEOUT)
            with self._lock:
                self._clients.add(sock)
            self._spawn(self._serve, "sbemu-conn", sock)

    def _serve(self, sock: socket.socket) -> None:
        try:
            self._conversation(sock)
        except (wire.ClientGone, wire.ProtocolError, OSError):
            pass
        finally:
            with self._lock:
                self._clients.discard(sock)
            with contextlib.suppress(OSError):
                sock.close()

    def _conversation(self, sock: socket.socket) -> None:
        assert self.registry is not None
        device: EmulatedDevice | None = None
        while not self._stop.is_set():
            request = wire.read_request(sock)
            log.debug("request %r", request)
            if device is None and host.is_host_request(request):
                reply = host.handle(request, self.registry, self._stop)
                sock.sendall(reply.data)
                if reply.device is None:
                    return
                device = reply.device
                continue
            if device is None:  # a device service with no transport chosen: "any"
                device, error = self.registry.acquire(host.Target())
                if device is None:
                    sock.sendall(wire.fail(error))
                    return
            self._device_service(sock, device, request)
            return

    def _device_service(self, sock: socket.socket, device: EmulatedDevice, service: str) -> None:
        error = device.transport_error()
        if error:
            sock.sendall(wire.fail(error))
            return
        shell = parse_shell_service(service)
        if shell is None and service != "sync:":
            sock.sendall(wire.fail(f"closed: service '{service}' is not emulated"))
            return
        device.attach(sock)
        try:
            if not device.begin_command():
                return  # unplugged: the connection just closes, as when a cable is pulled
            if shell is not None:
                run_shell(sock, device, shell, self._stop)
            else:
                run_sync(sock, device)
        finally:
            device.detach(sock)


def run_emulator(
    port: int,
    serials: list[str],
    fail_after: int | None = None,
    storage_bytes: int | None = None,
    root: Path | None = None,
    as_root: bool = False,
    address: str = LOOPBACK,
) -> None:
    """Serve emulated phones in the foreground until SIGINT or SIGTERM (for the CLI).

    ``root`` is the folder of the phones' files; ``as_root`` runs their commands as root of the
    device instead of Android's shell user."""
    specs = [
        EmulatedDeviceSpec(
            serial=s, fail_after=fail_after, storage_bytes=storage_bytes, root=as_root
        )
        for s in serials or [DEFAULT_SERIAL]
    ]
    # every setting is checked here, before anything starts
    emulator = AdbEmulator(port=port, devices=specs, root=root, host_address=address)
    done = threading.Event()
    previous = {
        sig: signal.signal(sig, lambda *_: done.set()) for sig in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        with emulator:
            for note in emulator.notes:
                print(note, file=sys.stderr, flush=True)
            names = ", ".join(d.serial for d in emulator.devices)
            print(
                f"splitbench emulated adb server on 127.0.0.1:{emulator.port} "
                f"with {names}; use adb -P {emulator.port} or "
                f"ANDROID_ADB_SERVER_PORT={emulator.port}; Ctrl-C stops it",
                flush=True,
            )
            while not done.wait(0.5):
                pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
