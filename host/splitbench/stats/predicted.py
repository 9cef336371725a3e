"""Predicted times with intervals: the whole model is profiled in every bout, like a part is
measured in every bout, so each split's predicted head and tail have one value per bout, and
are summarised like direct samples (the chosen statistic, a 95 % interval resampling bouts).
A prediction from one bout has no interval worth the name; the part says so (its ``note``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from splitbench.stats.parts import PartStats, empty_part, part_stats

if TYPE_CHECKING:
    from splitbench.predict import Prediction

# Seeds apart from the direct parts' (0, 1, 2, ...), so the two are independent draws.
_SEED_BASE = 1_000_003


def predicted_parts(
    predictions: Sequence[Prediction], side: str, num_operators: int, statistic: str = "median"
) -> list[PartStats | None]:
    """Per split 0..N, the predicted head (``side`` = ``client``) or tail (``server``) over
    bouts; None where no bout predicts the split (a kernel spans its cut). An empty part (split
    0's head, split N's tail) is exactly 0."""
    attr = "head_ms" if side == "client" else "tail_ms"
    empty_at = 0 if side == "client" else num_operators
    out: list[PartStats | None] = []
    for k in range(num_operators + 1):
        if k == empty_at:
            out.append(empty_part(statistic))
            continue
        values = [v for p in predictions if (v := getattr(p, attr)[k]) is not None]
        if not values:
            out.append(None)
            continue
        seed = _SEED_BASE + 2 * k + (0 if side == "client" else 1)
        out.append(part_stats([[float(v)] for v in values], statistic, seed=seed))
    return out
