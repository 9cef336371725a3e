"""Silence the runtime's native log lines while an interpreter is built.

LiteRT prints "INFO: Created TensorFlow Lite XNNPACK delegate for CPU." to the process's stderr
from C++ when it creates its default delegate. The kit's promise is one clear line on stderr for
an error, so interpreter construction runs with file descriptor 2 pointed at /dev/null. Nothing
is lost: the runtime's error messages reach Python inside the exceptions it raises.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections.abc import Iterator

_lock = threading.Lock()


@contextlib.contextmanager
def native_stderr_silenced() -> Iterator[None]:
    """Point fd 2 at /dev/null for the duration (process-wide, so serialised by a lock)."""
    with _lock:
        sys.stderr.flush()
        saved = os.dup(2)
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, 2)
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            os.close(devnull)
