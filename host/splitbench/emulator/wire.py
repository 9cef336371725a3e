"""Byte-level framing of the adb smart-socket protocol, shared by the host and device services.

Why a module of its own: the same three shapes (4-hex-length requests, OKAY/FAIL replies,
little-endian binary frames) appear in the host services, the sync protocol and shell v2;
getting one byte wrong breaks the real clients in ways that are hard to read, so the encoding
lives in one place and the services only speak in terms of messages.
"""

from __future__ import annotations

import socket
import struct

OKAY = b"OKAY"
FAIL = b"FAIL"

#: Longest request a client may send on the smart socket (adb's own limit is 1 MiB; ours is
#: small because no legitimate request of the emulated services is long).
MAX_REQUEST = 64 * 1024

#: Shell protocol v2 packet ids (adb's ``shell_protocol.h``).
SHELL_STDIN = 0
SHELL_STDOUT = 1
SHELL_STDERR = 2
SHELL_EXIT = 3
SHELL_CLOSE_STDIN = 4
SHELL_WINDOW_SIZE = 5


class ClientGone(ConnectionError):
    """The peer closed the socket (or it was closed under us) before a full message arrived."""


def recv_exact(sock: socket.socket, n: int) -> bytes:
    """Read exactly ``n`` bytes; the socket's own timeout bounds each wait."""
    chunks: list[bytes] = []
    remaining = n
    while remaining > 0:
        chunk = sock.recv(min(remaining, 256 * 1024))
        if not chunk:
            raise ClientGone(f"peer closed after {n - remaining} of {n} bytes")
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def read_request(sock: socket.socket) -> str:
    """Read one smart-socket request: four hex digits of length, then that many bytes."""
    header = recv_exact(sock, 4)
    try:
        length = int(header.decode("ascii"), 16)
    except (UnicodeDecodeError, ValueError) as exc:
        raise ProtocolError(f"bad request length {header!r}") from exc
    if length > MAX_REQUEST:
        raise ProtocolError(f"request of {length} bytes is too long")
    return recv_exact(sock, length).decode("utf-8", errors="replace")


class ProtocolError(ValueError):
    """The client sent bytes that are not a valid message of the protocol."""


def block(payload: str | bytes) -> bytes:
    """A length-prefixed string as the host services send it: ``%04x`` + payload."""
    data = payload.encode("utf-8") if isinstance(payload, str) else payload
    return f"{len(data):04x}".encode("ascii") + data


def okay(payload: str | bytes | None = None) -> bytes:
    """``OKAY``, optionally followed by a length-prefixed payload (``host:version`` etc.)."""
    return OKAY if payload is None else OKAY + block(payload)


def fail(message: str) -> bytes:
    """``FAIL`` + length-prefixed message, exactly what the real server sends on error."""
    return FAIL + block(message)


def shell_packet(packet_id: int, data: bytes) -> bytes:
    """One shell-v2 packet: id byte, 4-byte little-endian length, payload."""
    return struct.pack("<BI", packet_id, len(data)) + data


def read_shell_packet(sock: socket.socket) -> tuple[int, bytes]:
    """Read one shell-v2 packet sent by the client (stdin data, close-stdin, window size)."""
    packet_id, length = struct.unpack("<BI", recv_exact(sock, 5))
    return packet_id, recv_exact(sock, length) if length else b""


def sync_header(sock: socket.socket) -> tuple[bytes, int]:
    """Read a sync frame header: four ASCII id bytes and a little-endian u32 (length or arg)."""
    raw = recv_exact(sock, 8)
    return raw[:4], struct.unpack("<I", raw[4:])[0]


def sync_frame(frame_id: bytes, value: int, data: bytes = b"") -> bytes:
    """A sync frame: id, little-endian u32, optional payload."""
    return frame_id + struct.pack("<I", value) + data


def sync_fail(message: str) -> bytes:
    """A sync ``FAIL`` frame; the client shows ``message`` to the user (prefixed by "remote")."""
    data = message.encode("utf-8")
    return sync_frame(FAIL, len(data), data)
