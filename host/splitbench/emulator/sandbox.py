"""Per-device sandbox: the emulated phone's own file system, in namespaces of its own.

The promise is a phone's: any local process can reach the emulator (adb has no
authentication), so a command sent to the phone must act on the phone, never on this computer.

How it is built (and why):

- A *builder* (``unshare -m --fork``, plus ``-r`` when this user is not root) gets a private
  mount namespace. On a small tmpfs it lays out the device: the read-only view of this host
  that :mod:`.hostview` lists (system directories, a few ``/etc`` entries, the kit's
  interpreter and packages wherever they live, ``/dev/null`` and friends), ``/proc``, ``/system``
  and ``/sys`` bound read-only from the device directory (see :mod:`.profile`), and ``/data``, a
  tmpfs whose size is the storage quota, with ``/data/local/tmp`` and ``/data/media/0`` owned by
  the shell user and ``/sdcard``, ``/storage/emulated/0`` pointing there as on a phone. It then
  makes that tmpfs the namespace's root (``pivot_root``; the old root is detached, so nothing
  leads back to the host's tree) and remounts it read-only.
- The builder's child then becomes the *holder*: it moves into a new user namespace with a
  copy of the mount namespace. The kernel locks every mount in such a copy, so even root inside
  the device cannot remount a read-only bind writable or unmount it to see what lies below. It
  waits on a pipe from this process, so it goes away if this process dies.
- Processes: the device has a PID namespace and a ``/proc`` of its own, with the holder as
  PID 1 (it reaps orphans; every device process dies with it). ``ps`` and ``/proc`` list the
  device's processes only: neither this host's nor another phone's can be named, read or
  signalled from the device. Pids the device reports (``$$``, the kit's pid files) are pids
  of its namespace; :meth:`Sandbox.host_pid` finds the host pid behind one.
- Each shell command enters the holder's namespaces with ``nsenter`` and runs
  ``/bin/sh -c CMD`` (dash here) in a session of its own; files written by one command are seen
  by the next and by the sync service, which reaches them through a directory descriptor of
  the device root (see :mod:`.devicefs`).

Who commands run as: when this process is root, the device has its own ids — device uids and
gids 0–2000 are a range of host ids from 2000000000 up that no account uses and no other
running phone holds (:mod:`.idrange`) — and commands run as Android's ``shell`` user (uid
2000) unless the device was started with ``root=True`` (as after ``adb root``); ``su`` is not
emulated. Files pushed with sync belong to the same user. A user
that is not root can only map itself: commands then run as root of the device (which is that
user on the host, still confined to the device's file system); :data:`SHELL_USER_NOTE` says so.

What a command can change: ``/data`` (memory, gone when the emulator stops; pushes and writes
beyond the quota fail with ENOSPC, ``df /data`` reports the quota). Everything else is
read-only ("Read-only file system"), or not there; as ``shell``, ``/data`` outside
``/data/local/tmp`` and ``/sdcard`` is "Permission denied" as on a phone. A "full storage"
fault shrinks the ``/data`` tmpfs to what is already used.

Not isolated: the network (a device command can open sockets, as an app on a phone can, to
anything this host reaches: loopback services, the emulator's own adb port and through it the
other phones, abstract unix sockets) and the CPU and memory (shared, as measurements on the
emulated phone are host measurements).
"""

from __future__ import annotations

import contextlib
import os
import selectors
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

from splitbench.emulator.devicefs import DeviceFS
from splitbench.emulator.hostview import HostView, host_view, mount_script
from splitbench.emulator.idrange import IdRange, allocate
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

#: Android's ``shell`` user, which ``adb shell`` commands run as on a phone.
SHELL_UID = 2000
#: Said once at start-up when commands cannot run as the shell user.
SHELL_USER_NOTE = (
    "note: commands on the emulated phone run as root of the device, not as Android's shell "
    "user (uid 2000): giving the device ids of its own needs root on this host"
)

_START_TIMEOUT = 20.0

#: PID 1 of the device: reaps orphans, waits for "go" (ids mapped), then for the pipe to close.
_HOLDER = r"""
import os, signal, sys
def reap(*_):
    try:
        while os.waitpid(-1, os.WNOHANG)[0]:
            pass
    except ChildProcessError:
        pass
signal.signal(signal.SIGCHLD, reap)
os.write(1, b"unshared\n")
if not os.read(0, 64):
    sys.exit(1)
os.write(1, b"ready\n")
while os.read(0, 4096):
    pass
"""


def ids_of_their_own() -> bool:
    """Whether devices get host ids of their own (a range each): only root can map them."""
    return os.geteuid() == 0


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

    def __init__(
        self,
        root: Path,
        storage_bytes: int | None,
        as_root: bool = False,
        mapped: bool | None = None,
    ) -> None:
        self.root = root
        self.storage_bytes = storage_bytes or default_storage_bytes()
        #: ids of its own (a range of host ids, held while running), or just this user's
        self.mapped = ids_of_their_own() if mapped is None else mapped
        #: the device user commands and sync run as: the shell user, or root when asked (or
        #: when the device cannot have ids of its own)
        self.user = 0 if as_root or not self.mapped else SHELL_UID
        self.ids: IdRange | None = None
        self._builder: subprocess.Popen[bytes] | None = None
        self._holder_pid: int | None = None
        self._root_fd: int | None = None
        self.fs: DeviceFS | None = None

    # -- lifecycle -------------------------------------------------------------------------

    def start(self, view: HostView | None = None) -> None:
        """Build the device and wait until its holder is ready."""
        mountpoint = self.root / "rootfs"
        mountpoint.mkdir(parents=True, exist_ok=True)
        etc = self._write_etc()
        if self.mapped:
            try:
                self.ids = allocate()
            except OSError as exc:
                raise DeviceError(f"no host ids for the emulated phone: {exc.strerror}") from None
        script = self._build_script(view or host_view(), mountpoint, etc)
        argv = ["unshare", *([] if self.mapped else ["-r"]), "-m", "-p", "--fork"]
        argv += ["--propagation", "private", "/bin/sh", "-c", script]
        # Unbuffered: _expect waits on the pipe with select, which cannot see lines a buffered
        # reader already pulled in (under load "built" and "unshared" arrive in one read).
        builder = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
            bufsize=0,
        )
        self._builder = builder
        try:
            self._expect(b"built")
            self._expect(b"unshared")
            holder = self._find_holder(builder.pid)
            if self.ids is not None:
                ids = f"0 {self.ids.base} {SHELL_UID + 1}\n"
                for name in ("uid_map", "gid_map"):
                    Path(f"/proc/{holder}/{name}").write_text(ids)
            assert builder.stdin is not None
            builder.stdin.write(b"go\n")
            builder.stdin.flush()
            self._expect(b"ready")
            self._holder_pid = holder
            self._root_fd = os.open(f"/proc/{holder}/root", os.O_PATH | os.O_DIRECTORY)
        except (DeviceError, OSError) as exc:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(builder.pid, signal.SIGKILL)
            builder.wait(timeout=5)
            err = builder.stderr.read().decode(errors="replace").strip() if builder.stderr else ""
            self.stop()
            detail = err.splitlines()[-1] if err else str(exc)
            raise DeviceError(
                "cannot start the emulated phone's sandbox (needs unshare and nsenter with user, "
                f"mount and PID namespaces): {detail}"
            ) from None
        owner = self.ids.host_id(self.user) if self.ids is not None else None
        self.fs = DeviceFS(self._root_fd, owner)

    def _expect(self, word: bytes) -> None:
        builder = self._builder
        assert builder is not None and builder.stdout is not None
        with selectors.DefaultSelector() as sel:
            sel.register(builder.stdout, selectors.EVENT_READ)
            ready = sel.select(timeout=_START_TIMEOUT)
        line = builder.stdout.readline() if ready else b""
        if line.strip() != word:
            raise DeviceError(f"no {word.decode()!r} from the holder")

    @staticmethod
    def _find_holder(builder_pid: int) -> int:
        """The host pid of PID 1 of the device: the builder's only child."""
        children = Path(f"/proc/{builder_pid}/task/{builder_pid}/children")
        with contextlib.suppress(OSError, ValueError):
            return int(children.read_text().split()[0])
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            with contextlib.suppress(OSError, ValueError, IndexError):
                fields = (entry / "stat").read_text().rsplit(")", 1)[-1].split()
                if int(fields[1]) == builder_pid:
                    return int(entry.name)
        raise DeviceError("the holder of the emulated phone did not start")

    def _write_etc(self) -> Path:
        """The device's own passwd and group: root and shell, as on Android."""
        etc = self.root / "etc"
        etc.mkdir(parents=True, exist_ok=True)
        (etc / "passwd").write_text(
            f"root:x:0:0:root:/:/bin/sh\nshell:x:{SHELL_UID}:{SHELL_UID}:shell:/:/bin/sh\n"
        )
        (etc / "group").write_text(f"root:x:0:\nshell:x:{SHELL_UID}:\n")
        return etc

    def _build_script(self, view: HostView, mountpoint: Path, etc: Path) -> str:
        q = shlex.quote
        r = str(mountpoint)
        # as the builder (outside the device) sees them: the range's, or its own root
        root_id = self.ids.host_id(0) if self.ids is not None else 0
        shell_id = self.ids.host_id(SHELL_UID) if self.ids is not None else 0
        holder_ns = "-U" if self.mapped else "-r"
        return f"""set -eu
mount -t tmpfs -o mode=755,size=16m sbroot {q(r)}
{mount_script(view, r, str(etc))}
mkdir -p {q(r)}/proc {q(r)}/system {q(r)}/sys {q(r)}/data {q(r)}/storage/emulated
mount -t proc -o nosuid,nodev,noexec sbproc {q(r)}/proc
mount --bind -o ro {q(str(self.root / "system"))} {q(r)}/system
mount --bind -o ro {q(str(self.root / "sys"))} {q(r)}/sys
mount -t tmpfs -o mode=771,size={int(self.storage_bytes)} sbdata {q(r)}/data
mkdir -p {q(r)}/data/local/tmp {q(r)}/data/media/0
chmod 751 {q(r)}/data/local
chmod 771 {q(r)}/data/local/tmp
chmod 775 {q(r)}/data/media {q(r)}/data/media/0
chown {root_id}:{root_id} {q(r)}/data {q(r)}/data/local {q(r)}/data/media
chown {shell_id}:{shell_id} {q(r)}/data/local/tmp {q(r)}/data/media/0
ln -s /data/media/0 {q(r)}/sdcard
ln -s /data/media/0 {q(r)}/storage/emulated/0
cd {q(r)}
pivot_root . .
umount -l .
cd /
mount -o remount,ro /
echo built
exec unshare {holder_ns} -m --propagation private {q(sys.executable)} -I -S -c {q(_HOLDER)}
"""

    def stop(self) -> None:
        """Kill the builder and the holder; every device process dies with the holder."""
        builder, self._builder = self._builder, None
        holder, self._holder_pid = self._holder_pid, None
        self.fs = None
        if self._root_fd is not None:
            os.close(self._root_fd)
            self._root_fd = None
        if builder is not None:
            if builder.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(builder.pid, signal.SIGKILL)
            builder.wait(timeout=5)
            for stream in (builder.stdin, builder.stdout, builder.stderr):
                if stream is not None:
                    stream.close()
        if holder is not None:
            _await_exit(holder)
        if self.ids is not None:  # only once the device's processes are gone
            self.ids.release()
            self.ids = None

    @property
    def holder_pid(self) -> int:
        """Host pid of PID 1 of the device."""
        if self._holder_pid is None or self._builder is None or self._builder.poll() is not None:
            raise DeviceError("the emulated phone's sandbox is not running")
        return self._holder_pid

    @property
    def files(self) -> DeviceFS:
        """The device's files, as its adbd user reaches them (for the sync service)."""
        if self.fs is None:
            raise DeviceError("the emulated phone's sandbox is not running")
        return self.fs

    # -- commands --------------------------------------------------------------------------

    def argv(self, command: list[str]) -> list[str]:
        """The host argv that runs ``command`` in the device, as the device's user.

        Entering a PID namespace takes a fork: ``nsenter`` stays outside as the command's
        parent, and the command leads a session of its own (see :meth:`command_pid`)."""
        if self.mapped:
            ids = ["-S", str(self.user), "-G", str(self.user)]
        else:
            ids = ["--preserve-credentials"]
        target = ["nsenter", "-t", str(self.holder_pid), "-U", "-m", "-r", "-w", "-p", *ids]
        return [*target, "--", "setsid", *command]

    def command_pid(self, launcher_pid: int) -> int | None:
        """Host pid of the command an :meth:`argv` process runs (the leader of its process
        group), or None before ``nsenter`` has started it."""
        children = Path(f"/proc/{launcher_pid}/task/{launcher_pid}/children")
        try:
            found = children.read_text().split()
        except OSError:
            return None
        return int(found[0]) if found else None

    def host_pid(self, device_pid: int) -> int | None:
        """The host pid of the device process whose pid in the device is ``device_pid`` (as
        ``$$`` or a pid file on the device says), or None if the device has no such process.

        Found through the host's ``/proc``: among processes in the device's PID namespace, the
        one whose innermost ``NSpid`` is ``device_pid``."""
        device_ns = os.stat(f"/proc/{self.holder_pid}/ns/pid")
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            with contextlib.suppress(OSError, ValueError):
                ns = os.stat(entry / "ns" / "pid")
                if (ns.st_dev, ns.st_ino) != (device_ns.st_dev, device_ns.st_ino):
                    continue
                for line in (entry / "status").read_text().splitlines():
                    if line.startswith("NSpid:") and int(line.split()[-1]) == device_pid:
                        return int(entry.name)
        return None

    def run(self, script: str, timeout: float = 10.0) -> subprocess.CompletedProcess[bytes]:
        """Run an administrative command (e.g. resizing ``/data``) from outside the device:
        in the builder's namespaces, with the powers the device's own root does not have."""
        builder = self._builder
        if builder is None or builder.poll() is not None:
            raise DeviceError("the emulated phone's sandbox is not running")
        enter = ["nsenter", "-t", str(builder.pid), "-m", "-r", "-w"]
        if not self.mapped:
            enter += ["-U", "--preserve-credentials"]
        return subprocess.run(
            [*enter, "/bin/sh", "-c", script],
            capture_output=True,
            timeout=timeout,
            env=DEVICE_ENV,
            stdin=subprocess.DEVNULL,
        )

    # -- storage ---------------------------------------------------------------------------

    def usage(self) -> tuple[int, int]:
        """(used, total) bytes of ``/data`` as ``df`` sees them."""
        st = self.files.statvfs("/data")
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


def _await_exit(pid: int, timeout: float = 5.0) -> None:
    """Wait until ``pid`` has exited (gone or a zombie). The holder, PID 1 of the device,
    exits only once every process of its namespace has been killed: after this, none runs."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0]
        except (OSError, IndexError):
            return
        if state in ("Z", "X"):
            return
        time.sleep(0.01)
