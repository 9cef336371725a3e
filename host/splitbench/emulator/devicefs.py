"""The device's files as the sync service reaches them: inside the device root, as its user.

Why not plain host paths (``/proc/<holder>/root/...``): the kernel would follow an absolute
symlink inside the device against *this* process's root, and a device command can swap a
directory for such a link between a check and a write. So every path is walked here one
component at a time from a descriptor of the device root, with ``O_NOFOLLOW``; symlinks are
read and resolved against the device root, ``..`` never climbs above it. Whatever a device
command does to its files, a push or pull stays inside the device.

Why as the device's user: adbd runs as ``shell`` on a phone, so a push to ``/data`` (not
``/data/local/tmp``) is refused and pushed files belong to ``shell``. When the device has ids
of its own, the sync thread switches its file-system ids (``setfsuid``/``setfsgid``, which are
per thread) to the device user's host id for the session: permission checks and file
ownership are then the kernel's own.
"""

from __future__ import annotations

import ctypes
import errno
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

_MAX_SYMLINKS = 40
_DIR = os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


@dataclass
class Located:
    """A device path as (open parent directory, last name); ``name`` is "." for a directory
    reached as a whole (e.g. ``/``). Close it when done."""

    parent: int
    name: str

    def close(self) -> None:
        os.close(self.parent)

    def __enter__(self) -> Located:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


class DeviceFS:
    """Files of one emulated phone, reached from a descriptor of its root."""

    def __init__(self, root_fd: int, owner: int | None) -> None:
        self.root_fd = root_fd
        self.owner = owner  # host id of the device's adbd user; None: this process's own ids

    @contextmanager
    def as_device_user(self) -> Iterator[None]:
        """File accesses of this thread happen as the device's adbd user."""
        if self.owner is None:
            yield
            return
        libc = ctypes.CDLL(None, use_errno=True)
        old_uid = libc.setfsuid(self.owner)
        old_gid = libc.setfsgid(self.owner)
        if libc.setfsuid(-1) != self.owner or libc.setfsgid(-1) != self.owner:
            libc.setfsgid(old_gid)
            libc.setfsuid(old_uid)
            raise PermissionError(errno.EPERM, "cannot act as the device's user")
        try:
            yield
        finally:
            libc.setfsgid(old_gid)
            libc.setfsuid(old_uid)

    # -- resolution ------------------------------------------------------------------------

    def locate(self, path: str, follow: bool = True, make_parents: bool = False) -> Located:
        """Walk ``path`` inside the device. ``follow=False`` leaves a final symlink as it is;
        ``make_parents`` creates missing directories on the way (adb's fixed_push_mkdir)."""
        pending = [p for p in path.split("/") if p not in ("", ".")]
        stack = [os.dup(self.root_fd)]
        hops = 0
        try:
            while pending:
                name = pending.pop(0)
                if name == "..":
                    if len(stack) > 1:
                        os.close(stack.pop())
                    continue
                last = not pending
                if last and not follow:
                    return self._keep(stack, name)
                try:
                    st = os.stat(name, dir_fd=stack[-1], follow_symlinks=False)
                except FileNotFoundError:
                    if last:
                        return self._keep(stack, name)
                    if not make_parents:
                        raise
                    os.mkdir(name, dir_fd=stack[-1])
                    st = os.stat(name, dir_fd=stack[-1], follow_symlinks=False)
                if stat.S_ISLNK(st.st_mode):
                    hops += 1
                    if hops > _MAX_SYMLINKS:
                        raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), path)
                    target = os.readlink(name, dir_fd=stack[-1])
                    if target.startswith("/"):
                        for fd in stack[1:]:
                            os.close(fd)
                        del stack[1:]
                    pending = [p for p in target.split("/") if p not in ("", ".")] + pending
                    continue
                if last:
                    return self._keep(stack, name)
                stack.append(os.open(name, _DIR, dir_fd=stack[-1]))
            return self._keep(stack, ".")
        except BaseException:
            for fd in stack:
                os.close(fd)
            raise

    @staticmethod
    def _keep(stack: list[int], name: str) -> Located:
        for fd in stack[:-1]:
            os.close(fd)
        kept = stack[-1]
        stack.clear()
        return Located(kept, name)

    # -- operations ------------------------------------------------------------------------

    def lstat(self, path: str) -> os.stat_result:
        with self.locate(path, follow=False) as at:
            return os.stat(at.name, dir_fd=at.parent, follow_symlinks=False)

    def stat(self, path: str) -> os.stat_result:
        with self.locate(path) as at:
            return os.stat(at.name, dir_fd=at.parent, follow_symlinks=False)

    def statvfs(self, path: str) -> os.statvfs_result:
        fd = self.open_dir(path)
        try:
            return os.fstatvfs(fd)
        finally:
            os.close(fd)

    def open_dir(self, path: str) -> int:
        """A readable descriptor of the directory ``path`` (close it)."""
        with self.locate(path) as at:
            flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
            return os.open(at.name, flags, dir_fd=at.parent)

    def list(self, path: str) -> list[tuple[str, os.stat_result | None]]:
        """Names in a directory (with "." and "..") and their lstat (None if it went away)."""
        fd = self.open_dir(path)
        try:
            entries: list[tuple[str, os.stat_result | None]] = []
            for name in [".", "..", *sorted(os.listdir(fd))]:
                try:
                    entries.append((name, os.stat(name, dir_fd=fd, follow_symlinks=False)))
                except OSError:
                    entries.append((name, None))
            return entries
        finally:
            os.close(fd)

    def open_read(self, path: str) -> int:
        with self.locate(path) as at:
            return os.open(at.name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=at.parent)

    def create(self, path: str, mode: int) -> tuple[int, Located, bool]:
        """Open ``path`` for writing (truncated, made if missing, parents too).

        Returns the descriptor, where it is (to remove it if the upload fails) and whether it
        existed before."""
        at = self.locate(path, make_parents=True)
        try:
            existed = _exists(at)
            flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC
            fd = os.open(at.name, flags, mode & 0o7777, dir_fd=at.parent)
        except BaseException:
            at.close()
            raise
        return fd, at, existed

    def make_dirs(self, path: str) -> None:
        with self.locate(path.rstrip("/") or "/", make_parents=True) as at:
            if not _exists(at):
                os.mkdir(at.name, dir_fd=at.parent)

    def replace_with_symlink(self, path: str, target: str) -> None:
        with self.locate(path, follow=False, make_parents=True) as at:
            if _exists(at):
                os.unlink(at.name, dir_fd=at.parent)
            os.symlink(target, at.name, dir_fd=at.parent)


def _exists(at: Located) -> bool:
    try:
        os.stat(at.name, dir_fd=at.parent, follow_symlinks=False)
    except FileNotFoundError:
        return False
    return True
