"""Named measurement presets: ``careful`` (the default) and ``quick`` (``sweep --quick``).

A preset is a set of *totals* per part, as the user types them (``--runs``, ``--min-secs``,
the warm-up, ``--rounds``). ``quick`` is for a first look at a new model: fewer and shorter
bouts, so a 170-operator model is swept in about a minute instead of ten. Its numbers are
measured like any others, with less time behind each, so every place that shows them (the CLI
summary, ``splits.csv``, the workbook, the plots) says "quick" and shows the spread.

The name is never stored: it is recognised from the settings identity the measurements carry
(:mod:`splitbench.results.identity`), so ``splitbench report`` labels an old run correctly and
a later careful run in the same run directory adds its measurements beside the quick ones.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from splitbench.measure.types import RunSettings


@dataclass(frozen=True)
class Preset:
    """Totals per part over all bouts, as the CLI options take them."""

    name: str
    runs: int
    min_secs: float
    warmup: int
    warmup_secs: float
    rounds: int

    def totals(self, threads: int = 1) -> RunSettings:
        return RunSettings(
            threads=threads,
            warmup_runs=self.warmup,
            warmup_min_secs=self.warmup_secs,
            num_runs=self.runs,
            min_secs=self.min_secs,
        )

    def flags(self) -> str:
        return (
            f"--runs {self.runs} --min-secs {self.min_secs:g} --warmup {self.warmup} "
            f"--warmup-secs {self.warmup_secs:g} --rounds {self.rounds}"
        )


CAREFUL = Preset("careful", runs=50, min_secs=1.0, warmup=1, warmup_secs=0.5, rounds=6)
QUICK = Preset("quick", runs=10, min_secs=0.1, warmup=1, warmup_secs=0.02, rounds=2)
PRESETS = (CAREFUL, QUICK)


def per_bout(total: RunSettings, rounds: int) -> RunSettings:
    """Per-bout settings so that ``rounds`` bouts together honour the totals: at least
    ``num_runs`` steady runs and ``min_secs`` seconds (and the warm-up) over all bouts."""
    return RunSettings(
        threads=total.threads,
        warmup_runs=max(1, math.ceil(total.warmup_runs / rounds)) if total.warmup_runs else 0,
        warmup_min_secs=total.warmup_min_secs / rounds,
        num_runs=max(1, math.ceil(total.num_runs / rounds)),
        min_secs=total.min_secs / rounds,
        max_secs=total.max_secs / rounds,
    )


def preset_name(bout: RunSettings, rounds: int | None) -> str:
    """``quick`` or ``careful`` when per-bout settings and bouts are exactly a preset's (any
    thread count), else ``custom``."""
    for preset in PRESETS:
        if rounds == preset.rounds:
            expected = per_bout(preset.totals(bout.threads), preset.rounds)
            if dataclasses.asdict(expected) == dataclasses.asdict(bout):
                return preset.name
    return "custom"
