"""Writing a comparison: ``compare.csv`` and ``compare.html``, both or neither.

Both files are rendered in memory first, written beside their final names as ``*.partial`` and
renamed into place only when both are complete, so an interrupted or failed write never leaves
half a comparison (an earlier comparison in the same folder stays whole until replaced).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from splitbench.errors import SplitbenchError

if TYPE_CHECKING:
    from splitbench.report.compare import Comparison

CSV_NAME = "compare.csv"
HTML_NAME = "compare.html"


def default_out(dir_a: Path, dir_b: Path) -> Path:
    """Beside run B's files: ``DIR_B/compare-vs-<name of A>``."""
    name = dir_a.resolve().name or "A"
    return dir_b / f"compare-vs-{name}"


def write_comparison(cmp: Comparison, out: Path) -> tuple[Path, Path]:
    from splitbench.report.compare_page import render_compare_html

    texts = {CSV_NAME: cmp.parts.to_csv(index=False), HTML_NAME: render_compare_html(cmp)}
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SplitbenchError(f"{out}: cannot create the folder ({exc.strerror or exc})") from None
    partials = {name: out / f"{name}.partial" for name in texts}
    try:
        for name, text in texts.items():
            partials[name].write_text(text, encoding="utf-8")
        for name in texts:
            os.replace(partials[name], out / name)
    except OSError as exc:
        why = exc.strerror or exc
        raise SplitbenchError(f"{out}: cannot write the comparison ({why})") from None
    finally:
        for path in partials.values():
            path.unlink(missing_ok=True)
    return out / CSV_NAME, out / HTML_NAME
