"""The ``sync:`` service: file transfer between the client and the device sandbox.

Requests are ``ID`` + little-endian u32 length + path. Implemented: STAT (lstat, v1), STA2
(stat) and LST2 (lstat) with the v2 record, LIST (DENT records) and LIS2 (DNT2 records), SEND
("path,mode", then DATA chunks of at most 64 KiB and DONE carrying the mtime; answered OKAY or
FAIL), RECV (DATA chunks then DONE, or FAIL), QUIT. Failure messages follow adbd
("write failed: No space left on device", "open failed: No such file or directory"), and after a
failed SEND the remaining DATA is read and dropped until DONE, as adbd does, so a client that
keeps writing still gets to read the FAIL.

Files are reached through :class:`~splitbench.emulator.devicefs.DeviceFS`: inside the device
root whatever symlinks the device holds, and as the device's adbd user (``shell`` unless the
device runs as root), so permissions and ownership are a phone's.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import socket
import stat
import struct

from splitbench.emulator import wire
from splitbench.emulator.device import EmulatedDevice
from splitbench.emulator.devicefs import DeviceFS
from splitbench.emulator.wire import ClientGone
from splitbench.errors import DeviceError

log = logging.getLogger(__name__)

MAX_PATH = 1024
MAX_DATA = 64 * 1024

_V1_STAT = struct.Struct("<III")  # mode, size, mtime
_V2_STAT = struct.Struct("<IQQIIIIQqqq")  # error, dev, ino, mode, nlink, uid, gid, size, a/m/ctime
_U32 = 0xFFFFFFFF


class _SessionOver(Exception):
    """A request failed in a way that ends the sync session (adbd closes it too)."""


def run_sync(sock: socket.socket, device: EmulatedDevice) -> None:
    """Serve sync requests on ``sock`` until QUIT, a fatal failure or the client leaving."""
    try:
        files = device.sandbox.files
    except DeviceError as exc:  # the device went away meanwhile
        sock.sendall(wire.fail(f"sync: {exc}"))
        return
    sock.sendall(wire.OKAY)
    try:
        with files.as_device_user():
            _serve(sock, files)
    except (ClientGone, _SessionOver, OSError):
        return


def _serve(sock: socket.socket, files: DeviceFS) -> None:
    while True:
        request, length = wire.sync_header(sock)
        if request == b"QUIT":
            return
        if length > MAX_PATH:
            sock.sendall(wire.sync_fail("path too long"))
            return
        path = wire.recv_exact(sock, length).decode("utf-8", errors="surrogateescape")
        log.debug("sync %r %r", request, path)
        handler = _HANDLERS.get(request)
        if handler is None:
            sock.sendall(wire.sync_fail(f"unknown sync command {request!r}"))
            return
        handler(sock, files, path)


def _stat_v1(sock: socket.socket, files: DeviceFS, path: str) -> None:
    try:
        st = files.lstat(path)
        reply = _V1_STAT.pack(st.st_mode & _U32, st.st_size & _U32, int(st.st_mtime) & _U32)
    except OSError:
        reply = _V1_STAT.pack(0, 0, 0)
    sock.sendall(b"STAT" + reply)


def _v2_record(st: os.stat_result | OSError) -> bytes:
    if isinstance(st, OSError):
        return _V2_STAT.pack(st.errno or 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
    return _V2_STAT.pack(
        0,
        st.st_dev,
        st.st_ino,
        st.st_mode,
        st.st_nlink,
        st.st_uid,
        st.st_gid,
        st.st_size,
        int(st.st_atime),
        int(st.st_mtime),
        int(st.st_ctime),
    )


def _stat_or_error(files: DeviceFS, path: str, follow: bool) -> os.stat_result | OSError:
    try:
        return files.stat(path) if follow else files.lstat(path)
    except OSError as exc:
        return exc


def _stat_v2(sock: socket.socket, files: DeviceFS, path: str) -> None:
    sock.sendall(b"STA2" + _v2_record(_stat_or_error(files, path, follow=True)))


def _lstat_v2(sock: socket.socket, files: DeviceFS, path: str) -> None:
    sock.sendall(b"LST2" + _v2_record(_stat_or_error(files, path, follow=False)))


def _entries(files: DeviceFS, path: str) -> list[tuple[str, os.stat_result | None]]:
    try:
        return files.list(path)
    except OSError:
        return []


def _list_v1(sock: socket.socket, files: DeviceFS, path: str) -> None:
    for name, st in _entries(files, path):
        if st is None:
            continue
        raw = name.encode("utf-8", errors="surrogateescape")
        sock.sendall(
            b"DENT"
            + struct.pack(
                "<IIII", st.st_mode & _U32, st.st_size & _U32, int(st.st_mtime) & _U32, len(raw)
            )
            + raw
        )
    sock.sendall(b"DONE" + bytes(16))


def _list_v2(sock: socket.socket, files: DeviceFS, path: str) -> None:
    for name, st in _entries(files, path):
        raw = name.encode("utf-8", errors="surrogateescape")
        record = _v2_record(st if st is not None else OSError(errno.ENOENT, "gone"))
        sock.sendall(b"DNT2" + record + struct.pack("<I", len(raw)) + raw)
    sock.sendall(b"DONE" + bytes(_V2_STAT.size + 4))


def _send(sock: socket.socket, files: DeviceFS, spec: str) -> None:
    path, _, mode_text = spec.rpartition(",")
    if not path:
        path, mode_text = spec, "33188"  # 0o100644
    try:
        mode = int(mode_text)
    except ValueError:
        _fail_send(sock, f"bad mode {mode_text!r}")
        return
    if path.endswith("/"):
        # adbd makes the directories, then cannot open a file named "dir/": same answer here
        with contextlib.suppress(OSError):
            files.make_dirs(path)
        _fail_send(sock, f"couldn't create file: {os.strerror(errno.EISDIR)}")
        return
    if stat.S_ISLNK(mode):
        link = _read_all_data(sock)
        try:
            files.replace_with_symlink(path, link.decode("utf-8", errors="surrogateescape"))
        except OSError as exc:
            _fail_send(sock, f"symlink failed: {exc.strerror}", drain=False)
            return
        sock.sendall(wire.sync_frame(wire.OKAY, 0))
        return
    try:
        fd, at, existed = files.create(path, mode)
    except OSError as exc:
        _fail_send(sock, f"couldn't create file: {exc.strerror}")
        return
    with at:
        try:
            try:
                mtime = _receive_into(sock, fd)
                os.fchmod(fd, mode & 0o7777)
                os.utime(fd, (mtime, mtime))
            finally:
                os.close(fd)
        except _WriteFailed as exc:
            if not existed:
                with contextlib.suppress(OSError):
                    os.unlink(at.name, dir_fd=at.parent)
            _fail_send(sock, str(exc))
            return
    sock.sendall(wire.sync_frame(wire.OKAY, 0))


class _WriteFailed(Exception):
    pass


def _receive_into(sock: socket.socket, fd: int) -> int:
    """Copy DATA chunks into the file ``fd`` until DONE; returns DONE's mtime."""
    while True:
        frame, value = wire.sync_header(sock)
        if frame == b"DONE":
            return value
        if frame != b"DATA":
            raise _WriteFailed("invalid data message")
        if value > MAX_DATA:
            raise _WriteFailed("oversize data message")
        view = memoryview(wire.recv_exact(sock, value))
        try:
            while view:
                view = view[os.write(fd, view) :]
        except OSError as exc:
            raise _WriteFailed(f"write failed: {exc.strerror}") from exc


def _drain(sock: socket.socket) -> None:
    """Read and drop DATA chunks until DONE (what adbd does after a failed SEND)."""
    while True:
        frame, value = wire.sync_header(sock)
        if frame == b"DONE":
            return
        if frame != b"DATA" or value > MAX_DATA:
            return
        wire.recv_exact(sock, value)


def _read_all_data(sock: socket.socket) -> bytes:
    parts: list[bytes] = []
    while True:
        frame, value = wire.sync_header(sock)
        if frame == b"DONE":
            return b"".join(parts)
        if frame != b"DATA" or value > MAX_DATA:
            raise _SessionOver()
        parts.append(wire.recv_exact(sock, value))


def _fail_send(sock: socket.socket, message: str, drain: bool = True) -> None:
    """Report a failed SEND, read and drop the rest of the upload, end the session."""
    sock.sendall(wire.sync_fail(message))
    if drain:
        with contextlib.suppress(ClientGone, OSError):
            _drain(sock)
    raise _SessionOver()


def _recv(sock: socket.socket, files: DeviceFS, path: str) -> None:
    try:
        source = os.fdopen(files.open_read(path), "rb")
    except OSError as exc:
        sock.sendall(wire.sync_fail(f"open failed: {exc.strerror}"))
        raise _SessionOver() from exc
    with source:
        while True:
            try:
                chunk = source.read(MAX_DATA)
            except OSError as exc:
                sock.sendall(wire.sync_fail(f"read failed: {exc.strerror}"))
                raise _SessionOver() from exc
            if not chunk:
                break
            sock.sendall(wire.sync_frame(b"DATA", len(chunk), chunk))
    sock.sendall(wire.sync_frame(b"DONE", 0))


_HANDLERS = {
    b"STAT": _stat_v1,
    b"STA2": _stat_v2,
    b"LST2": _lstat_v2,
    b"LIST": _list_v1,
    b"LIS2": _list_v2,
    b"SEND": _send,
    b"RECV": _recv,
}
