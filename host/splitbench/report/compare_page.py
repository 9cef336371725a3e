"""``compare.html``: one self-contained page (no script, no external asset) for a comparison.

Every string that comes from the user or the runs (paths, model and target names, network
names, notes) goes through :func:`html.escape`.
"""

from __future__ import annotations

import html
import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from splitbench.report.compare import Comparison
    from splitbench.report.compare_runs import RunSide

STYLE = """
body{font-family:system-ui,sans-serif;margin:1.5em;color:#222;max-width:80em}
table{border-collapse:collapse;margin:.5em 0 1.5em}
th,td{border:1px solid #ccc;padding:.2em .5em;text-align:right}
th{background:#f2f2f2}td.t{text-align:left}
tr.sig td{background:#fff1c4}tr.sig td.s{font-weight:bold}
.changed{color:#a40000;font-weight:bold}.same{color:#2a6b2a}
p.rule{background:#f6f6f6;padding:.5em;border-left:3px solid #888}
"""


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _ms(value: object, signed: bool = False) -> str:
    try:
        v = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return ""
    if not math.isfinite(v):
        return ""
    if v == 0:  # no "-0"
        v = 0.0
    return f"{v:+.4g}" if signed else f"{v:.4g}"  # sub-microsecond parts keep their digits


def _run_facts(tag: str, side: RunSide) -> str:
    r = side.record
    clients = ", ".join(r.clients)
    return (
        f"<tr><td class=t>{tag}</td><td class=t>{_e(side.path)}</td>"
        f"<td class=t>{_e(r.model_name)}</td><td class=t>{_e(clients)}</td>"
        f"<td class=t>{_e(r.server)}</td><td class=t>{_e(side.settings_text)}</td></tr>"
    )


def render_compare_html(cmp: Comparison) -> str:
    import pandas as pd

    from splitbench.report.compare import split_label, summary_lines

    n = cmp.a.record.num_operators
    title = f"splitbench compare: {cmp.a.record.model_name}"
    out = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(title)}</title><style>{STYLE}</style></head><body>",
        f"<h1>{_e(title)}</h1>",
        "<table><tr><th>run</th><th>directory</th><th>model</th><th>client(s)</th>"
        "<th>server</th><th>settings</th></tr>",
        _run_facts("A", cmp.a),
        _run_facts("B", cmp.b),
        "</table>",
        f"<p><b>{_e(summary_lines(cmp)[0])}</b></p>",
        '<p class="rule">Each difference is B − A of the '
        f"{_e(cmp.statistic)} of a part's steady-state times, with a 95 % interval from "
        "resampling each run's bouts independently. It counts as significant only when the "
        f"interval excludes 0 <i>and</i> the difference exceeds {cmp.min_effect_pct:g} % of A's "
        "estimate: at 95 % about one part in twenty looks different by chance, and a quiet "
        "machine still drifts a few percent between two runs.</p>",
        "<h2>Best split per network</h2>",
        "<table><tr><th>network</th><th>client A</th><th>client B</th><th>best in A</th>"
        "<th>best in B</th><th>verdict</th><th>notes</th></tr>",
    ]
    for v in cmp.verdicts:
        best_a = "—" if v.best_a is None else split_label(v.best_a, n)
        best_b = "—" if v.best_b is None else split_label(v.best_b, n)
        if not v.changed:
            state = '<span class="same">unchanged</span>'
        elif v.within_noise:
            state = "changed within the noise"
        else:
            state = '<span class="changed">changed</span>'
        notes = " ".join(f"{t}: {_e(x)}" for t, x in (("A", v.text_a), ("B", v.text_b)) if x)
        out.append(
            f"<tr><td class=t>{_e(v.network)}</td><td class=t>{_e(v.client_a)}</td>"
            f"<td class=t>{_e(v.client_b)}</td><td>{_e(best_a)}</td><td>{_e(best_b)}</td>"
            f"<td class=t>{state}</td><td class=t>{notes}</td></tr>"
        )
    out += [
        "</table>",
        "<h2>Per part (times in ms)</h2>",
        "<table><tr><th>k:N-k</th><th>role</th><th>target A</th><th>target B</th>"
        "<th>A</th><th>A 95 % CI</th><th>B</th><th>B 95 % CI</th><th>B − A</th>"
        "<th>95 % CI</th><th>%</th><th>significant</th><th>notes</th></tr>",
    ]
    for _, row in cmp.parts.iterrows():
        sig = row["significant"]
        known = not pd.isna(sig)
        cls = ' class="sig"' if known and bool(sig) else ""
        shown = ("yes" if bool(sig) else "no") if known else ""
        flags = [(t, row[f"{t.lower()}_unstable"]) for t in "AB"]
        notes = " ".join([str(row["note"] or ""), *(f"{t}: {x}" for t, x in flags if x)]).strip()
        pct = row["diff_pct"]
        out.append(
            f"<tr{cls}><td>{_e(row['label'])}</td><td class=t>{_e(row['role'])}</td>"
            f"<td class=t>{_e(row['target_a'])}</td><td class=t>{_e(row['target_b'])}</td>"
            f"<td>{_ms(row['a_ms'])}</td><td>{_ms(row['a_lo_ms'])} … {_ms(row['a_hi_ms'])}</td>"
            f"<td>{_ms(row['b_ms'])}</td><td>{_ms(row['b_lo_ms'])} … {_ms(row['b_hi_ms'])}</td>"
            f"<td>{_ms(row['diff_ms'], True)}</td>"
            f"<td>{_ms(row['diff_lo_ms'], True)} … {_ms(row['diff_hi_ms'], True)}</td>"
            f"<td>{'' if not math.isfinite(float(pct)) else f'{float(pct):+.1f}'}</td>"
            f"<td class=s>{shown}</td><td class=t>{_e(notes)}</td></tr>"
        )
    out += ["</table>", "</body></html>"]
    return "\n".join(out)
