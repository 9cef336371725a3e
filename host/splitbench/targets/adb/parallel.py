"""Asking several adb servers or phones at once without ever being held by one that stalls.

:class:`concurrent.futures.ThreadPoolExecutor` joins its threads when the ``with`` block ends and
again when the interpreter exits, so after Ctrl-C or SIGTERM a command still waited for every
request in flight (minutes, on a server that lists a phone and then stalls). Here the workers are
daemon threads: the calling thread waits for them, but an interrupt ends that wait at once, and
the process exits without them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def map_in_parallel(fn: Callable[[T], R], items: Sequence[T], max_workers: int = 8) -> list[R]:
    """``[fn(item) for item in items]``, at most ``max_workers`` at a time; the first exception
    raised by ``fn`` is raised here once every call has ended."""
    results: dict[int, R] = {}
    errors: dict[int, BaseException] = {}
    pending = iter(enumerate(items))
    lock = threading.Lock()

    def work() -> None:
        while True:
            with lock:
                index, item = next(pending, (-1, None))
            if index < 0:
                return
            try:
                results[index] = fn(item)  # type: ignore[arg-type]
            except BaseException as exc:  # re-raised in the calling thread
                errors[index] = exc

    threads = [
        threading.Thread(target=work, daemon=True, name="splitbench-adb-ask")
        for _ in range(max(1, min(max_workers, len(items))))
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()  # interruptible: a signal's KeyboardInterrupt leaves the daemons behind
    if errors:
        raise errors[min(errors)]
    return [results[i] for i in range(len(items))]
