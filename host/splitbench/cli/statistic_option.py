"""``--statistic`` of ``sweep`` and ``report``: what part times and end to end use."""

from __future__ import annotations

from typing import Annotated

import typer

from splitbench.errors import SplitbenchError
from splitbench.stats.choices import STATISTICS

HELP = (
    "What a part's time is: median (default: latency is skewed, and a rare scheduler tick "
    "must not move it) or mean. End to end, its 95 % interval and the verdict use it "
    "(docs/statistics.md)."
)

StatisticOpt = Annotated[str, typer.Option(help=HELP)]
ReportStatisticOpt = Annotated[
    str | None, typer.Option(help=HELP + " Default: what the sweep into DIR used.")
]


def checked_statistic(value: str) -> str:
    """The statistic, or one line naming the choices."""
    if value not in STATISTICS:
        raise SplitbenchError(f"--statistic must be one of {', '.join(STATISTICS)}, got '{value}'")
    return value
