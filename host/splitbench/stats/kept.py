"""Part statistics kept beside the results database, so no part is resampled twice.

Building a split table resamples every part (:func:`~splitbench.stats.parts.part_stats`, about
2 ms a part, most of it :func:`scipy.stats.bootstrap`'s overhead per call) from every raw
sample; on a 333-split run that was most of ``splitbench report``. A part's statistics depend
only on the samples of its bouts, the statistic and the seed, and a stored bout never changes.
So they are kept in ``<database>.stats.npz`` under a key made of exactly those: each bout's
measurement id and finish time (a results file deleted and measured anew starts its ids at 1
again, never its times),
the statistic, the seed and :data:`VERSION`. The sweep builds its tables when it ends, so
``report`` finds every part there and reads no raw sample of them.

The file is derived data: deleting it loses nothing, and one that cannot be read or written
costs time only (it is rebuilt; a damaged one is never half trusted).
"""

from __future__ import annotations

import os
import tempfile
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from splitbench.stats.parts import N_RESAMPLES, PartStats

VERSION = 1  # bump when part_stats computes anything differently
# Parts kept at most, the latest table's last (16 kB each: 32 MB at most); a 333-split table
# has 668 parts, so a run's tables for both statistics and a few settings all stay.
MAX_PARTS = 2_000
_NUMBERS = ("estimate", "lo", "hi", "median", "mean", "p10", "p90", "std", "n_samples", "n_bouts")


@dataclass(frozen=True)
class KeptPart:
    """What a part's raw samples give a table: its statistics and its mean warm-up run."""

    stats: PartStats
    warmup_ms: float


def part_key(bouts: Iterable[tuple[int, str]], statistic: str, seed: int) -> str:
    """The key of a part's statistics: its bouts as (measurement id, finish time)."""
    said = ";".join(f"{mid}@{finished}" for mid, finished in bouts)
    return f"v{VERSION}|{statistic}|{seed}|{said}"


def kept_path(db_path: Path) -> Path:
    return Path(db_path).with_name(Path(db_path).name + ".stats.npz")


def load(db_path: Path) -> dict[str, KeptPart]:
    """Every part kept for the database at ``db_path`` (none when there is no usable file)."""
    path = kept_path(db_path)
    try:
        with np.load(path, allow_pickle=False) as f:
            keys, numbers, draws = f["keys"], f["numbers"], f["draws"]
            texts, warmups = f["texts"], f["warmup_ms"]
    except (OSError, KeyError, ValueError, zipfile.BadZipFile):
        return {}
    n = len(keys)
    shapes_ok = numbers.shape == (n, len(_NUMBERS)) and draws.shape == (n, N_RESAMPLES)
    if not shapes_ok or texts.shape != (n, 3) or warmups.shape != (n,):
        return {}
    kept: dict[str, KeptPart] = {}
    for i, key in enumerate(keys.tolist()):
        v = dict(zip(_NUMBERS, numbers[i].tolist(), strict=True))
        statistic, unstable, note = texts[i].tolist()
        stats = PartStats(
            statistic=statistic,
            estimate=v["estimate"],
            lo=v["lo"],
            hi=v["hi"],
            median=v["median"],
            mean=v["mean"],
            p10=v["p10"],
            p90=v["p90"],
            std=v["std"],
            n_samples=int(v["n_samples"]),
            n_bouts=int(v["n_bouts"]),
            unstable=unstable or None,
            draws=draws[i],
            note=note,
        )
        kept[key] = KeptPart(stats, float(warmups[i]))
    return kept


def save(db_path: Path, parts: dict[str, KeptPart]) -> None:
    """Write ``parts`` (the newest :data:`MAX_PARTS`) beside the database, atomically; a
    folder that cannot be written keeps no file (the next table resamples instead)."""
    items: Sequence[tuple[str, KeptPart]] = list(parts.items())[-MAX_PARTS:]
    path = kept_path(db_path)
    arrays = {
        "keys": np.array([k for k, _ in items], dtype=str),
        "numbers": np.array(
            [[float(getattr(p.stats, name)) for name in _NUMBERS] for _, p in items],
            dtype=float,
        ).reshape(len(items), len(_NUMBERS)),
        "draws": np.array([p.stats.draws for _, p in items], dtype=float).reshape(
            len(items), N_RESAMPLES
        ),
        "texts": np.array(
            [[p.stats.statistic, p.stats.unstable or "", p.stats.note] for _, p in items],
            dtype=str,
        ).reshape(len(items), 3),
        "warmup_ms": np.array([p.warmup_ms for _, p in items], dtype=float),
    }
    try:
        fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    except OSError:
        return
    try:
        with os.fdopen(fd, "wb") as handle:
            np.savez(handle, **arrays)
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; the run's other files are ordinary ones
        os.replace(tmp, path)
    except OSError:
        Path(tmp).unlink(missing_ok=True)
