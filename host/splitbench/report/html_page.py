"""``report.html``: one self-contained page per run that people open anywhere and share.

Self-contained means one file that works from disk with no network: plotly.js is inlined from
the ``plotly`` wheel (``plotly.offline.get_plotlyjs()``), the styles and the page's own script
are inlined, the data is a JSON block built by :mod:`splitbench.report.report_data`. Nothing
is fetched at view time.
"""

from __future__ import annotations

import html
import json
from importlib import resources
from pathlib import Path
from typing import Any

TITLE = "splitbench report"


def _asset(name: str) -> str:
    """The page's own style sheet and script, shipped beside this module (``assets/``)."""
    return resources.files("splitbench.report").joinpath("assets", name).read_text("utf-8")


def _plotly_js() -> str:
    from plotly.offline import get_plotlyjs

    return get_plotlyjs()


def _json_for_script(data: Any) -> str:
    """JSON that is safe inside <script>: no '</' can close the element early."""
    return json.dumps(data, allow_nan=False).replace("</", "<\\/")


def render_html(payload: dict[str, Any]) -> str:
    model = payload["facts"]["model"]
    title = f"{TITLE}: {model.get('name') or 'model'}"
    return "\n".join(
        [
            "<!doctype html>",
            '<html lang="en"><head><meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>{html.escape(title)}</title>",
            f"<style>{_asset('report.css')}</style>",
            f"<script>{_plotly_js()}</script>",
            "</head><body>",
            '<main id="app"><h1>' + html.escape(title) + "</h1>",
            '<noscript><p class="banner">This page draws its charts and tables with JavaScript; '
            "the same numbers are in splits.csv and splits.xlsx beside it.</p></noscript>",
            "</main>",
            f'<script id="report-data" type="application/json">{_json_for_script(payload)}'
            "</script>",
            f"<script>{_asset('report.js')}</script>",
            "</body></html>",
        ]
    )


def write_html(payload: dict[str, Any], path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_html(payload), encoding="utf-8")
    return path
