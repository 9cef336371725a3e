"""Worker processes that die with the process that spawned them.

A worker of a ``spawn`` pool (ExecuTorch lowering: about 490 MB each) outlived a SIGKILLed sweep,
re-parented to init, for as long as its work took and then waited forever on a queue nobody
feeds. Two guards, both armed by the worker first thing:

* ``prctl(PR_SET_PDEATHSIG, SIGKILL)``: the kernel kills the worker the moment its parent dies,
  whatever the worker is doing (a long C++ call included). The signal fires when the *thread*
  that spawned the worker ends, so it is armed only for workers spawned by the main thread,
  which lives as long as the process. :class:`Spawner` records which thread that was, at the
  moment the worker is spawned (it is pickled into the worker's start-up data then).
* a daemon thread that checks every half second that the parent is still the parent: covers
  workers spawned from another thread, systems without prctl, and a parent that died before
  the worker could arm anything.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass

_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
POLL_S = 0.5


@dataclass(frozen=True)
class Parent:
    """The process a worker must not outlive, and whether its spawning thread was the main one."""

    pid: int
    main_thread: bool


class Spawner:
    """Pass one in a pool's ``initargs``: each worker receives the :class:`Parent` as it was when
    *that* worker was spawned (pickled in the spawning thread, at spawn time)."""

    def __reduce__(self) -> tuple[type[Parent], tuple[int, bool]]:
        on_main = threading.current_thread() is threading.main_thread()
        return Parent, (os.getpid(), on_main)


def kill_on_parent_death() -> None:
    """The kernel sends this process SIGKILL when the thread that created it ends (Linux's
    ``prctl(PR_SET_PDEATHSIG)``; it survives ``exec``, so it also serves as a ``preexec_fn``).
    Elsewhere it does nothing."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)  # libc's


def die_with_parent(parent: Parent) -> None:
    """Call first thing in a worker: the worker ends when ``parent`` does."""
    if parent.main_thread:
        kill_on_parent_death()
    if os.getppid() != parent.pid:  # the parent died before the guard was armed
        os._exit(1)
    threading.Thread(target=_watch, args=(parent.pid,), daemon=True, name="parent-watch").start()


def _watch(pid: int) -> None:
    while os.getppid() == pid:
        time.sleep(POLL_S)
    os._exit(1)
