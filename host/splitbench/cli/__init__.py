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
    collate,
    compress,
    devices,
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
    """Entry point: run the app, turning user errors into one line and an exit code."""
    try:
        app()
    except SplitbenchError as exc:
        err_console.print(f"splitbench: error: {exc}", highlight=False, soft_wrap=True)
        sys.exit(exc.exit_code)
