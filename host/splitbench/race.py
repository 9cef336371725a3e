"""``--strategy race``: measure only what decides.

Bout 0 measures every selected split once. After each bout the race looks at the split table
as the database holds it — the one table builder, :func:`splitbench.report.split_table.
build_split_table`, with its end-to-end intervals and per-network verdicts — and decides:

* a split is **eliminated** when, for every network (and every client), its end-to-end interval
  lies entirely above the best split's interval and it is not a contender; it is not measured
  again, and its rows keep what was measured (column ``race`` = ``eliminated``). A table with an
  interval of zero width or none (a part known from one sample, or from a summary without
  samples) eliminates and decides nothing;
* a network's verdict is **decided** when it has one contender, or when its contenders' point
  estimates are all within ``tie_ms`` of the best's (default: 1 % of the best's end to end);
* the next bout measures every split that is still in the race, until every verdict is decided,
  ``--rounds`` bouts are done, or ``--max-minutes`` have passed.

Eliminations are recomputed from the database after every bout, never carried over from a
file: a rerun into the same ``--out`` (after an interruption) sees exactly the measurements
that are there, and a split whose interval comes back into reach of the best (the best's own
interval moves as it gets more bouts) is measured again. ``run.json`` records the last view
(eliminated splits, contenders per bout, the stop reason and the undecided networks).
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from splitbench.errors import SplitbenchError
from splitbench.network import NetworkConfig
from splitbench.results import ResultsDB

RACE_COLUMN = "race"  # splits.csv: measured | eliminated (only in a race's tables)
DEFAULT_TIE_FRACTION = 0.01  # --tie-ms default: 1 % of the best's end to end

# Why a race stopped (run.json "race"."stop").
STOP_DECIDED = "decided"  # every network's verdict is decided
STOP_ROUNDS = "rounds"  # every --rounds bout was run
STOP_TIME = "max-minutes"  # --max-minutes passed
STOP_NOTHING = "nothing to measure"  # no split with an end to end is left in the race


def check_race_options(strategy: str, tie_ms: float | None, max_minutes: float | None) -> None:
    """``--tie-ms`` and ``--max-minutes``: finite, in range, and only for a race."""
    given = [
        flag
        for flag, value in (("--tie-ms", tie_ms), ("--max-minutes", max_minutes))
        if value is not None
    ]
    if given and strategy != "race":
        raise SplitbenchError(
            f"{' and '.join(given)} only apply to --strategy race (got --strategy {strategy})"
        )
    if tie_ms is not None and not (math.isfinite(tie_ms) and tie_ms >= 0):
        raise SplitbenchError(
            f"--tie-ms must be a finite number of milliseconds, 0 or more (got {tie_ms:g}): "
            "contenders closer than this to the best count as a decided tie"
        )
    if max_minutes is not None and not (math.isfinite(max_minutes) and max_minutes > 0):
        raise SplitbenchError(
            f"--max-minutes must be a finite number of minutes greater than 0 (got "
            f"{max_minutes:g}): the race stops after this long"
        )


@dataclass(frozen=True)
class RaceView:
    """What the table says after a bout."""

    alive: list[int]  # splits with an end to end that are not eliminated
    eliminated: list[int]
    undecided: list[str]  # networks (``client/network`` with several clients) still open
    contenders: dict[str, list[int]]  # per network: its contenders, best first


def race_view(
    db: ResultsDB,
    *,
    model_sha: str,
    clients: Sequence[str],
    server: str,
    networks: Sequence[NetworkConfig],
    output_bytes: int,
    num_operators: int,
    settings_hash: str,
    splits: Sequence[int],
    tie_ms: float | None,
    statistic: str = "median",
) -> RaceView:
    """The race's view of the database: built from each client's split table."""
    from splitbench.report.split_stats import e2e_hi_column, e2e_lo_column, verdicts_of
    from splitbench.report.split_table import build_split_table, e2e_column
    from splitbench.stats.verdict import decided

    wanted = set(splits)
    out_somewhere: dict[int, int] = {}  # split -> (client, network) pairs that rule it out
    finite: set[int] = set()
    undecided: list[str] = []
    contenders: dict[str, list[int]] = {}
    pairs = 0
    for client in clients:
        table = build_split_table(
            db,
            model_sha,
            client,
            server,
            networks,
            output_bytes,
            num_operators,
            settings=settings_hash,
            statistic=statistic,
        )
        verdicts = verdicts_of(table)
        split_col = [int(k) for k in table["split"]]
        for cfg in networks:
            name = cfg.name if len(clients) == 1 else f"{client}/{cfg.name}"
            point = [float(v) for v in table[e2e_column(cfg)]]
            lo = [float(v) for v in table[e2e_lo_column(cfg)]]
            hi = [float(v) for v in table[e2e_hi_column(cfg)]]
            finite |= {k for k, p in zip(split_col, point, strict=True) if math.isfinite(p)}
            v = verdicts.get(cfg.name)
            if v is None:  # nothing measured for this network yet
                undecided.append(name)
                continue
            pairs += 1
            contenders[name] = list(v.contenders)
            row = {k: i for i, k in enumerate(split_col)}
            best_hi = hi[row[v.best]]
            tie = tie_ms if tie_ms is not None else DEFAULT_TIE_FRACTION * point[row[v.best]]
            # A part known from one sample (or from a summary without samples) has an interval
            # of zero width (or none): nothing is known about the noise yet, so such a table
            # neither decides nor eliminates anything.
            thin = any(math.isfinite(point[i]) and not hi[i] > lo[i] for i in row.values())
            if thin or not decided(v, None, tie):
                undecided.append(name)
            if thin:
                continue
            for k, i in row.items():
                if k in v.contenders or not math.isfinite(point[i]):
                    continue
                if math.isfinite(lo[i]) and math.isfinite(best_hi) and lo[i] > best_hi:
                    out_somewhere[k] = out_somewhere.get(k, 0) + 1
    eliminated = sorted(k for k, n in out_somewhere.items() if n == pairs and k in wanted)
    alive = sorted(k for k in wanted & finite if k not in set(eliminated))
    return RaceView(alive, eliminated, undecided, contenders)


@dataclass
class Race:
    """The schedule of one race: which splits each bout measures, and when it stops."""

    splits: list[int]  # the selected splits
    rounds: int
    tie_ms: float | None = None
    max_minutes: float | None = None
    started: float = field(default_factory=time.monotonic)
    per_bout: list[int] = field(default_factory=list)  # splits each bout was given
    view: RaceView | None = None
    stop: str = ""

    def out_of_time(self) -> bool:
        if self.max_minutes is None:
            return False
        if time.monotonic() - self.started >= self.max_minutes * 60.0:
            self.stop = STOP_TIME
            return True
        return False

    def next_bout(self, bout: int) -> list[int] | None:
        """The splits bout ``bout`` measures, or None when the race is over (``stop`` says
        why). Bout 0 measures every selected split; a later one what the last view left in."""
        if self.stop:
            return None
        if bout == 0:
            todo = list(self.splits)
        else:
            view = self.view
            assert view is not None, "observe() the table after every bout"
            if not view.undecided:
                self.stop = STOP_DECIDED
                return None
            if not view.alive:
                self.stop = STOP_NOTHING
                return None
            todo = list(view.alive)
        self.per_bout.append(len(todo))
        return todo

    def observe(self, view: RaceView) -> None:
        """The table after a bout."""
        self.view = view

    def finish(self) -> None:
        """After the last bout: why the race stopped, when no earlier reason did."""
        if not self.stop:
            decided_all = self.view is not None and not self.view.undecided
            self.stop = STOP_DECIDED if decided_all else STOP_ROUNDS

    def state(self, bout: int) -> str:
        """The progress stage of a bout: its number and how many splits are still in."""
        where = f"bout {bout + 1}/{self.rounds}"
        if bout == 0:
            return f"{where}: all {len(self.splits)} splits"
        return f"{where}: {self.per_bout[-1]} contenders left"

    def summary(self) -> str:
        """One line after a bout's view: contenders, eliminated, undecided networks."""
        view = self.view
        if view is None:
            return ""
        open_ = ", ".join(view.undecided) if view.undecided else "none"
        return (
            f"race after bout {len(self.per_bout)}/{self.rounds}: {len(view.alive)} of "
            f"{len(self.splits)} "
            f"splits still in, {len(view.eliminated)} eliminated; undecided: {open_}"
        )

    def record(self) -> dict[str, Any]:
        """What run.json says about the race."""
        view = self.view
        return {
            "strategy": "race",
            "tie_ms": self.tie_ms,
            "tie_rule": "--tie-ms" if self.tie_ms is not None else "1 % of the best",
            "max_minutes": self.max_minutes,
            "rounds": self.rounds,
            "bouts": len(self.per_bout),
            "splits_per_bout": list(self.per_bout),
            "eliminated": list(view.eliminated) if view else [],
            "contenders": dict(view.contenders) if view else {},
            "undecided": list(view.undecided) if view else [],
            "stop": self.stop or "interrupted",
        }


def race_text(record: dict[str, Any]) -> str:
    """The race's closing line: bouts, eliminations, why it stopped, what is still open."""
    per_bout = record.get("splits_per_bout", [])
    measured = sum(per_bout)
    why = {
        STOP_DECIDED: "every network's verdict is decided",
        STOP_ROUNDS: f"all {record.get('rounds')} bouts (--rounds) were run",
        STOP_TIME: f"--max-minutes {record.get('max_minutes')} passed",
        STOP_NOTHING: "no split with an end to end was left to measure",
    }.get(record.get("stop", ""), str(record.get("stop")))
    text = (
        f"race: {len(per_bout)} bout(s) ({' + '.join(str(n) for n in per_bout) or '0'} = "
        f"{measured} split bouts), {len(record.get('eliminated', []))} split(s) eliminated; "
        f"stopped because {why}"
    )
    undecided = record.get("undecided", [])
    if undecided:
        text += f"; still undecided: {', '.join(undecided)} (more --rounds or a quieter machine)"
    return text


def race_column(
    splits: Iterable[Any], record: Mapping[str, Any], selected: Sequence[int] | None
) -> list[str]:
    """The ``race`` column: ``eliminated`` (measured until the race ruled it out; its rows keep
    what was measured), ``measured`` (in the race to its end), empty (not in the race)."""
    out = set(record.get("eliminated", []))
    chosen = None if selected is None else set(selected)
    values = []
    for k in (int(v) for v in splits):
        if chosen is not None and k not in chosen:
            values.append("")
        else:
            values.append("eliminated" if k in out else "measured")
    return values
