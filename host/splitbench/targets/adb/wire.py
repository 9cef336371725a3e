"""adb's wire protocols as the kit reads them: shell v1/v2 results and sync sessions, all under
one *total* deadline (not adbutils' per-read socket timeout, which a chatty process never
trips)."""

from __future__ import annotations

import contextlib
import socket
import stat
import struct
import time
from dataclasses import dataclass
from pathlib import Path

SYNC_CHUNK = 64 * 1024  # adb's SYNC_DATA_MAX
V1_EXIT = "SPLITBENCH_EXIT:"
_QUICKACK: int | None = getattr(socket, "TCP_QUICKACK", None)  # Linux only


class RemoteTimeout(Exception):
    """A remote command passed its deadline; its connection was closed and its process killed."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"timed out after {seconds:g} s")
        self.seconds = seconds


class Lost(Exception):
    """The connection broke in the middle of an operation."""


class SyncFailed(Exception):
    """The phone answered a sync request with FAIL and this message."""


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


def one_line(exc: BaseException) -> str:
    text = " ".join(str(a) for a in exc.args if a) if exc.args else type(exc).__name__
    return " ".join(text.split()) or type(exc).__name__


class Reader:
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
                raise Lost("connection closed")
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


def read_v2(reader: Reader) -> ShellResult:
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


def read_v1(reader: Reader) -> ShellResult:
    buf = bytearray()
    while chunk := reader.recv(65536):
        buf += chunk
    marker = buf.rfind(V1_EXIT.encode())
    if marker < 0:
        raise Lost("shell ended without its exit status")
    code = int(bytes(buf[marker + len(V1_EXIT) :]).strip() or b"255")
    return ShellResult(code, bytes(buf[:marker]), b"")


class SyncSession:
    """The requests of one sync session (adb's file_sync_protocol)."""

    def __init__(self, sock: socket.socket, deadline: float, timeout: float) -> None:
        self.io = Reader(sock, deadline)
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
            raise Lost(f"unexpected sync reply {reply[:4]!r}")
        mode, size, _mtime = struct.unpack("<III", reply[4:])
        return None if mode == 0 else (mode, size)

    def list(self, path: str) -> list[tuple[str, int]]:
        return [(name, mode) for name, mode, _size, _mtime in self.list_stat(path)]

    def list_stat(self, path: str) -> list[tuple[str, int, int, int]]:
        """(name, mode, size, mtime) of every entry of a directory (empty when absent)."""
        self._request(b"LIST", path)
        entries: list[tuple[str, int, int, int]] = []
        while True:
            head = self.io.exact(20)
            if head[:4] == b"DONE":
                return entries
            if head[:4] != b"DENT":
                raise Lost(f"unexpected sync reply {head[:4]!r}")
            mode, size, mtime, namelen = struct.unpack("<IIII", head[4:])
            name = self.io.exact(namelen).decode("utf-8", errors="surrogateescape")
            if name not in (".", ".."):
                entries.append((name, mode, size, mtime))

    def send(self, data: bytes | Path, remote: str, mode: int) -> int:
        self._request(b"SEND", f"{remote},{stat.S_IFREG | mode}")
        sent = 0
        try:
            with contextlib.ExitStack() as stack:
                src = stack.enter_context(data.open("rb")) if isinstance(data, Path) else None
                view = memoryview(data) if isinstance(data, bytes) else None
                while True:
                    if src is not None:
                        chunk = src.read(SYNC_CHUNK)
                    else:
                        assert view is not None
                        chunk = bytes(view[sent : sent + SYNC_CHUNK])
                    if not chunk:
                        break
                    self.io.send(b"DATA" + struct.pack("<I", len(chunk)) + chunk)
                    sent += len(chunk)
                self.io.send(b"DONE" + struct.pack("<I", int(time.time())))
        except (BrokenPipeError, ConnectionResetError):
            pass  # the phone gave up early (e.g. full): its FAIL is still waiting to be read
        reply, length = struct.unpack("<4sI", self.io.exact(8))
        if reply == b"FAIL":
            raise SyncFailed(self._fail_message(length))
        if reply != b"OKAY":
            raise Lost(f"unexpected sync reply {reply!r}")
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
                raise SyncFailed(self._fail_message(length))
            else:
                raise Lost(f"unexpected sync reply {frame!r}")

    def quit(self) -> None:
        with contextlib.suppress(OSError, RemoteTimeout):
            self.io.send(b"QUIT" + struct.pack("<I", 0))
