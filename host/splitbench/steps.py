"""One-off preparation steps that take a while, said before they start.

A PyTorch model's first use exports it and converts it (tens of seconds for a torchvision model);
later uses read the cache. The stage that does such a step calls :func:`announce` just before it,
so a user never waits on a silent terminal; the command line shows these lines on stderr
(:func:`show_on`); a library caller sees them through Python logging (``splitbench.steps``).
"""

from __future__ import annotations

import logging
from typing import TextIO

LOG = logging.getLogger("splitbench.steps")


def announce(message: str) -> None:
    LOG.info(message)


def show_on(stream: TextIO) -> None:
    """Print announced steps on ``stream`` as plain lines (once per process)."""
    if any(getattr(h, "splitbench_steps", False) for h in LOG.handlers):
        return
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("splitbench: %(message)s"))
    handler.splitbench_steps = True  # type: ignore[attr-defined]
    LOG.addHandler(handler)
    LOG.setLevel(logging.INFO)
    LOG.propagate = False
