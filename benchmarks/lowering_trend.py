"""Per-part lowering time and memory over an ExecuTorch sweep, read from its part cache.

Every part the sweep lowers lands in ``OUT/model/.../executorch/parts/`` as a ``.pte`` (written
when its lowering finishes, in whichever process lowered it) and a manifest that says how long
the lowering took (``seconds``) and how many split units the part holds. Ordered by when they
were finished, the first and last quarter of the parts say whether lowering got slower as the
run went on; the RSS sampled nearest to each part's finish says whether memory grew with it.
A head and a tail of the same split together hold every unit, so seconds per unit is shown as
well: it does not depend on which end of the model the parts of a quarter come from.
"""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

MAX_RATIO = 2.0  # last-quarter median over first-quarter median; the growth found was 10x+


@dataclass(frozen=True)
class Lowered:
    finished: float  # epoch seconds: the .pte's modification time
    seconds: float  # the lowering's wall time, from the part's manifest
    units: int  # split units in the part


def lowered_parts(out: Path) -> list[Lowered]:
    """The parts lowered by the run in ``out`` (not read from a cache), in finishing order."""
    found: list[Lowered] = []
    for manifest in out.rglob("executorch/parts/*/*.json"):
        data = json.loads(manifest.read_text())
        pte = manifest.with_suffix(".pte")
        if "error" in data or data.get("cached") or not pte.is_file():
            continue
        found.append(Lowered(pte.stat().st_mtime, float(data["seconds"]), int(data["units"])))
    return sorted(found, key=lambda p: p.finished)


def _spread(values: list[float], unit: str, fmt: str = ".2f") -> str:
    if not values:
        return "none"
    med = statistics.median(values)
    if len(values) < 4:
        return f"median {med:{fmt}} {unit} ({len(values)} values)"
    q1, _, q3 = statistics.quantiles(values, n=4)
    return (
        f"median {med:{fmt}} {unit} (IQR {q1:{fmt}}..{q3:{fmt}}, range"
        f" {min(values):{fmt}}..{max(values):{fmt}})"
    )


def _ratio(first: list[float], last: list[float]) -> float:
    if not first or not last or statistics.median(first) <= 0:
        return math.nan
    return statistics.median(last) / statistics.median(first)


def lowering_lines(
    parts: list[Lowered], rss_mb_at: Callable[[float], tuple[float, float] | None]
) -> list[str]:
    """The report: first vs last quarter of the parts, time per part and per unit, and the RSS
    when each was finished (``rss_mb_at(epoch seconds)``: MB of the sweep and its children
    together, and of the largest single one of them, a lowering worker or the sweep itself)."""
    if len(parts) < 8:
        return [f"ExecuTorch lowering: {len(parts)} parts lowered, too few for quarters"]
    q = len(parts) // 4
    first, last = parts[:q], parts[-q:]
    lines = [
        f"ExecuTorch lowering: {len(parts)} parts lowered over"
        f" {parts[-1].finished - parts[0].finished:.0f} s; first vs last quarter ({q} parts"
        " each, in the order they were finished):"
    ]
    for name, pick, unit, fmt in (
        ("time per part", lambda p: p.seconds, "s", ".2f"),
        ("time per split unit", lambda p: p.seconds / max(1, p.units), "s", ".3f"),
    ):
        a, b = [pick(p) for p in first], [pick(p) for p in last]
        lines.append(
            f"  {name}: first {_spread(a, unit, fmt)}; last {_spread(b, unit, fmt)};"
            f" last/first {_ratio(a, b):.2f}x"
        )
    mem = [[m for m in map(rss_mb_at, (p.finished for p in g)) if m] for g in (first, last)]
    for i, name in ((0, "the sweep's processes together"), (1, "the largest one of them")):
        a, b = ([m[i] for m in group] for group in mem)
        lines.append(
            f"  RSS of {name} when a part was done: first {_spread(a, 'MB', '.0f')};"
            f" last {_spread(b, 'MB', '.0f')}; last/first {_ratio(a, b):.2f}x"
        )
    per_unit = _ratio(
        [p.seconds / max(1, p.units) for p in first], [p.seconds / max(1, p.units) for p in last]
    )
    if math.isnan(per_unit):
        verdict = "unknown"
    elif per_unit <= MAX_RATIO:
        verdict = "per-part lowering time does NOT grow over the run"
    else:
        verdict = "per-part lowering time GROWS over the run"
    lines.append(f"  verdict (time per unit, last/first median <= {MAX_RATIO:g}x): {verdict}")
    return lines
