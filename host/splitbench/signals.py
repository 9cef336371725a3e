"""SIGTERM and SIGHUP end a long command the way Ctrl-C does: one line, scratch removed,
everything finished kept, resumable.

The handlers raise :class:`KeyboardInterrupt` in the main thread, so every ``finally`` that
cleans up after Ctrl-C (part files, scratch folders, thread pools, phones) runs for them too.
A signal that the parent deliberately ignores stays ignored: ``nohup`` sets SIGHUP to SIG_IGN
so a sweep survives the terminal closing, and a background job started by a non-interactive
shell ignores SIGINT. SIGTERM is always handled (it is how service managers and ``timeout``
stop a process).
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any


class SignalInterrupt(KeyboardInterrupt):
    """A KeyboardInterrupt that remembers which signal caused it."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _raise(signum: int, frame: FrameType | None) -> None:
    raise SignalInterrupt(signum)


@contextmanager
def signals_interrupt() -> Iterator[None]:
    """Within the block, SIGTERM (and SIGHUP unless ignored) raise like Ctrl-C."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous: dict[int, object] = {}
    for sig in (signal.SIGTERM, signal.SIGHUP):
        if sig == signal.SIGHUP and signal.getsignal(sig) == signal.SIG_IGN:
            continue  # nohup: the user asked to survive the terminal closing
        previous[sig] = signal.signal(sig, _raise)
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)  # type: ignore[arg-type]


@contextmanager
def interrupts_deferred() -> Iterator[None]:
    """Within the block, Ctrl-C, SIGTERM and SIGHUP are held, and acted on as the block ends
    (by the handler that was in place). For native code that calls back into Python — torch's
    lowering — where an exception raised by a handler inside a callback cannot unwind through
    the C++ frames and aborts the process (``terminate called after throwing an instance of
    'python_error'``), skipping every ``finally``. A signal left to its default action or
    ignored is not touched."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    previous: dict[int, Any] = {}
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        handler = signal.getsignal(sig)
        if callable(handler):
            previous[sig] = signal.signal(sig, lambda signum, _frame: caught.append(signum))
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if caught:
        previous[caught[0]](caught[0], None)


def signal_name(exc: BaseException) -> str:
    return signal.Signals(exc.signum).name if isinstance(exc, SignalInterrupt) else "Ctrl-C"


def exit_code(exc: BaseException) -> int:
    """128 + signal number, the shell's convention (130 for Ctrl-C)."""
    return 128 + (exc.signum if isinstance(exc, SignalInterrupt) else signal.SIGINT)
