"""A report's pictures drawn beside the rest of it, in forked children.

The PNGs of a large run take matplotlib about a quarter of a second each of one core, and the
metadata, the CSVs and the workbook most of a second of pure Python; on a machine with more
than one core they need not wait for each other. :class:`Aside` forks children once the table
is built; they take pictures one at a time from a shared queue (a pipe holding the pictures'
numbers: each read takes one, so nothing is drawn twice), while the parent writes the rest and
then takes pictures from the same queue until it is empty. However long the parent's own work,
no core waits while a picture is left.

Only where a fork is safe and useful: on Linux (a fork hands the children the table and the
imported matplotlib as they are, with nothing pickled or imported again), with more than one
core, and in a process with no other thread (a thread holding a lock at the moment of the fork,
one printing progress say, would leave the child's copy of that lock held forever). Anywhere
else the parent draws every picture itself, in order. Each child says which pictures it
finished; one that fails, is killed or outlives its deadline costs time only: the parent draws
whatever it had taken, so an error surfaces as it would have without children. The children die
with their parent (``PR_SET_PDEATHSIG``), and a parent that stops on an exception kills them.
"""

from __future__ import annotations

import gc
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType

DEADLINE_S = 300.0  # a child still drawing then is killed; what it had taken is drawn here
POLL_S = 0.01
MAX_JOBS = 255  # a picture's number is one byte in the queue

# A picture: the file it writes, and what draws it there.
Job = tuple[Path, Callable[[], object]]


def workers_for(jobs: int) -> int:
    """How many children to fork for ``jobs`` pictures: one per core beyond this process's own
    (which writes the rest meanwhile, then draws too), fewer than the pictures; 0 where a fork
    is not safe or would not help."""
    if not sys.platform.startswith("linux") or threading.active_count() > 1:
        return 0
    if not 2 <= jobs <= MAX_JOBS:
        return 0
    return max(0, min(len(os.sched_getaffinity(0)) - 1, jobs - 1))


class Aside:
    """``with Aside(jobs) as aside: <write the rest>``, then ``aside.finish()``: the pictures'
    paths, in order, every one drawn."""

    def __init__(
        self, jobs: Sequence[Job], workers: int | None = None, deadline_s: float = DEADLINE_S
    ) -> None:
        self.jobs = list(jobs)
        self.workers = workers_for(len(self.jobs)) if workers is None else workers
        self.deadline_s = deadline_s
        self.children: list[int] = []
        self._queue: int | None = None  # read end: the numbers of the pictures not yet taken
        self._done: int | None = None  # read end: the numbers the children finished
        self._drawn = [False] * len(self.jobs)

    def __enter__(self) -> Aside:
        if self.workers > 0 and len(self.jobs) <= MAX_JOBS:
            self._start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is not None:
            self.stop()

    def _start(self) -> None:
        queue_r, queue_w = os.pipe()
        done_r, done_w = os.pipe()
        os.write(queue_w, bytes(range(len(self.jobs))))  # 255 bytes at most: never blocks
        os.close(queue_w)  # nobody holds the write end: an empty queue reads as its end
        self._queue, self._done = queue_r, done_r
        # Every object there is now moves to the collector's permanent generation until the
        # children are done: a collection in either process would otherwise walk (and so copy)
        # the pages the fork shares. 0.3-0.4 s less for a report of 333 splits.
        gc.freeze()
        for _ in range(self.workers):
            try:
                pid = os.fork()
            except OSError:
                break  # fewer children: the parent draws more
            if pid == 0:
                self._child(done_w)
            self.children.append(pid)
        os.close(done_w)  # the children hold theirs: the parent reads to the last one's end

    def _child(self, done_w: int) -> None:
        """Draw pictures from the queue until it is empty, saying each one finished; never
        return (the parent's cleanup, buffers and atexit handlers are not the child's)."""
        from splitbench.orphans import kill_on_parent_death

        code = 1
        try:
            kill_on_parent_death()
            assert self._queue is not None
            while taken := os.read(self._queue, 1):
                self.jobs[taken[0]][1]()
                os.write(done_w, taken)
            code = 0
        finally:
            os._exit(code)

    def finish(self) -> list[Path]:
        """Draw here what is still queued, wait for the children (until the deadline), draw
        here whatever they took and did not finish, and return every picture's path."""
        if self._queue is not None:
            try:
                while taken := os.read(self._queue, 1):
                    self._draw(taken[0])
            except BaseException:
                self.stop()
                raise
            self._wait()
        for i in range(len(self.jobs)):
            if not self._drawn[i]:
                self._draw(i)
        return [path for path, _draw in self.jobs]

    def _draw(self, i: int) -> None:
        self.jobs[i][1]()
        self._drawn[i] = True

    def _wait(self) -> None:
        end = time.monotonic() + self.deadline_s
        while self.children:
            late = time.monotonic() >= end
            for pid in list(self.children):
                done, _status = os.waitpid(pid, os.WNOHANG)
                if done == 0 and late:
                    _kill(pid)  # past the deadline: what it had taken is drawn here
                if done != 0 or late:
                    self.children.remove(pid)
            if self.children:
                time.sleep(POLL_S)
        self._collect()

    def _collect(self) -> None:
        """The pictures the children said they finished (every child has ended)."""
        if self._done is None:
            return
        while finished := os.read(self._done, 4096):
            for i in finished:
                self._drawn[i] = True
        self._close()

    def stop(self) -> None:
        """Kill the children (the pictures they had not finished stay undrawn)."""
        for pid in self.children:
            _kill(pid)
        self.children.clear()
        self._close()

    def _close(self) -> None:
        if self._queue is not None:  # started: the objects frozen then are collectable again
            gc.unfreeze()
        for fd in (self._queue, self._done):
            if fd is not None:
                os.close(fd)
        self._queue = self._done = None


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    except (ProcessLookupError, ChildProcessError):
        pass
