"""The ``shell:``, ``shell,v2:`` and ``exec:`` services: a real process in the device sandbox.

Why one pump loop with a selector: the command's output, its exit, the client's stdin and the
client hanging up must all be noticed at once — the last one matters most, because a client
that gives up (a timeout in the kit) must leave no process behind on the "phone". When the
client closes the connection early, the command's whole process group is killed with SIGKILL.

Protocols: v1 (``shell:``/``exec:``) streams stdout and stderr merged and closes at the end; the
exit status is not sent (clients append ``; echo $?``). v2 (``shell,v2[,raw|pty][,TERM=..]:``)
frames stdout (id 1), stderr (id 2) and the exit status (id 3) and takes stdin (id 0),
close-stdin (id 4) and window-size (id 5, ignored) from the client. ``pty`` is served like
``raw`` (no terminal is allocated). A command killed by signal N exits with 128+N, as Android's
shell reports it (SIGSEGV: 139).
"""

from __future__ import annotations

import contextlib
import os
import selectors
import socket
import struct
import subprocess
import threading
from dataclasses import dataclass

from splitbench.emulator import wire
from splitbench.emulator.device import EmulatedDevice
from splitbench.emulator.sandbox import DEVICE_ENV

_TICK = 0.2  # how often the pump looks at the server's stop flag
_CHUNK = 64 * 1024

#: Wrapper for the crash fault: the command runs, then its shell dies of SIGSEGV.
_CRASH_SCRIPT = 'ulimit -c 0; /bin/sh -c "$1"; kill -SEGV $$'
#: Wrapper for the hang fault: a real process that never ends by itself.
_HANG_SCRIPT = "exec sleep 2147483647"


@dataclass(frozen=True)
class ShellRequest:
    command: str
    v2: bool


def parse_shell_service(service: str) -> ShellRequest | None:
    """``shell[,opt...]:CMD`` or ``exec:CMD`` → request; anything else → None."""
    if service.startswith("exec:"):
        return ShellRequest(service[len("exec:") :], v2=False)
    head, sep, command = service.partition(":")
    if not sep or head.split(",")[0] != "shell":
        return None
    options = head.split(",")[1:]
    return ShellRequest(command, v2="v2" in options)


def shell_argv(command: str, fault: str | None) -> list[str]:
    """The command line run in the sandbox for a shell request and its fault, if any."""
    if fault == "hang":
        return ["/bin/sh", "-c", _HANG_SCRIPT]
    if not command:
        return ["/bin/sh"]  # interactive: commands come on stdin
    if fault == "crash":
        return ["/bin/sh", "-c", _CRASH_SCRIPT, "sh", command]
    return ["/bin/sh", "-c", command]


def exit_status(returncode: int) -> int:
    """The status a phone's shell reports: the exit code, or 128 + signal number."""
    return returncode if returncode >= 0 else 128 - returncode


def run_shell(
    sock: socket.socket, device: EmulatedDevice, request: ShellRequest, stop: threading.Event
) -> None:
    """Serve one shell session on ``sock`` (already past transport selection)."""
    fault = device.shell_fault(request.command)
    try:
        proc = subprocess.Popen(
            device.sandbox.argv(shell_argv(request.command, fault)),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE if request.v2 else subprocess.STDOUT,
            env=DEVICE_ENV,
            start_new_session=True,
            bufsize=0,
        )
    except OSError as exc:
        sock.sendall(wire.fail(f"cannot start shell: {exc.strerror}"))
        return
    device.add_process(proc)
    finished = False
    try:
        sock.sendall(wire.OKAY)
        finished = _Pump(sock, proc, request.v2, stop).run()
        if finished and request.v2:
            code = exit_status(proc.returncode)
            sock.sendall(wire.shell_packet(wire.SHELL_EXIT, bytes([code & 0xFF])))
    except OSError:
        finished = False  # the client went away while we were writing to it
    finally:
        if not finished:
            device.kill(proc)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=5)
        for stream in (proc.stdin, proc.stdout, proc.stderr):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
        device.remove_process(proc)


class _Pump:
    """Moves bytes between one client socket and one process until either side ends."""

    def __init__(
        self, sock: socket.socket, proc: subprocess.Popen[bytes], v2: bool, stop: threading.Event
    ) -> None:
        self.sock = sock
        self.proc = proc
        self.v2 = v2
        self.stop = stop
        self.sel = selectors.DefaultSelector()
        self.open_outputs = 0
        self.stdin_buffer = bytearray()
        self.stdin_closing = False
        self.client_bytes = bytearray()

    def run(self) -> bool:
        """True when the command ended by itself; False when the client or the server left."""
        assert self.proc.stdout is not None and self.proc.stdin is not None
        self.sel.register(self.sock, selectors.EVENT_READ, "client")
        self.sel.register(self.proc.stdout, selectors.EVENT_READ, wire.SHELL_STDOUT)
        self.open_outputs = 1
        if self.proc.stderr is not None:
            self.sel.register(self.proc.stderr, selectors.EVENT_READ, wire.SHELL_STDERR)
            self.open_outputs += 1
        os.set_blocking(self.proc.stdin.fileno(), False)
        try:
            while self.open_outputs > 0 or self.proc.poll() is None:
                if self.stop.is_set():
                    return False
                # once the outputs are closed only the exit is awaited: poll it closely
                tick = _TICK if self.open_outputs else 0.005
                for key, _mask in self.sel.select(timeout=tick):
                    if key.data == "client":
                        if not self._from_client():
                            return False
                    elif key.data == "stdin":
                        self._flush_stdin()
                    else:
                        self._from_process(key)
            return True
        finally:
            self.sel.close()

    def _from_process(self, key: selectors.SelectorKey) -> None:
        chunk = os.read(key.fd, _CHUNK)
        if not chunk:
            self.sel.unregister(key.fileobj)
            self.open_outputs -= 1
            return
        self.sock.sendall(wire.shell_packet(key.data, chunk) if self.v2 else chunk)

    def _from_client(self) -> bool:
        try:
            data = self.sock.recv(_CHUNK)
        except OSError:
            return False
        if not data:
            return False
        if not self.v2:
            self._to_stdin(data)
            return True
        self.client_bytes += data
        while len(self.client_bytes) >= 5:
            packet_id, length = struct.unpack("<BI", self.client_bytes[:5])
            if len(self.client_bytes) < 5 + length:
                break
            payload = bytes(self.client_bytes[5 : 5 + length])
            del self.client_bytes[: 5 + length]
            if packet_id == wire.SHELL_STDIN:
                self._to_stdin(payload)
            elif packet_id == wire.SHELL_CLOSE_STDIN:
                self.stdin_closing = True
                self._flush_stdin()
        return True

    def _to_stdin(self, data: bytes) -> None:
        if self.proc.stdin is None or self.proc.stdin.closed:
            return
        self.stdin_buffer += data
        self._flush_stdin()

    def _flush_stdin(self) -> None:
        stdin = self.proc.stdin
        if stdin is None or stdin.closed:
            return
        try:
            while self.stdin_buffer:
                written = os.write(stdin.fileno(), self.stdin_buffer)
                del self.stdin_buffer[:written]
        except BlockingIOError:
            pass
        except OSError:  # the command closed its stdin: drop what it will never read
            self.stdin_buffer.clear()
            self.stdin_closing = True
        registered = "stdin" in (k.data for k in self.sel.get_map().values())
        if self.stdin_buffer and not registered:
            self.sel.register(stdin, selectors.EVENT_WRITE, "stdin")
        elif not self.stdin_buffer:
            if registered:
                self.sel.unregister(stdin)
            if self.stdin_closing:
                stdin.close()
