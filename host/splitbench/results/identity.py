"""What makes two measurements "the same work": the run settings are part of the identity.

A measurement is identified by (model hash, split, role, target, strategy, settings, bout).
The settings part is the per-bout :class:`RunSettings` the runner used *and* the number of
bouts (``--rounds``) the part is spread over, because both change what the pooled numbers mean.
Their canonical JSON is hashed into a short, stable name (:func:`settings_hash`) that users
see in reports and pass to ``splitbench report --settings HASH``.

Keeping settings in the identity (and not as a property of the run directory) is what lets a
rerun with other ``--runs``/``--rounds`` add measurements beside the old ones instead of
mixing them or forcing ``--fresh``.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import math
from dataclasses import dataclass

from splitbench.measure.types import RunSettings

HASH_CHARS = 10


def settings_key(settings: RunSettings) -> str:
    """Canonical JSON of per-bout run settings: equal settings give equal text."""
    return json.dumps(dataclasses.asdict(settings), sort_keys=True)


@functools.lru_cache(maxsize=64)
def settings_from_json(text: str) -> RunSettings:
    """The settings of a stored measurement; one object per distinct text (frozen, so shared:
    a 333-split run has 4,000 measurements and a handful of settings)."""
    known = {f.name for f in dataclasses.fields(RunSettings)}
    return RunSettings(**{k: v for k, v in json.loads(text).items() if k in known})


def identity_json(settings: RunSettings, rounds: int | None) -> str:
    """Canonical JSON of the whole settings identity (``rounds`` None: unknown, from schema 1)."""
    return json.dumps({"run": dataclasses.asdict(settings), "rounds": rounds}, sort_keys=True)


def settings_hash(settings: RunSettings, rounds: int | None = 1) -> str:
    """Short stable name of a settings identity, e.g. ``3f9c0a1b2d``."""
    digest = hashlib.sha256(identity_json(settings, rounds).encode()).hexdigest()
    return digest[:HASH_CHARS]


@dataclass(frozen=True)
class SettingsRecord:
    """One settings identity as stored, with how much was measured under it."""

    hash: str
    settings: RunSettings  # per bout
    rounds: int | None  # None: recorded before bouts were counted (schema 1)
    measurements: int = 0
    last_finished: str | None = None

    def describe(self) -> str:
        """Totals as the user typed them (``--runs`` etc. are totals over the bouts)."""
        s, r = self.settings, self.rounds
        bouts = r or 1
        text = (
            f"threads {s.threads}, runs ≥{s.num_runs * bouts}, min {_num(s.min_secs * bouts)} s, "
            f"warm-up ≥{s.warmup_runs * bouts} runs/{_num(s.warmup_min_secs * bouts)} s"
        )
        text += f", {r} bout{'s' if r != 1 else ''}" if r else ", bouts unknown"
        return f"{self.hash} ({text})"


def _num(value: float) -> str:
    return f"{value:g}" if math.isfinite(value) else str(value)
