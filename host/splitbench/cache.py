"""Where the kit keeps what it builds or fetches once per user (never in the source tree).

``SPLITBENCH_CACHE`` overrides the location; otherwise ``$XDG_CACHE_HOME/splitbench`` or
``~/.cache/splitbench``.
"""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir(*parts: str) -> Path:
    """Return (and create) a directory inside the user cache."""
    root = os.environ.get("SPLITBENCH_CACHE")
    if root:
        base = Path(root)
    else:
        xdg = os.environ.get("XDG_CACHE_HOME")
        base = (Path(xdg) if xdg else Path.home() / ".cache") / "splitbench"
    path = base.joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path
