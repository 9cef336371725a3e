"""Progress for long stages, kept apart from the stages themselves.

On a terminal: rich progress bars on stderr. Anywhere else (CI logs, ``nohup``, a pipe): plain
lines on stderr, ``progress: STAGE DONE/TOTAL (P %), M:SS elapsed, ~M:SS left``: the first once a
stage has run :data:`PLAIN_FIRST_S` seconds, then at most every :data:`PLAIN_EVERY_S` seconds, and
a last one when a stage that printed finishes — so a long run shows life in a log, and a short
one does not fill it with noise. ``SPLITBENCH_PROGRESS_SECS`` sets the interval (default 10).
"""

from __future__ import annotations

import os
import time
from types import TracebackType

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

PLAIN_FIRST_S = 5.0
PLAIN_EVERY_S = 10.0
EVERY_ENV = "SPLITBENCH_PROGRESS_SECS"  # e.g. 60 for quieter logs, 0 for every step
PLAIN_PREFIX = "progress: "


class PlainProgress:
    """Plain progress lines for a console that is not a terminal."""

    def __init__(self, console: Console, every_s: float | None = None) -> None:
        if every_s is None:
            try:
                every_s = float(os.environ.get(EVERY_ENV, PLAIN_EVERY_S))
            except ValueError:
                every_s = PLAIN_EVERY_S
        self._console = console
        self._every_s = max(0.0, every_s)
        self._first_s = self._every_s * PLAIN_FIRST_S / PLAIN_EVERY_S
        self._started: dict[str, float] = {}
        self._last: dict[str, tuple[float, int]] = {}

    def __enter__(self) -> PlainProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def update(self, stage: str, done: int, total: int) -> None:
        now = time.monotonic()
        start = self._started.setdefault(stage, now)
        last = self._last.get(stage)
        finished = done >= total
        if last is None:
            if now - start < self._first_s:
                return  # short stages stay quiet
        elif last[1] == done or (not finished and now - last[0] < self._every_s):
            return
        self._last[stage] = (now, done)
        elapsed = now - start
        pct = 100.0 * done / total if total else 100.0
        left = ""
        if 0 < done < total:
            left = f", ~{_clock(elapsed * (total - done) / done)} left"
        self._console.print(
            f"{PLAIN_PREFIX}{stage} {done}/{total} ({pct:.0f} %), {_clock(elapsed)} elapsed{left}",
            highlight=False,
            soft_wrap=True,
        )


def _clock(seconds: float) -> str:
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


class SweepProgress:
    """One bar per stage name; a stage reports (done, total) and the bar follows. Bars when
    ``console`` is a terminal, else plain lines (see the module docstring)."""

    def __init__(self, console: Console) -> None:
        self._plain = None if console.is_terminal else PlainProgress(console)
        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=console,
            transient=False,
        )
        self._tasks: dict[str, TaskID] = {}

    def __enter__(self) -> SweepProgress:
        if self._plain is None:
            self._progress.__enter__()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._plain is None:
            self._progress.__exit__(exc_type, exc, tb)

    def update(self, stage: str, done: int, total: int) -> None:
        if self._plain is not None:
            self._plain.update(stage, done, total)
            return
        if stage not in self._tasks:
            self._tasks[stage] = self._progress.add_task(stage, total=total)
        self._progress.update(self._tasks[stage], completed=done, total=total)
