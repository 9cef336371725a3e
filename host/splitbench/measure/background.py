"""Timed runs on this host, kept apart from the kit's own background work.

A sweep lowers ExecuTorch parts in worker processes while it measures the splits in order. On
this host those workers competed with the timed runs beside them: ResNet-18's split-0 tail
measured 97–105 ms in the first bout (workers busy) and 32.6–33.0 ms in the second (workers
done). So every timed run on this host goes through one :class:`QuietHost`:

* the background workers it watches are stopped (``SIGSTOP``) before the run, and the run
  starts only once the kernel reports each of them stopped (``/proc/PID/stat`` state ``T``);
  they are continued (``SIGCONT``) when it ends. A stopped worker keeps its memory and its
  place in its work: it only loses the CPU while something is timed here.
* timed runs on this host take turns: two lanes whose targets share this CPU (the host, and the
  emulated phone, whose commands run here) wait for each other. Each wait is bounded by the
  other run's own deadline (a part's timeout).

A phone's timed runs happen on the phone: background work goes on meanwhile, so a phone sweep
keeps lowering beside its measurements. The kit's other work (part files, the lossless check,
codecs, reports) runs in the sweep's own thread between measurements, never beside them.

What the gate did goes into ``run.json`` (:meth:`QuietHost.record`): how many timed runs held
it, how many found workers to stop, how long the workers stood still, and how long timed runs
waited (for another run's turn and for the workers to stop).
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

STOP_DEADLINE_S = 2.0  # a worker not reported stopped by then is timed beside anyway (noted)
_POLL_S = 0.0005

PidSource = Callable[[], Iterable[int]]


def process_state(pid: int) -> str | None:
    """The kernel's one-letter state of ``pid`` (``R`` running, ``S`` sleeping, ``T`` stopped,
    ...), None when the process is gone or the system has no ``/proc``."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text.rpartition(")")[2].split()[0]  # after "(comm)", which may hold spaces


def _signal(pid: int, sig: int) -> bool:
    try:
        os.kill(pid, sig)
    except (ProcessLookupError, PermissionError):
        return False
    return True


class QuietHost:
    """One per sweep: the gate every timed run on this host passes (see the module's text)."""

    def __init__(self, stop_deadline_s: float = STOP_DEADLINE_S) -> None:
        self.stop_deadline_s = stop_deadline_s
        self._sources: list[PidSource] = []
        self._turn = threading.Lock()  # one timed run on this host at a time
        self._stats = threading.Lock()
        self.timed_runs = 0  # timed runs that held the gate
        self.paused_runs = 0  # of them, runs that found background workers and stopped them
        self.paused_s = 0.0  # seconds the workers stood still for timed runs
        self.waited_s = 0.0  # seconds timed runs waited: another run's turn, workers stopping
        self.unconfirmed = 0  # workers not reported stopped within the deadline

    def watch(self, pids: PidSource) -> None:
        """Stop the processes ``pids()`` names (asked anew for every timed run) while a timed
        run happens here."""
        self._sources.append(pids)

    def unwatch(self, pids: PidSource) -> None:
        with contextlib.suppress(ValueError):
            self._sources.remove(pids)

    @contextlib.contextmanager
    def timed(self, here: bool = True) -> Iterator[None]:
        """Hold the gate for a timed run; ``here``: the run uses this host's CPU (otherwise
        nothing is stopped and nothing waits)."""
        if not here:
            yield
            return
        asked = time.perf_counter()
        with self._turn:
            stopped = self._stop_all()
            started = time.perf_counter()
            try:
                yield
            finally:
                for pid in stopped:
                    _signal(pid, signal.SIGCONT)
                with self._stats:
                    self.timed_runs += 1
                    self.waited_s += started - asked
                    if stopped:
                        self.paused_runs += 1
                        self.paused_s += time.perf_counter() - started

    def _stop_all(self) -> list[int]:
        """Stop every watched process; return once each is reported stopped (or gone)."""
        sigstop = getattr(signal, "SIGSTOP", None)
        if sigstop is None:  # no job control signals on this system: nothing can be paused
            return []
        pids = list(dict.fromkeys(pid for source in self._sources for pid in source()))
        stopped = [pid for pid in pids if pid != os.getpid() and _signal(pid, sigstop)]
        deadline = time.monotonic() + self.stop_deadline_s
        waiting = list(stopped)
        while waiting:
            waiting = [pid for pid in waiting if process_state(pid) not in (None, "T", "t", "Z")]
            if waiting and time.monotonic() > deadline:
                with self._stats:
                    self.unconfirmed += len(waiting)
                break
            if waiting:
                time.sleep(_POLL_S)
        return stopped

    def record(self) -> dict[str, Any]:
        """How the sweep kept timed runs on this host apart from its background work."""
        with self._stats:
            data: dict[str, Any] = {
                "rule": "background workers stopped (SIGSTOP) during every timed run on this "
                "host; timed runs on this host take turns",
                "timed_runs_here": self.timed_runs,
                "runs_that_paused_workers": self.paused_runs,
                "workers_paused_s": round(self.paused_s, 3),
                "measurements_waited_s": round(self.waited_s, 3),
            }
            if self.unconfirmed:
                data["workers_not_stopped_in_time"] = self.unconfirmed
            return data
