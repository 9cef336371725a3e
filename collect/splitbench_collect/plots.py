"""PNG plots of the split table: where the time goes per split, and which split wins as the
uplink gets faster.

Figures are built with matplotlib's object API on the Agg canvas (no pyplot state, no display),
so plotting is safe from worker threads and on machines without a screen. Every number drawn
comes from the split table and the network model in :mod:`splitbench.network`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogFormatter, MaxNLocator
from splitbench.network import NetworkConfig, downlink_ms, uplink_ms

from splitbench_collect.split_table import best_splits

COLORS = {
    "client": "#4C72B0",
    "uplink": "#DD8452",
    "server": "#55A868",
    "downlink": "#8172B3",
}
DPI = 110


def _arrays(df: pd.DataFrame) -> dict[str, np.ndarray]:
    def col(name: str) -> np.ndarray:
        return pd.to_numeric(df[name], errors="coerce").astype(float).to_numpy()

    return {
        "split": col("split").astype(int),
        "client": col("client_ms"),
        "server": col("server_ms"),
        "inter": col("intermediate_bytes"),
        "output": col("output_bytes"),
        "n": np.asarray(int(df["on_client"].iloc[0]) + int(df["on_server"].iloc[0])),
    }


def _save(fig: Figure, path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    FigureCanvasAgg(fig)
    fig.savefig(path, dpi=DPI)
    return path


def _split_labels(splits: np.ndarray, n: int) -> list[str]:
    return [f"{k}:{n - k}" for k in splits]


def stacked_latency_png(
    df: pd.DataFrame, cfg: NetworkConfig, path: Path, *, title: str | None = None
) -> Path:
    """Stacked bars per split: client, uplink (RTT + intermediate/uplink), server, downlink.

    A split whose client or server part could not be measured gets no bar but a grey cross,
    so a gap is visible as a gap; the best split for ``cfg`` is marked with a star.
    """
    a = _arrays(df)
    n = int(a["n"])
    splits = a["split"]
    at_client_only = splits == n
    up = np.array(
        [
            0.0 if last else uplink_ms(b, cfg)
            for b, last in zip(a["inter"], at_client_only, strict=True)
        ]
    )
    down = np.array(
        [
            0.0 if last else downlink_ms(b, cfg)
            for b, last in zip(a["output"], at_client_only, strict=True)
        ]
    )
    parts = {"client": a["client"], "uplink": up, "server": a["server"], "downlink": down}
    known = ~np.isnan(a["client"]) & ~np.isnan(a["server"]) & ~np.isnan(up)

    # Wide enough for readable labels up to ~48 splits; beyond that bars touch (width 1) and
    # the figure stops growing, so a 333-split model still gives a page-sized picture.
    width_in = float(np.clip(4.0 + 0.22 * len(splits), 8.0, 14.0))
    bar_width = 0.8 if len(splits) <= 48 else 1.0
    fig = Figure(figsize=(width_in, 5.6), layout="constrained")
    ax = fig.add_subplot()
    bottom = np.zeros(len(splits))
    for name, values in parts.items():
        heights = np.where(known, values, 0.0)
        ax.bar(
            splits, heights, bottom=bottom, width=bar_width, color=COLORS[name], label=name, lw=0
        )
        bottom += heights
    if (~known).any():
        ax.scatter(
            splits[~known],
            np.zeros((~known).sum()),
            marker="x",
            color="grey",
            zorder=3,
            label="not measured / failed",
        )
    best = best_splits(df, [cfg]).get(cfg.name)
    if best is not None:
        total = float(bottom[splits == best][0])
        ax.scatter(
            [best],
            [total * 1.03],
            marker="*",
            s=160,
            color="black",
            zorder=4,
            label=f"best: split {best}:{n - best} ({total:.3g} ms)",
        )
    ax.set_xlabel("split point (operators on client : operators on server)")
    ax.set_ylabel("end-to-end latency (ms)")
    ax.set_title(
        title
        or f"Latency per split — {cfg.name}: uplink {cfg.uplink_mbps:g} Mbit/s, "
        f"downlink {cfg.downlink_mbps:g} Mbit/s, RTT {cfg.rtt_ms:g} ms"
    )
    if len(splits) <= 48:
        ax.set_xticks(splits, _split_labels(splits, n), rotation=90, fontsize=8)
    else:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True, nbins=24))
    ax.set_xlim(splits.min() - 0.7, splits.max() + 0.7)
    ax.grid(axis="y", alpha=0.3)
    handles, labels = ax.get_legend_handles_labels()
    order = sorted(range(len(labels)), key=lambda i: (labels[i] not in COLORS, i))
    fig.legend(
        [handles[i] for i in order],
        [labels[i] for i in order],
        loc="outside lower center",
        fontsize=8,
        ncols=6,
    )
    return _save(fig, path)


def best_split_curve(
    df: pd.DataFrame, uplinks: np.ndarray, *, downlink_mbps: float, rtt_ms: float
) -> tuple[np.ndarray, np.ndarray]:
    """For each uplink rate, the best split and its end-to-end latency (NaN/-1 if none known).

    Same model as :func:`splitbench.network.e2e_ms`, vectorised over the uplink axis; ties go
    to the lowest split as in :func:`~splitbench_collect.split_table.best_splits`.
    """
    a = _arrays(df)
    n = int(a["n"])
    known = ~np.isnan(a["client"]) & ~np.isnan(a["server"])
    known &= ~np.isnan(a["inter"]) | (a["split"] == n)
    if not known.any():
        return np.full(len(uplinks), -1), np.full(len(uplinks), np.nan)
    client, server = a["client"][known], a["server"][known]
    inter, output = np.nan_to_num(a["inter"][known]), a["output"][known]
    splits = a["split"][known]
    networked = splits != n
    fixed = client + np.where(
        networked, rtt_ms + server + output * 8.0 / (downlink_mbps * 1e3), 0.0
    )
    per_uplink = inter[None, :] * 8.0 / (uplinks[:, None] * 1e3)
    e2e = fixed[None, :] + np.where(networked[None, :], per_uplink, 0.0)
    idx = np.argmin(e2e, axis=1)
    return splits[idx], e2e[np.arange(len(uplinks)), idx]


def best_split_vs_uplink_png(
    df: pd.DataFrame,
    path: Path,
    *,
    downlink_mbps: float,
    rtt_ms: float,
    uplink_range: tuple[float, float] = (0.1, 1000.0),
    networks: Sequence[NetworkConfig] = (),
    points: int = 400,
) -> Path:
    """Best split (top) and its end-to-end latency (bottom) against uplink bandwidth (log x),
    downlink and RTT held fixed, from the table's measured times and sizes.

    Configured ``networks`` are marked at their uplink rate, on this curve: the mark shows what
    the curve predicts at that uplink with this plot's downlink and RTT (the table's
    ``e2e_ms_<name>`` columns use each configuration's own figures).
    """
    lo, hi = uplink_range
    if not 0 < lo < hi:
        raise ValueError(f"uplink_range must be 0 < low < high, got {uplink_range}")
    uplinks = np.geomspace(lo, hi, points)
    best, best_ms = best_split_curve(df, uplinks, downlink_mbps=downlink_mbps, rtt_ms=rtt_ms)
    n = int(_arrays(df)["n"])

    fig = Figure(figsize=(9.0, 6.4), layout="constrained")
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=(3, 2))
    fig.suptitle(
        f"Best split against uplink bandwidth (downlink {downlink_mbps:g} Mbit/s, "
        f"RTT {rtt_ms:g} ms)"
    )
    if (best < 0).all():
        top.text(
            0.5, 0.5, "no split with both parts measured", ha="center", transform=top.transAxes
        )
    else:
        ok = best >= 0
        top.step(uplinks[ok], best[ok], where="mid", color=COLORS["client"], lw=2)
        bottom.plot(uplinks[ok], best_ms[ok], color=COLORS["server"], lw=2, label="best split")
        for k, style, label in (
            (n, ":", f"all on client ({n}:0)"),
            (0, "--", f"all on server (0:{n})"),
        ):
            _, anchor_ms = best_split_curve(
                df[df["split"] == k], uplinks, downlink_mbps=downlink_mbps, rtt_ms=rtt_ms
            )
            if not np.isnan(anchor_ms).all():
                bottom.plot(uplinks, anchor_ms, style, color="grey", lw=1, label=label)
        for cfg in networks:
            if not lo <= cfg.uplink_mbps <= hi:
                continue
            k, ms = best_split_curve(
                df, np.array([cfg.uplink_mbps]), downlink_mbps=downlink_mbps, rtt_ms=rtt_ms
            )
            for ax in (top, bottom):
                ax.axvline(cfg.uplink_mbps, color="grey", lw=0.8, ls=(0, (2, 3)))
            if k[0] >= 0:
                top.plot([cfg.uplink_mbps], [k[0]], "o", color=COLORS["uplink"], zorder=3)
                bottom.plot([cfg.uplink_mbps], [ms[0]], "o", color=COLORS["uplink"], zorder=3)
                label = f" {cfg.name}: {k[0]}:{n - k[0]}"
            else:
                label = f" {cfg.name}"
            # Rotated along its own line, so close configurations do not write over each other.
            top.text(
                cfg.uplink_mbps,
                0.5,
                label,
                transform=top.get_xaxis_transform(),
                rotation=90,
                va="center",
                ha="right",
                fontsize=8,
                bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.7, "pad": 1},
            )
        bottom.legend(fontsize=8, loc="upper right")
    top.set_xscale("log")
    top.set_xlim(lo / 1.3, hi * 1.3)
    top.set_ylim(-0.5, n + 0.5)
    top.yaxis.set_major_locator(MaxNLocator(integer=True))
    top.set_ylabel("best split (operators on client)")
    top.grid(alpha=0.3, which="both")
    bottom.set_yscale("log")
    # Plain numbers ("30", not "3 x 10^1"); minor ticks labelled only on a short (< 1 decade)
    # axis, where they are all there is to read.
    bottom.yaxis.set_major_formatter(FuncFormatter(lambda value, _pos: f"{value:g}"))
    bottom.yaxis.set_minor_formatter(LogFormatter(labelOnlyBase=False, minor_thresholds=(1, 0.4)))
    bottom.set_xlabel("uplink bandwidth (Mbit/s, log scale)")
    bottom.set_ylabel("end-to-end latency (ms)")
    bottom.grid(alpha=0.3, which="both")
    return _save(fig, path)
