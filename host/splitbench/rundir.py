"""The run directory (``--out``): checked before any work, locked while a sweep writes to it,
with a scratch folder per process for the part files.

Why a lock and not per-row claims: a sweep already resumes from the database, so a second sweep
of the same directory has nothing to add while the first one runs — it would only compete for
the same cores and measure worse. One ``flock`` per run directory makes "each measurement done
once" hold by construction; the second process is told, in one line, which process is running
(the lock dies with its process, so a crashed sweep never leaves a stale lock). Several phones of
*one* sweep still write in parallel into the database.

Why per-process scratch: part files are written, measured and deleted per split; giving each
process its own folder (``OUT/.scratch/PID-…``) means no process ever deletes or overwrites a
file another one is measuring, and a folder left by a killed process is recognised (its pid is
gone) and removed by the next sweep.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from splitbench.errors import SplitbenchError

LOCK_NAME = ".splitbench.lock"
SCRATCH_NAME = ".scratch"
KERNEL_FILESYSTEMS = ("/proc", "/sys", "/dev")


class RunDirError(SplitbenchError):
    """--out cannot be used: not a folder, not writable, full, or a kernel file system."""


class RunDirBusy(SplitbenchError):
    """Another sweep holds the run directory."""

    exit_code = 75  # EX_TEMPFAIL: try again later


def os_error_line(path: Path, exc: OSError) -> str:
    """One line for a file-system fault at ``path`` that says what to do."""
    code = exc.errno
    reason = os.strerror(code) if code else str(exc)
    advice = {
        errno.ENOSPC: "free some space (or use another --out) and rerun the same command to resume",
        errno.EDQUOT: "free some space (or use another --out) and rerun the same command to resume",
        errno.EROFS: "the file system is read-only; use a writable --out",
        errno.EACCES: "you cannot write there; use a writable --out",
        errno.EPERM: "you cannot write there; use a writable --out",
        errno.EEXIST: "a file of that name is in the way; use another --out",
        errno.ENOTDIR: "a file is in the way where a folder is needed; use another --out",
    }.get(code or -1, "check the path, or use another --out")
    return f"{path}: {reason}; {advice}"


def prepare(out: Path) -> Path:
    """Create ``out`` (or check the existing folder) and prove it is writable, before any work."""
    resolved = out.expanduser().absolute()
    real = Path(os.path.realpath(resolved))
    for root in KERNEL_FILESYSTEMS:
        if real == Path(root) or Path(root) in real.parents:
            raise RunDirError(
                f"{out}: is under {root}, a kernel interface, not a place for results; "
                "use a folder on a real disk for --out"
            )
    if resolved.exists() and not resolved.is_dir():
        raise RunDirError(f"{out}: exists and is not a folder; use another --out")
    try:
        resolved.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".write-check-", dir=resolved)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise RunDirError(os_error_line(out, exc)) from None
    return out


@contextmanager
def run_directory(out: Path) -> Iterator[Path]:
    """The run directory ``out``, prepared (:func:`prepare`) and locked (:class:`RunLock`) for
    the block: the one way a command takes a run directory. A folder this call created is
    removed again when the block fails before anything was recorded in it."""
    created = not out.expanduser().exists()
    prepare(out)
    lock = RunLock(out)
    lock.acquire()
    try:
        yield out
    except BaseException:
        if created:
            remove_if_unused(out)  # a refused first sweep leaves no folder behind
        raise
    finally:
        lock.release()


def remove_if_unused(out: Path) -> None:
    """Remove a run directory this process created when the command stopped before anything
    was recorded in it (no results database): a refused sweep leaves no folder behind. Called
    under the run lock, so no other sweep can be using it."""
    from splitbench.results.store import DB_NAME

    if not (out / DB_NAME).exists():
        shutil.rmtree(out, ignore_errors=True)


_held: dict[Path, tuple[int, int]] = {}  # run dir -> (fd, depth): re-entrant within a process
_held_lock = threading.Lock()


class RunLock:
    """Exclusive use of a run directory by one process (re-entrant inside that process)."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = Path(os.path.realpath(run_dir))
        self.path = self.run_dir / LOCK_NAME

    def acquire(self) -> None:
        with _held_lock:
            if self.run_dir in _held:
                fd, depth = _held[self.run_dir]
                _held[self.run_dir] = (fd, depth + 1)
                return
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as exc:
                raise RunDirError(os_error_line(self.path, exc)) from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _holder_pid(fd)
                os.close(fd)
                who = f" (pid {holder})" if holder else ""
                raise RunDirBusy(
                    f"another sweep is running in {self.run_dir}{who}; wait for it to finish "
                    "(then rerun to add what is missing) or use another --out"
                ) from None
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
            _held[self.run_dir] = (fd, 1)

    def release(self) -> None:
        with _held_lock:
            if self.run_dir not in _held:
                return
            fd, depth = _held[self.run_dir]
            if depth > 1:
                _held[self.run_dir] = (fd, depth - 1)
                return
            del _held[self.run_dir]
            os.close(fd)  # closing releases the flock; the file stays (its pid is stale)

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _holder_pid(fd: int, wait: float = 1.0) -> int | None:
    """The pid the holder of the lock wrote. A holder that has just taken the lock may not have
    written it yet (two sweeps started together): read again for up to ``wait`` seconds."""
    deadline = time.monotonic() + wait
    while True:
        pid = _read_pid(fd)
        if pid is not None or time.monotonic() >= deadline:
            return pid
        time.sleep(0.01)


def _read_pid(fd: int) -> int | None:
    try:
        return int(os.pread(fd, 32, 0).decode().strip() or 0) or None
    except (OSError, ValueError):
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def make_scratch(run_dir: Path) -> Path:
    """A fresh scratch folder for this process's part files; folders of dead processes go."""
    root = run_dir / SCRATCH_NAME
    try:
        root.mkdir(parents=True, exist_ok=True)
        for old in root.iterdir():
            pid = old.name.split("-", 1)[0]
            if pid.isdigit() and not _alive(int(pid)):
                shutil.rmtree(old, ignore_errors=True)
        return Path(tempfile.mkdtemp(prefix=f"{os.getpid()}-", dir=root))
    except OSError as exc:
        raise RunDirError(os_error_line(root, exc)) from None


def remove_scratch(scratch: Path) -> None:
    shutil.rmtree(scratch, ignore_errors=True)
    with contextlib.suppress(OSError):
        scratch.parent.rmdir()  # only when no other process has a folder there
