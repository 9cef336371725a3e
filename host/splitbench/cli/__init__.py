"""The ``splitbench`` command line. Thin: it parses options and calls the stage modules.

One module per command; each imports its stages only when it runs, so ``splitbench --help``
and ``splitbench models`` start without numpy, pandas or TensorFlow, and ``split``/``inspect``
load only the graph and the splitter (tests/test_cli_imports.py guards this).

Every user error is a :class:`~splitbench.errors.SplitbenchError`: one line on stderr and a
non-zero exit, never a traceback.
"""

from __future__ import annotations

import sys

# Importing a command module registers its command; the order is the order in --help.
from splitbench.cli import (  # noqa: F401
    clean,
    collate,
    compress,
    devices,
    doctor,
    emulator,
    explore,
    inspect,
    models,
    report,
    split,
    sweep,
    verify,
)
from splitbench.cli.app import app, err_console
from splitbench.errors import SplitbenchError

__all__ = ["app", "main"]


def main() -> None:
    """Entry point: run the app, turning user errors, environment faults and signals into one
    line and an exit code. SIGTERM and SIGHUP stop a command the way Ctrl-C does."""
    from splitbench.signals import exit_code, signal_name, signals_interrupt

    try:
        with signals_interrupt():
            app()
    except SplitbenchError as exc:
        _fail(str(exc), exc.exit_code)
    except KeyboardInterrupt as exc:
        _fail(f"interrupted ({signal_name(exc)})", exit_code(exc))
    except BrokenPipeError:  # `splitbench report DIR | head`: the reader has gone, say nothing
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(1)
    except OSError as exc:  # a file-system fault no stage anticipated: still one line
        from pathlib import Path

        from splitbench.rundir import os_error_line

        _fail(os_error_line(Path(exc.filename or "?"), exc), 1)


def _fail(message: str, code: int) -> None:
    err_console.print(f"splitbench: error: {message}", highlight=False, soft_wrap=True)
    sys.exit(code)
