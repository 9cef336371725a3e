"""Two runs of one model side by side: per part the difference of the statistic with its 95 %
interval and whether it is significant, and per network whether the best split changed.

The interval of a difference comes from the bootstrap distributions that
:func:`splitbench.stats.parts.part_stats` draws for each part (bouts resampled, see
docs/statistics.md), with the seed the split table uses, so each run's estimate and interval
are exactly those of its own ``splits.csv``. Both runs would then resample bouts by the same
indices (same seed, same bout count), pairing bout i of A with bout i of B although nothing
pairs them; B's draws are therefore put in a random order first, which makes the two
resamplings independent without changing either distribution. ``B.draws - A.draws`` is then
the bootstrap distribution of the difference. No second resampler.

A difference is *significant* only when its 95 % interval excludes zero **and** it is larger than
a minimum effect (``--min-effect``, by default 3 % of run A's estimate): at 95 % about one part
in twenty looks different by chance, and a quiet machine drifts a few percent between two runs,
so an interval alone would call every long comparison different somewhere. A difference that
lies outside its own interval (a bout far off the others skews the resampling) is not called
significant either: such an interval says nothing either way.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from splitbench.report.compare_runs import RunSide

if TYPE_CHECKING:
    import pandas as pd

    from splitbench.network import NetworkConfig

MIN_EFFECT_PCT = 3.0  # --min-effect default: a quiet machine drifts this much between runs
OUTSIDE_NOTE = (
    "not called significant: the interval does not hold the difference itself (bouts far off "
    "the others); measure longer or on a quieter machine"
)
PAIRING_SEED = 0  # the random order of B's draws (fixed: the same comparison every time)
NAN = float("nan")

PART_COLUMNS = (
    "split", "label", "role", "target_a", "target_b", "statistic",
    "a_ms", "a_lo_ms", "a_hi_ms", "a_bouts", "a_samples", "a_unstable",
    "b_ms", "b_lo_ms", "b_hi_ms", "b_bouts", "b_samples", "b_unstable",
    "diff_ms", "diff_lo_ms", "diff_hi_ms", "diff_pct", "min_effect_ms", "significant", "note",
)  # fmt: skip


@dataclass(frozen=True)
class NetworkVerdict:
    """One network's best split in each run (per client pair)."""

    network: str
    client_a: str
    client_b: str
    best_a: int | None
    best_b: int | None
    text_a: str = ""  # the run's verdict sentence (ties named), when it has one
    text_b: str = ""
    contenders_a: tuple[int, ...] = ()
    contenders_b: tuple[int, ...] = ()

    @property
    def changed(self) -> bool:
        return self.best_a != self.best_b

    @property
    def within_noise(self) -> bool:
        """The best split changed, but each run's best is a contender in the other run."""
        return (
            self.changed and self.best_a in self.contenders_b and self.best_b in self.contenders_a
        )


@dataclass
class Comparison:
    a: RunSide
    b: RunSide
    statistic: str
    min_effect_pct: float
    parts: pd.DataFrame
    verdicts: list[NetworkVerdict] = field(default_factory=list)

    @property
    def compared(self) -> int:
        """Parts with a difference and an interval (measured with raw samples in both runs)."""
        return int(self.parts["significant"].notna().sum())

    @property
    def significant(self) -> int:
        return int((self.parts["significant"] == True).sum())  # noqa: E712 (nullable booleans)


def split_label(split: int, num_operators: int) -> str:
    return f"{split}:{num_operators - split}"


def compare_parts(a: RunSide, b: RunSide, statistic: str, min_effect_pct: float) -> pd.DataFrame:
    """One row per part measured in either run (empty parts left out): the difference B − A."""
    import pandas as pd

    pairs = [("head", ca, cb) for ca, cb in zip(a.record.clients, b.record.clients, strict=True)]
    pairs.append(("tail", a.record.server, b.record.server))
    n = a.record.num_operators
    rows = []
    for role, target_a, target_b in pairs:
        splits = {k for (k, r, t) in a.bouts if r == role and t == target_a}
        splits |= {k for (k, r, t) in b.bouts if r == role and t == target_b}
        splits |= {k for (k, r, t) in a.summary_only | b.summary_only if r == role}
        for k in sorted(splits):
            if (k, role) in a.empty or (k, role) in b.empty:
                continue
            row = _part_row(a, b, (k, role, target_a), (k, role, target_b), statistic)
            row.update({"split": k, "label": split_label(k, n), "role": role})
            row.update({"target_a": target_a, "target_b": target_b, "statistic": statistic})
            _judge(row, min_effect_pct)
            rows.append(row)
    df = pd.DataFrame(rows, columns=list(PART_COLUMNS))
    df["significant"] = pd.array(list(df["significant"]), dtype="boolean")
    for col in ("split", "a_bouts", "a_samples", "b_bouts", "b_samples"):
        df[col] = pd.array(list(df[col]), dtype="Int64")
    return df


def _part_row(
    a: RunSide,
    b: RunSide,
    key_a: tuple[int, str, str],
    key_b: tuple[int, str, str],
    statistic: str,
) -> dict[str, object]:
    from splitbench.report.split_stats import part_seed
    from splitbench.stats.parts import part_stats

    row: dict[str, object] = {}
    found = {}
    notes = []
    split, role = key_a[0], key_a[1]
    seed = part_seed(split, "client" if role == "head" else "server")
    for tag, side, key in (("a", a, key_a), ("b", b, key_b)):
        bouts = side.bouts.get(key)
        if not bouts:
            why = "only a summary (no raw samples)" if key in side.summary_only else "not measured"
            notes.append(f"run {tag.upper()}: {why}")
            row.update({f"{tag}_{f}": NAN for f in ("ms", "lo_ms", "hi_ms")})
            row.update({f"{tag}_bouts": None, f"{tag}_samples": None, f"{tag}_unstable": ""})
            continue
        st = part_stats(bouts, statistic, seed=seed)
        found[tag] = st
        row.update(
            {
                f"{tag}_ms": st.estimate,
                f"{tag}_lo_ms": st.lo,
                f"{tag}_hi_ms": st.hi,
                f"{tag}_bouts": st.n_bouts,
                f"{tag}_samples": st.n_samples,
                f"{tag}_unstable": st.unstable or "",
            }
        )
    row["note"] = "; ".join(notes)
    if len(found) < 2:
        row.update(dict.fromkeys(("diff_ms", "diff_lo_ms", "diff_hi_ms", "diff_pct"), NAN))
        return row
    sa, sb = found["a"], found["b"]
    diff = sb.estimate - sa.estimate
    order = np.random.default_rng(PAIRING_SEED).permutation(len(sb.draws))
    draws = np.asarray(sb.draws, dtype=float)[order] - np.asarray(sa.draws, dtype=float)
    finite = draws[np.isfinite(draws)]
    lo, hi = (
        (float(np.percentile(finite, 2.5)), float(np.percentile(finite, 97.5)))
        if finite.size
        else (NAN, NAN)
    )
    row.update(
        {
            "diff_ms": diff,
            "diff_lo_ms": lo,
            "diff_hi_ms": hi,
            "diff_pct": 100.0 * diff / sa.estimate if sa.estimate else NAN,
        }
    )
    return row


def _judge(row: dict[str, object], min_effect_pct: float) -> None:
    """``significant``: True, False, or None (no difference or no interval to judge)."""
    a_ms = float(row["a_ms"])  # type: ignore[arg-type]
    row["min_effect_ms"] = abs(a_ms) * min_effect_pct / 100.0 if math.isfinite(a_ms) else NAN
    diff, lo, hi = (float(row[c]) for c in ("diff_ms", "diff_lo_ms", "diff_hi_ms"))  # type: ignore[arg-type]
    if not all(math.isfinite(v) for v in (diff, lo, hi)):
        row["significant"] = None
        if math.isfinite(diff) and not row["note"]:
            row["note"] = "no interval (too few samples to resample)"
        return
    excludes_zero = lo > 0 or hi < 0
    row["significant"] = bool(excludes_zero and abs(diff) > float(row["min_effect_ms"]))
    if row["significant"] and not lo <= diff <= hi:
        # The resampled differences miss the measured one: a run's bouts disagree so much
        # (a bout far off the others) that the interval cannot be trusted either way.
        row["significant"] = False
        row["note"] = "; ".join(x for x in (str(row["note"] or ""), OUTSIDE_NOTE) if x)


def compare_verdicts(
    a: RunSide, b: RunSide, networks: Sequence[NetworkConfig], statistic: str
) -> list[NetworkVerdict]:
    """Per client pair and network: each run's best split from its own split table."""
    out: list[NetworkVerdict] = []
    pairs = list(zip(a.record.clients, b.record.clients, strict=True))
    for client_a, client_b in pairs:
        ta = _table(a, client_a, networks, statistic)
        tb = _table(b, client_b, networks, statistic)
        for cfg in networks:
            va, vb = _verdict_of(ta, cfg), _verdict_of(tb, cfg)
            out.append(
                NetworkVerdict(
                    network=cfg.name,
                    client_a=client_a,
                    client_b=client_b,
                    best_a=va[0],
                    best_b=vb[0],
                    text_a=va[1],
                    text_b=vb[1],
                    contenders_a=va[2],
                    contenders_b=vb[2],
                )
            )
    return out


def _table(
    side: RunSide, client: str, networks: Sequence[NetworkConfig], statistic: str
) -> pd.DataFrame:
    from splitbench.report.split_table import build_split_table

    r = side.record
    return build_split_table(
        side.db_path,
        r.model_sha,
        client,
        r.server,
        networks,
        r.output_bytes,
        r.num_operators,
        settings=side.settings_hash,
        statistic=statistic,
    )


def _verdict_of(table: pd.DataFrame, cfg: NetworkConfig) -> tuple[int | None, str, tuple[int, ...]]:
    """(best split, the verdict sentence when tied, the contenders) of one network."""
    from splitbench.report.split_stats import verdicts_of
    from splitbench.report.split_table import best_splits

    verdict = verdicts_of(table).get(cfg.name)
    if verdict is not None:
        text = verdict.text() if verdict.tied else ""
        return int(verdict.best), text, tuple(int(s) for s in verdict.contenders)
    best = best_splits(table, [cfg]).get(cfg.name)
    return best, "", (() if best is None else (best,))


def compare_runs(
    a: RunSide,
    b: RunSide,
    networks: Sequence[NetworkConfig],
    *,
    statistic: str = "median",
    min_effect_pct: float = MIN_EFFECT_PCT,
) -> Comparison:
    parts = compare_parts(a, b, statistic, min_effect_pct)
    verdicts = compare_verdicts(a, b, networks, statistic)
    return Comparison(a, b, statistic, min_effect_pct, parts, verdicts)


def summary_lines(cmp: Comparison) -> list[str]:
    """What the terminal shows: how many parts differ, and the verdict per network."""
    n = cmp.a.record.num_operators
    lines = [
        f"{cmp.significant} of {cmp.compared} parts differ significantly (B − A of the "
        f"{cmp.statistic}: 95 % interval excludes 0 and |difference| > {cmp.min_effect_pct:g} % "
        "of A)"
    ]
    sig = cmp.parts[cmp.parts["significant"] == True]  # noqa: E712
    for _, row in sig.head(5).iterrows():
        lines.append(
            f"  {row['label']} {row['role']}: {row['a_ms']:.4g} → {row['b_ms']:.4g} ms "
            f"({row['diff_pct']:+.1f} %, 95 % CI {row['diff_lo_ms']:+.3g} … "
            f"{row['diff_hi_ms']:+.3g} ms)"
        )
    if len(sig) > 5:
        lines.append(f"  … and {len(sig) - 5} more (compare.csv)")
    several = len({(v.client_a, v.client_b) for v in cmp.verdicts}) > 1
    for v in cmp.verdicts:
        who = f" ({v.client_a} / {v.client_b})" if several else ""
        best_a = "—" if v.best_a is None else split_label(v.best_a, n)
        best_b = "—" if v.best_b is None else split_label(v.best_b, n)
        if not v.changed:
            state = "unchanged"
        elif v.within_noise:
            state = "changed, but within the noise (each is a contender in the other run)"
        else:
            state = "CHANGED"
        lines.append(f"best split for {v.network}{who}: A {best_a}, B {best_b} — {state}")
    return lines
