"""A report's pictures drawn beside the rest of it, in forked children.

The PNGs of a large run take matplotlib about a quarter of a second each of one core, and the
workbook, the CSVs and the page another second of pure Python; on a machine with more than one
core they need not wait for each other. :class:`Aside` forks children once the table is built;
they draw their share of the pictures and exit, while the parent writes the rest, and the
parent collects them before it says what it wrote.

Only where a fork is safe and useful: on Linux (a fork hands the children the table and the
imported matplotlib as they are, with nothing pickled or imported again), with more than one
core, and in a process with no other thread (a thread holding a lock at the moment of the
fork, one printing progress say, would leave the child's copy of that lock held forever).
Anywhere else the parent draws the pictures itself, in order. A child that fails, is killed
or outlives :data:`DEADLINE_S` costs time only: the parent draws that child's pictures again
itself, so an error surfaces as it would have without children. The children die with their
parent (``PR_SET_PDEATHSIG``), and a parent that stops on an exception kills them.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType

DEADLINE_S = 300.0  # a child still drawing then is killed; its pictures are drawn again here
POLL_S = 0.01

# A picture: the file it writes, and what draws it there.
Job = tuple[Path, Callable[[], object]]


def workers_for(jobs: int) -> int:
    """How many children to fork for ``jobs`` pictures: one per core beyond this process's own
    (which writes the rest meanwhile), at most one per picture; 0 where a fork is not safe."""
    if not sys.platform.startswith("linux") or jobs < 2 or threading.active_count() > 1:
        return 0
    cores = len(os.sched_getaffinity(0))
    return max(0, min(cores - 1, jobs))


class Aside:
    """``with Aside(jobs) as aside: <write the rest>``, then ``aside.finish()``: the pictures'
    paths, in order, every one drawn. The jobs are dealt to the children round robin."""

    def __init__(
        self, jobs: Sequence[Job], workers: int | None = None, deadline_s: float = DEADLINE_S
    ) -> None:
        self.jobs = list(jobs)
        self.workers = workers_for(len(self.jobs)) if workers is None else workers
        self.deadline_s = deadline_s
        self._children: dict[int, list[int]] = {}  # pid → indices of its jobs
        self._done = [False] * len(self.jobs)  # drawn by a child

    def __enter__(self) -> Aside:
        shares = [list(range(w, len(self.jobs), self.workers)) for w in range(self.workers)]
        for share in shares:
            if share:
                self._fork(share)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is not None:
            self._kill_all()

    def _fork(self, share: list[int]) -> None:
        from splitbench.orphans import kill_on_parent_death

        try:
            pid = os.fork()
        except OSError:
            return  # the parent draws them
        if pid == 0:  # the child: draw, then leave without running the parent's cleanup
            code = 1
            try:
                kill_on_parent_death()
                for i in share:
                    self.jobs[i][1]()
                code = 0
            finally:
                os._exit(code)
        self._children[pid] = share

    def finish(self) -> list[Path]:
        """Wait for the children (until the deadline), draw here whatever they did not, and
        return every job's path in order."""
        end = time.monotonic() + self.deadline_s
        while self._children:
            for pid, share in list(self._children.items()):
                done, status = os.waitpid(pid, os.WNOHANG)
                if done == 0 and time.monotonic() < end:
                    continue
                if done == 0:  # past the deadline: stop it, draw its share here
                    _kill(pid)
                elif os.waitstatus_to_exitcode(status) == 0:
                    for i in share:
                        self._done[i] = self.jobs[i][0].is_file()
                del self._children[pid]
            if self._children:
                time.sleep(POLL_S)
        for (_path, draw), done in zip(self.jobs, self._done, strict=True):
            if not done:
                draw()
        return [path for path, _draw in self.jobs]

    def _kill_all(self) -> None:
        for pid in self._children:
            _kill(pid)
        self._children.clear()


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    except (ProcessLookupError, ChildProcessError):
        pass
