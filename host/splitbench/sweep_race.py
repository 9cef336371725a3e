"""The bouts of ``--strategy race`` (:mod:`splitbench.race` decides; this runs them), as part
of :class:`splitbench.sweep.Sweep`: bout 0 over every split, later bouts over the splits still in
the race, and ``run.json`` kept up to date after every bout."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from splitbench.cutplan import Cut, output_bytes
from splitbench.graph import ModelGraph
from splitbench.kept_parts import KeptParts
from splitbench.race import Race, RaceView, race_view
from splitbench.run_record import RunRecord
from splitbench.splitter import ModelSplitter
from splitbench.sweep_plan import SweepOutcome

if TYPE_CHECKING:
    from splitbench.sweep import Sweep


class RaceBouts:
    """The race's part of a sweep (a base of :class:`splitbench.sweep.Sweep`)."""

    def _race(
        self: Sweep,
        graph: ModelGraph,
        cuts: list[Cut],
        splits: list[int],
        splitter: ModelSplitter,
        input_sets: list[dict],
        parts: KeptParts,
        lanes: dict[str, ThreadPoolExecutor],
        outcome: SweepOutcome,
    ) -> None:
        """--strategy race (:mod:`splitbench.race`): bout 0 over every split, then bouts over
        the splits still in the race only, until every verdict is decided, the rounds are done
        or the time is up. run.json says where the race stands after every bout."""
        race = Race(splits, self.plan.rounds, self.plan.tie_ms, self.plan.max_minutes)
        race.started = self._started  # --max-minutes counts from the start of the sweep
        self._save_race(race.record(), outcome)  # an interrupted race says so in run.json
        for bout in range(self.plan.rounds):
            todo = race.next_bout(bout)
            if todo is None:
                break
            stage = race.state(bout)
            for done, k in enumerate(todo):
                self.on_progress(stage, done, len(todo))
                if race.out_of_time():
                    break
                if bout == 0 and self._split_complete(splitter, k, 0):
                    outcome.skipped += 1
                    continue
                self._run_split(graph, cuts[k], splitter, input_sets, parts, lanes, outcome, bout)
            else:
                self.on_progress(stage, len(todo), len(todo))
            race.observe(self._race_view(graph, splits, outcome))
            for k in race.view.eliminated if race.view else []:
                parts.release(k, later_bouts=False)
            self.on_race(race.summary())
            self._save_race(race.record(), outcome)
        race.finish()
        self._save_race(race.record(), outcome)

    def _race_view(
        self: Sweep, graph: ModelGraph, splits: list[int], outcome: SweepOutcome
    ) -> RaceView:
        return race_view(
            self.db,
            model_sha=graph.sha256,
            clients=[name for name in self.clients if name not in outcome.stopped],
            server=self.server_name,
            networks=self.plan.networks,
            output_bytes=output_bytes(graph),
            num_operators=graph.num_operators,
            settings_hash=self.settings_hash,
            splits=splits,
            tie_ms=self.plan.tie_ms,
            statistic=self.plan.statistic,
        )

    def _save_race(self: Sweep, race: dict[str, Any], outcome: SweepOutcome) -> None:
        """run.json says where the race stands (also after an interruption)."""
        outcome.race = race
        replace(RunRecord.load(self.plan.out_dir), race=race).save(self.plan.out_dir)
