"""The seeds' figure (S4-230565 fig. 2.10-1): compressed size in % of the anchor against
performance, one marker per coder configuration, the anchor's performance as a red line."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any


def plot_size_vs_perf(rows: Sequence[dict], out: Path, *, title: str) -> Path:
    import matplotlib.pyplot as plt

    fig = size_vs_perf_figure(rows, title=title)
    fig.savefig(out)
    plt.close(fig)
    return out


def size_vs_perf_figure(rows: Sequence[dict], *, title: str) -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 4.8), dpi=110)
    metric = str(rows[0]["metric_name"])
    anc_perf = float(rows[0]["anc_perf"])
    by_coder: dict[str, list[dict]] = {}
    for row in rows:
        by_coder.setdefault(str(row["coder_name"]), []).append(row)
    markers = {"nnc": "o", "fp16": "s", "int8-weights": "D", "zstd": "^", "raw": "v"}
    for name, group in by_coder.items():
        group = sorted(group, key=lambda r: float(r["compress_ratio"]))
        xs = [100 * float(r["compress_ratio"]) for r in group]
        ys = [float(r["rec_perf"]) for r in group]
        ax.plot(
            xs, ys, marker=markers.get(name, "o"), linestyle="-" if len(xs) > 1 else "", label=name
        )
        if name == "nnc":
            for r, x, y in zip(group, xs, ys, strict=True):
                ax.annotate(
                    f"QP {r['qp']}", (x, y), textcoords="offset points", xytext=(4, 4), fontsize=7
                )
    ax.axhline(anc_perf, color="red", linewidth=1.2, label=f"anchor ({anc_perf:.4g})")
    ax.set_xlabel("cSize: bitstream size in % of the anchor's parameters")
    ax.set_ylabel(metric)
    ax.set_title(title, fontsize=10)
    ax.grid(True, alpha=0.3)
    ax.margins(x=0.1, y=0.15)  # room for the QP labels inside the axes
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
