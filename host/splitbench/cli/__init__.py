"""The ``splitbench`` command line. Thin: it parses options and calls the stage modules.

One module per command; each imports its stages only when it runs, so ``splitbench --help``
and ``splitbench models`` start without numpy, pandas or TensorFlow, and ``split``/``inspect``
load only the graph and the splitter (tests/test_cli_imports.py guards this).

Every user error is a :class:`~splitbench.errors.SplitbenchError`: one line on stderr and a
non-zero exit, never a traceback.
"""

from __future__ import annotations

import importlib
import sys

import typer

from splitbench.cli.app import app
from splitbench.errors import SplitbenchError

__all__ = ["COMMANDS", "app", "main", "with_commands"]

# One module per command, named after it; this order is the order in --help.
COMMANDS = (
    "clean",
    "collate",
    "compare",
    "compress",
    "devices",
    "doctor",
    "emulator",
    "explore",
    "inspect",
    "models",
    "report",
    "split",
    "sweep",
    "verify",
)


def with_commands(names: tuple[str, ...] = COMMANDS) -> typer.Typer:
    """The app with these commands registered (importing a command module registers it).

    ``main`` registers only the command being run: typer builds a click command for every
    registered one on each call (signatures and annotations evaluated), about 30 ms of
    ``split``'s start-up here for twelve commands that do not run.
    """
    for name in names:
        importlib.import_module(f"splitbench.cli.{name}")
    app.registered_commands.sort(key=lambda info: COMMANDS.index(_command_name(info)))
    return app


def _command_name(info: typer.models.CommandInfo) -> str:
    assert info.callback is not None
    return info.callback.__module__.rsplit(".", 1)[-1]


def _invoked(argv: list[str]) -> tuple[str, ...]:
    """The command named first on the line, or all of them (``--help``, no command, a typo:
    click then lists them or suggests the closest)."""
    first = argv[1] if len(argv) > 1 else ""
    return (first,) if first in COMMANDS else COMMANDS


def main() -> None:
    """Entry point: run the app, turning user errors, environment faults and signals into one
    line and an exit code. SIGTERM and SIGHUP stop a command the way Ctrl-C does."""
    from splitbench.signals import exit_code, signal_name, signals_interrupt
    from splitbench.steps import show_on

    show_on(sys.stderr)

    try:
        with signals_interrupt():
            with_commands(_invoked(sys.argv))()
    except SplitbenchError as exc:
        _fail(str(exc), exc.exit_code)
    except KeyboardInterrupt as exc:
        _fail(f"interrupted ({signal_name(exc)})", exit_code(exc))
    except SystemExit as exc:
        interrupt = _interrupt_behind(exc)
        if interrupt is None:
            raise
        _fail(f"interrupted ({signal_name(interrupt)})", exit_code(interrupt))
    except BrokenPipeError:  # `splitbench report DIR | head`: the reader has gone, say nothing
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(1)
    except OSError as exc:  # a file-system fault no stage anticipated: still one line
        from pathlib import Path

        from splitbench.rundir import os_error_line

        _fail(os_error_line(Path(exc.filename or "?"), exc), 1)


def _interrupt_behind(exc: BaseException) -> KeyboardInterrupt | None:
    """typer turns an interrupt inside a command into a silent exit 130 (even SIGTERM's); the
    interrupt is still in the exception's chain."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, KeyboardInterrupt):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def _fail(message: str, code: int) -> None:
    from splitbench.cli.app import err_console

    err_console.print(f"splitbench: error: {message}", highlight=False, soft_wrap=True)
    sys.exit(code)
