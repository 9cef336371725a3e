"""A network's verdict from per-split end-to-end bootstrap draws.

Every part's draws are independent bootstrap replicates of its statistic with the same number
of resamples, so draw ``r`` of a split's client plus draw ``r`` of its server plus the network
terms is one plausible end to end of that split. Across all splits, the share of draws in which
a split is the fastest is its probability of being best (``p_best``). Every split with at least
:data:`MIN_P_CONTENDER` is a *contender*: when there is more than one, the data cannot tell
them apart, and the verdict says so instead of naming a winner by noise.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from splitbench.stats.parts import N_RESAMPLES, PartStats

MIN_P_CONTENDER = 0.05
MAX_NAMED = 5  # contenders named in a sentence; more are counted


def split_label(k: int, num_operators: int) -> str:
    """``k:N-k``: operators on the client, operators on the server."""
    return f"{k}:{num_operators - k}"


@dataclass(frozen=True)
class Verdict:
    network: str
    best: int
    p_best: dict[int, float]
    contenders: list[int]
    tied: bool
    num_operators: int = 0
    e2e: dict[int, float] = field(default_factory=dict)  # point estimates of the contenders

    def __deepcopy__(self, memo: dict[int, object]) -> Verdict:
        # Verdicts travel in a table's DataFrame.attrs, which pandas deep-copies after every
        # operation on the table: a verdict is never changed once made, so the copy is itself
        # (copying the p_best of 334 splits x 5 networks took 7 s of a 333-split report)
        return self

    def label(self, k: int) -> str:
        return split_label(k, self.num_operators)

    def text(self) -> str:
        """One plain sentence: the best split, or the contenders tied within the noise."""
        if not self.tied:
            p = self.p_best.get(self.best, math.nan)
            return (
                f"{self.label(self.best)} is the best split for {self.network} "
                f"(best in {100 * p:.0f} % of the bootstrap resamples)"
            )
        names = [self.label(k) for k in self.contenders[:MAX_NAMED]]
        more = len(self.contenders) - len(names)
        if more:
            listed = f"{', '.join(names)} and {more} more"
        else:
            listed = f"{', '.join(names[:-1])} and {names[-1]}"
        return (
            f"{listed} are tied for {self.network} within the measurement noise; measure "
            "longer or on a quieter machine to separate them"
        )


def e2e_draws(client: PartStats, server: PartStats, network_ms: float) -> np.ndarray:
    """Bootstrap draws of one split's end to end: client + server + the network terms."""
    return client.draws + server.draws + network_ms


def verdict(
    network: str,
    splits: Sequence[int],
    e2e_point: Sequence[float],
    draws: np.ndarray,
    num_operators: int,
) -> Verdict | None:
    """The verdict of one network; None when no split has a finite end to end.

    ``draws`` has shape ``(len(splits), N_RESAMPLES)``. Rows whose point estimate is NaN
    (unmeasured or failed) are excluded; a row with a point estimate but no draws (a part
    known only by its summary) counts at its point estimate in every resample.
    """
    point = np.asarray(e2e_point, dtype=float)
    table = np.array(draws, dtype=float, copy=True).reshape(len(point), -1)
    keep = np.isfinite(point)
    if not keep.any():
        return None
    ks = [int(k) for k, ok in zip(splits, keep, strict=True) if ok]
    point, table = point[keep], table[keep]
    missing = ~np.isfinite(table)
    table[missing] = np.broadcast_to(point[:, None], table.shape)[missing]
    winners = np.argmin(table, axis=0)  # ties go to the first row, the lowest split
    p = np.bincount(winners, minlength=len(ks)) / table.shape[1]
    best_i = int(np.argmin(point))
    p_best = {k: float(v) for k, v in zip(ks, p, strict=True)}
    ranked = sorted(
        (i for i in range(len(ks)) if p[i] >= MIN_P_CONTENDER and i != best_i),
        key=lambda i: (-p[i], point[i]),
    )
    contenders = [ks[best_i], *(ks[i] for i in ranked)]
    return Verdict(
        network=network,
        best=ks[best_i],
        p_best=p_best,
        contenders=contenders,
        tied=len(contenders) > 1,
        num_operators=num_operators,
        e2e={k: float(point[ks.index(k)]) for k in contenders},
    )


def decided(
    v: Verdict,
    e2e_lo_hi_by_split: Mapping[int, float | Sequence[float]] | None,
    tie_ms: float,
) -> bool:
    """For ``--strategy race``: one contender, or every contender's point estimate within
    ``tie_ms`` of the best's. ``e2e_lo_hi_by_split`` maps a split to its point estimate or to
    ``(point, lo, hi)``; None uses the verdict's own point estimates."""
    if not v.tied:
        return True

    def point(k: int) -> float:
        if e2e_lo_hi_by_split is None or k not in e2e_lo_hi_by_split:
            return v.e2e.get(k, math.nan)
        value = e2e_lo_hi_by_split[k]
        return float(value if isinstance(value, int | float) else value[0])

    best = point(v.best)
    return all(abs(point(k) - best) <= tie_ms for k in v.contenders)


__all__ = [
    "MIN_P_CONTENDER",
    "N_RESAMPLES",
    "Verdict",
    "decided",
    "e2e_draws",
    "split_label",
    "verdict",
]
