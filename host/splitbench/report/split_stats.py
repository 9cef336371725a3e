"""The statistics of the split table: per-part intervals, end to end with an interval, and the
verdict per network (:mod:`splitbench.stats`), as table columns.

Client and server are independent parts with independent bootstrap draws (one seed per split
and side, so ``report`` reproduces every number); the network terms are added as they are.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from splitbench.network import NetworkConfig
from splitbench.stats.parts import PartStats
from splitbench.stats.verdict import Verdict, verdict

VERDICTS = "verdicts"  # df.attrs: {network name: Verdict}
STATISTIC = "statistic"  # df.attrs: "median" | "mean"

# Per side (``client_`` / ``server_``): the columns beside ``_ms``, in table order.
STAT_FIELDS = ("lo_ms", "hi_ms", "mean_ms", "p10_ms", "p50_ms", "p90_ms", "std_ms")


def part_seed(split: int, side: str) -> int:
    """A fixed, distinct seed per part: independent draws, the same numbers on every report."""
    return 2 * split + (0 if side == "client" else 1)


def stat_values(s: PartStats) -> dict[str, float]:
    """The per-side statistic columns of a part (without the prefix)."""
    return {
        "lo_ms": s.lo,
        "hi_ms": s.hi,
        "mean_ms": s.mean,
        "p10_ms": s.p10,
        "p50_ms": s.median,
        "p90_ms": s.p90,
        "std_ms": s.std,
    }


def e2e_lo_column(cfg: NetworkConfig) -> str:
    return f"e2e_lo_ms_{cfg.name}"


def e2e_hi_column(cfg: NetworkConfig) -> str:
    return f"e2e_hi_ms_{cfg.name}"


def p_best_column(cfg: NetworkConfig) -> str:
    return f"p_best_{cfg.name}"


def add_intervals(
    df: pd.DataFrame,
    clients: Sequence[PartStats],
    servers: Sequence[PartStats],
    networks: Sequence[NetworkConfig],
    num_operators: int,
    statistic: str,
) -> pd.DataFrame:
    """Add ``e2e_lo_ms_``/``e2e_hi_ms_`` after each ``e2e_ms_<network>``, ``p_best_<network>``
    before the error columns, and the verdicts in ``df.attrs``."""
    parts = np.stack([c.draws for c in clients]) + np.stack([s.draws for s in servers])
    point_parts = np.array([c.estimate + s.estimate for c, s in zip(clients, servers, strict=True)])
    splits = [int(k) for k in df["split"]]
    verdicts: dict[str, Verdict] = {}
    p_best: dict[str, list[float]] = {}
    for cfg in networks:
        col = f"e2e_ms_{cfg.name}"
        e2e = pd.to_numeric(df[col], errors="coerce").to_numpy(dtype=float)
        draws = parts + (e2e - point_parts)[:, None]  # the network terms as they are
        with np.errstate(invalid="ignore"):
            lo, hi = np.percentile(draws, [2.5, 97.5], axis=1)
        at = list(df.columns).index(col) + 1
        df.insert(at, e2e_hi_column(cfg), hi)
        df.insert(at, e2e_lo_column(cfg), lo)
        v = verdict(cfg.name, splits, e2e, draws, num_operators)
        if v is not None:
            verdicts[cfg.name] = v
        p_best[cfg.name] = [np.nan if v is None else v.p_best.get(k, np.nan) for k in splits]
    at = list(df.columns).index("client_error") if "client_error" in df.columns else df.shape[1]
    for cfg in reversed(list(networks)):
        df.insert(at, p_best_column(cfg), p_best[cfg.name])
    df.attrs[VERDICTS] = verdicts
    df.attrs[STATISTIC] = statistic
    return df


def unstable_parts(df: pd.DataFrame, num_operators: int) -> list[str]:
    """One line per part flagged unstable: ``split k:N-k head: <reason>``."""
    out: list[str] = []
    for side, role in (("client", "head"), ("server", "tail")):
        col = f"{side}_unstable"
        if col not in df.columns:
            continue
        for k, text in zip(df["split"], df[col], strict=True):
            if isinstance(text, str) and text:
                out.append(f"split {int(k)}:{num_operators - int(k)} {role}: {text}")
    return out


def verdicts_of(df: pd.DataFrame) -> dict[str, Verdict]:
    found: Any = df.attrs.get(VERDICTS, {})
    return dict(found) if isinstance(found, dict) else {}
