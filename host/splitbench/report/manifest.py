"""``outputs.json``: the files the last report of a run directory wrote, so the next one removes
what it no longer writes (the charts of a network dropped from ``--network``) and nothing else.

File names cannot tell: network and target names may hold ``_`` (``latency_stacked_edge_b.png``
is the network ``edge_b``, or ``edge`` with a suffix), so nothing is ever removed by guessing from
a name — only files this record says an earlier report wrote. A run directory written before the
record existed has none: nothing is removed there.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path

MANIFEST = "outputs.json"


def _load(run_dir: Path) -> dict[str, list[str]]:
    try:
        data = json.loads((run_dir / MANIFEST).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {str(k): [str(n) for n in v] for k, v in data.items() if isinstance(v, list)}


def record_outputs(run_dir: Path, tag: str, written: Iterable[Path]) -> list[Path]:
    """Record the files one report wrote (``tag``: the settings suffix, one entry each) and
    remove those the previous report with the same tag wrote and this one did not. Returns the
    removed files. Only plain file names directly in ``run_dir`` are recorded or removed."""
    names = sorted({p.name for p in written if Path(p).parent.resolve() == run_dir.resolve()})
    known = _load(run_dir)
    still = {n for files in (v for k, v in known.items() if k != tag) for n in files}
    removed = []
    for name in known.get(tag, []):
        path = run_dir / name
        if name in names or name in still or Path(name).name != name or not path.is_file():
            continue
        path.unlink()
        removed.append(path)
    known[tag] = names
    partial = run_dir / (MANIFEST + ".partial")
    partial.write_text(json.dumps(known, indent=2, sort_keys=True) + "\n")
    os.replace(partial, run_dir / MANIFEST)
    return removed
