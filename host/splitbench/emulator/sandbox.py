"""Per-device sandbox: a private mount namespace in which device paths exist on this host.

How it works (and why):

- One *holder* process per device is started with ``unshare -rm`` (a user namespace mapping the
  current user to root, plus a private mount namespace). Inside it, a small tmpfs becomes a new
  root; every top-level directory of the host (``/usr``, ``/bin``, ``/etc``, ``/proc``, ``/tmp``,
  ``/work``, ...) is recursively bind-mounted into it, so the kit's tools and interpreters run as
  they do on the host. Then the Android paths are added: ``/data`` is a tmpfs whose size is the
  device's storage quota (``/data/local/tmp``, ``/data/media/0``), ``/sdcard`` and
  ``/storage/emulated/0`` are symlinks to ``/data/media/0`` as on a phone, ``/system`` and
  ``/sys`` are bound from the device directory (see :mod:`.profile`). The host itself is never
  changed: no ``/data`` is created on it and the real ``/sys`` is not touched.
- The holder chroots into that root and waits on a pipe from this process: if this process
  dies without cleaning up, the pipe closes and the holder (and with it the namespace and
  its tmpfs) goes away. Each shell command enters the holder's
  namespaces and root with ``nsenter`` and runs ``/bin/sh -c CMD`` (dash here), so files written
  by one command are seen by the next, and by the sync service.
- The sync service (running in this Python process) reaches the same files through
  ``/proc/<holder>/root``; symlinks inside the sandbox are resolved against the sandbox root.
- The quota is a real tmpfs limit: pushes and shell writes beyond it fail with ENOSPC
  ("No space left on device") and ``df /data`` reports the quota. A "full storage" fault shrinks
  the tmpfs to what is already used.

Limits: commands run as root of the user namespace (uid 0 inside, this user outside), not as
Android's ``shell`` user; files under ``/data`` live in memory and vanish when the emulator
stops; the rest of the host's file system is visible (and writable where this user may write).
"""

from __future__ import annotations

import contextlib
import errno
import os
import posixpath
import selectors
import signal
import subprocess
import time
from pathlib import Path

from splitbench.errors import DeviceError

#: Environment of every command, close to an Android shell's.
DEVICE_ENV = {
    "PATH": "/system/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "HOME": "/",
    "ANDROID_DATA": "/data",
    "ANDROID_ROOT": "/system",
    "EXTERNAL_STORAGE": "/sdcard",
    "TMPDIR": "/data/local/tmp",
    "LANG": "C.UTF-8",
}

_HOLDER_SCRIPT = r"""
set -u
R=$1; SYSTEM=$2; SYS=$3; SIZE=$4
mount -t tmpfs -o mode=755,size=16m sbroot "$R" || exit 1
for e in /*; do
  n=${e#/}
  case $n in data|sdcard|system|sys|storage) continue ;; esac
  if [ -L "$e" ]; then ln -s "$(readlink "$e")" "$R/$n"; continue; fi
  [ -d "$e" ] || continue
  mkdir "$R/$n" && { mount --rbind "$e" "$R/$n" 2>/dev/null || rmdir "$R/$n"; }
done
mkdir -p "$R/data" "$R/system" "$R/sys" "$R/storage/emulated" || exit 1
mount --bind "$SYSTEM" "$R/system" || exit 1
mount --bind "$SYS" "$R/sys" || exit 1
mount -t tmpfs -o "mode=771,size=$SIZE" sbdata "$R/data" || exit 1
mkdir -p "$R/data/local/tmp" "$R/data/media/0" || exit 1
ln -s /data/media/0 "$R/sdcard"
ln -s /data/media/0 "$R/storage/emulated/0"
echo ready
exec chroot "$R" /bin/sh -c 'read -r _ || :'
"""

_START_TIMEOUT = 15.0
_MAX_SYMLINKS = 40


def default_storage_bytes() -> int:
    """Half the host's memory: what an unsized tmpfs would get, stated explicitly so that
    lifting a "full storage" fault can restore it."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024 // 2
    except (OSError, ValueError, IndexError):
        pass
    return 4 * 1024**3


class Sandbox:
    """The device paths of one emulated phone, and a way to run commands among them."""

    def __init__(self, root: Path, storage_bytes: int | None) -> None:
        self.root = root
        self.storage_bytes = storage_bytes or default_storage_bytes()
        self._holder: subprocess.Popen[bytes] | None = None

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        """Start the holder and wait until its mounts are in place."""
        mountpoint = self.root / "rootfs"
        mountpoint.mkdir(parents=True, exist_ok=True)
        argv = [
            "unshare",
            "-rm",
            "--propagation",
            "private",
            "/bin/sh",
            "-c",
            _HOLDER_SCRIPT,
            "sbholder",
            str(mountpoint),
            str(self.root / "system"),
            str(self.root / "sys"),
            str(self.storage_bytes),
        ]
        holder = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        self._holder = holder
        assert holder.stdout is not None
        with selectors.DefaultSelector() as sel:
            sel.register(holder.stdout, selectors.EVENT_READ)
            ready = sel.select(timeout=_START_TIMEOUT)
        line = holder.stdout.readline() if ready else b""
        if line.strip() != b"ready":
            self.stop()
            err = holder.stderr.read().decode(errors="replace").strip() if holder.stderr else ""
            raise DeviceError(
                "cannot start the emulated phone's sandbox (needs unshare -rm: user and mount "
                f"namespaces): {err or 'no answer from the holder'}"
            )

    def stop(self) -> None:
        """Kill the holder; the namespace and its tmpfs go away with the last process in it."""
        holder, self._holder = self._holder, None
        if holder is None:
            return
        if holder.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(holder.pid, signal.SIGKILL)
        holder.wait(timeout=5)
        for stream in (holder.stdin, holder.stdout, holder.stderr):
            if stream is not None:
                stream.close()

    @property
    def holder_pid(self) -> int:
        if self._holder is None or self._holder.poll() is not None:
            raise DeviceError("the emulated phone's sandbox is not running")
        return self._holder.pid

    # -- commands --------------------------------------------------------------------------

    def argv(self, command: list[str]) -> list[str]:
        """The host argv that runs ``command`` inside the sandbox (``nsenter`` execs it, so the
        returned process id is the command's own)."""
        return [
            "nsenter",
            "-t",
            str(self.holder_pid),
            "-U",
            "-m",
            "-r",
            "-w",
            "--preserve-credentials",
            *command,
        ]

    def run(self, script: str, timeout: float = 10.0) -> subprocess.CompletedProcess[bytes]:
        """Run a short administrative command (e.g. remounting ``/data``) to completion."""
        return subprocess.run(
            self.argv(["/bin/sh", "-c", script]),
            capture_output=True,
            timeout=timeout,
            env=DEVICE_ENV,
            stdin=subprocess.DEVNULL,
        )

    # -- storage ---------------------------------------------------------------------------

    def usage(self) -> tuple[int, int]:
        """(used, total) bytes of ``/data`` as ``df`` sees them."""
        st = os.statvfs(self.host_path("/data"))
        return (st.f_blocks - st.f_bfree) * st.f_frsize, st.f_blocks * st.f_frsize

    def set_quota(self, size: int) -> None:
        """Resize ``/data``; fails if ``size`` is below what is already stored."""
        done = self.run(f"mount -o remount,size={int(size)} /data")
        if done.returncode != 0:
            raise DeviceError(
                f"cannot resize the emulated /data to {size} bytes: "
                + done.stderr.decode(errors="replace").strip()
            )
        self.storage_bytes = int(size)

    def fill(self) -> None:
        """Full-storage fault: shrink ``/data`` to exactly what it holds, so any write fails."""
        for _ in range(3):
            used, _total = self.usage()
            try:
                self.set_quota(max(used, os.sysconf("SC_PAGE_SIZE")))
                return
            except DeviceError:
                time.sleep(0.05)  # something was written meanwhile; measure again
        raise DeviceError("cannot fill the emulated /data")

    # -- paths -----------------------------------------------------------------------------

    def host_path(self, device_path: str, follow: bool = True) -> Path:
        """The host path of a device path, resolving symlinks against the sandbox root.

        ``follow=False`` leaves the last component unresolved (for lstat and for creating it).
        """
        base = f"/proc/{self.holder_pid}/root"
        return Path(base + self._resolve(base, device_path, follow))

    @staticmethod
    def _resolve(base: str, device_path: str, follow: bool) -> str:
        pending = [p for p in device_path.split("/") if p not in ("", ".")]
        resolved: list[str] = []
        hops = 0
        while pending:
            part = pending.pop(0)
            if part == "..":
                if resolved:
                    resolved.pop()
                continue
            candidate = "/" + "/".join([*resolved, part])
            if not pending and not follow:
                resolved.append(part)
                break
            try:
                target = os.readlink(base + candidate)
            except OSError:
                resolved.append(part)
                continue
            hops += 1
            if hops > _MAX_SYMLINKS:
                raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), device_path)
            if target.startswith("/"):
                resolved = []
            pending = [p for p in target.split("/") if p not in ("", ".")] + pending
        return posixpath.normpath("/" + "/".join(resolved))
