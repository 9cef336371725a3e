"""PNG plots of the split table, made to be pasted into a contribution or a slide: where the
time goes per split, and which split wins as the uplink gets faster.

Two choices a reader should know about:

* **Components on a log axis, shares as stacked bars.** One network term (uploading a
  2 MB feature map at 6 Mbit/s: seconds) can be a hundred times the phone's compute (tens of
  ms). On a linear axis the small segments vanish; stacked bars on a log axis are worse, since
  a segment's height there depends on what sits below it. So ``latency_stacked_<network>.png``
  draws each component and the end-to-end total as a line on a log axis (every value readable
  at any bandwidth), and below it each split's end-to-end latency as 100 % stacked shares (what
  dominates each split, whatever the magnitudes).
* **Every network with its own figures.** ``best_split_vs_uplink.png`` sweeps the uplink rate
  for each configured network with that network's own downlink and RTT, so each network's
  marker sits on its own curve. Curves that coincide are drawn slightly apart (a fraction of a
  split) so none hides another.

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
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullLocator

from splitbench.network import NetworkConfig, downlink_ms, uplink_ms

COLORS = {
    "client": "#4C72B0",
    "uplink": "#DD8452",
    "server": "#55A868",
    "downlink": "#8172B3",
}
TOTAL_COLOR = "#222222"
# One colour per network in best_split_vs_uplink.png (matplotlib's tab10 minus the component
# colours above, so a network is never mistaken for a component).
NETWORK_COLORS = (
    "#1f77b4",
    "#d62728",
    "#2ca02c",
    "#9467bd",
    "#ff7f0e",
    "#17becf",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
)
DPI = 110
# 16:9 at 110 dpi: 1210 x 680 pixels, the shape of a slide.
SLIDE_SIZE = (11.0, 6.2)


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
    fig.savefig(path, dpi=DPI)
    return path


def _split_labels(splits: np.ndarray, n: int) -> list[str]:
    return [f"{k}:{n - k}" for k in splits]


def _plain_log_axis(ax: object) -> None:
    """Log y axis with plain numbers ("30", not "3 x 10^1") at 1-2-5 steps, each labelled and
    gridded; no unlabelled minor ticks between them (on a wide range they were dozens of
    marks that said nothing the labels did not, and each costs matplotlib a tick to draw)."""
    ax.set_yscale("log")  # type: ignore[attr-defined]
    ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))  # type: ignore[attr-defined]
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _p: f"{v:g}"))  # type: ignore[attr-defined]
    ax.yaxis.set_minor_locator(NullLocator())  # type: ignore[attr-defined]


def latency_components(df: pd.DataFrame, cfg: NetworkConfig) -> dict[str, np.ndarray]:
    """Per split: client, uplink (RTT + intermediate/uplink), server, downlink and their sum,
    as :func:`splitbench.network.e2e_ms` adds them (no network term at split N); for a ``tcp``
    profile the table's simulated ``uplink_ms_`` / ``downlink_ms_`` medians. NaN where a part
    was not measured."""
    a = _arrays(df)
    n = int(a["n"])
    last = a["split"] == n
    up_col, down_col = f"uplink_ms_{cfg.name}", f"downlink_ms_{cfg.name}"
    if up_col in df.columns and down_col in df.columns:  # a tcp profile: the simulated medians
        up = pd.to_numeric(df[up_col], errors="coerce").to_numpy(dtype=float)
        down = pd.to_numeric(df[down_col], errors="coerce").to_numpy(dtype=float)
    else:
        up = np.array(
            [0.0 if end else uplink_ms(b, cfg) for b, end in zip(a["inter"], last, strict=True)]
        )
        down = np.array(
            [0.0 if end else downlink_ms(b, cfg) for b, end in zip(a["output"], last, strict=True)]
        )
    total = a["client"] + up + a["server"] + down
    return {
        "client": a["client"],
        "uplink": up,
        "server": a["server"],
        "downlink": down,
        "total": total,
    }


def stacked_latency_png(
    df: pd.DataFrame,
    cfg: NetworkConfig,
    path: Path,
    *,
    title: str | None = None,
    note: str = "",
    anchors: pd.DataFrame | None = None,
) -> Path:
    """``latency_stacked_<network>.png``: see :func:`stacked_latency_figure`."""
    return _save(stacked_latency_figure(df, cfg, title=title, note=note, anchors=anchors), path)


def _e2e_band(df: pd.DataFrame, cfg: NetworkConfig) -> tuple[np.ndarray, np.ndarray] | None:
    """The 95 % interval of end to end per split (NaN where unknown); None without one."""
    lo, hi = f"e2e_lo_ms_{cfg.name}", f"e2e_hi_ms_{cfg.name}"
    if lo not in df.columns or hi not in df.columns:
        return None
    low = pd.to_numeric(df[lo], errors="coerce").to_numpy(dtype=float)
    high = pd.to_numeric(df[hi], errors="coerce").to_numpy(dtype=float)
    return (low, high) if np.isfinite(low).any() else None


def stacked_latency_figure(
    df: pd.DataFrame,
    cfg: NetworkConfig,
    *,
    title: str | None = None,
    note: str = "",
    anchors: pd.DataFrame | None = None,
) -> Figure:
    """Where the time goes, per split, for one network (see the module docstring for why the
    top panel is lines on a log axis and the bottom one shares).

    A split whose client or server part could not be measured has no bar and a grey cross; the
    best split for ``cfg`` is marked with a star and named in the legend. The all-on-the-server
    anchors (``anchors``: the coded picture uploaded) are dashed horizontal reference lines.
    """
    a = _arrays(df)
    n = int(a["n"])
    splits = a["split"]
    parts = latency_components(df, cfg)
    known = ~np.isnan(parts["total"])
    many = len(splits) > 48

    fig = Figure(figsize=SLIDE_SIZE, layout="constrained")
    FigureCanvasAgg(fig)
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=(3, 2))
    fig.suptitle(
        (
            title
            or f"Latency per split — {cfg.name}: uplink {cfg.uplink_mbps:g} Mbit/s, "
            f"downlink {cfg.downlink_mbps:g} Mbit/s, RTT {cfg.rtt_ms:g} ms"
        )
        + (f"\n{note}" if note else ""),
        fontsize=12,
    )
    marker = None if many else "o"
    # The total goes underneath, wide, and the components on top of it: where one component is
    # nearly the whole latency (a slow uplink) its line still shows over the total's.
    total = np.where(known, parts["total"], np.nan)
    top.plot(
        splits, total, color=TOTAL_COLOR, lw=3.4, marker=marker, ms=6, label="end to end", zorder=2
    )
    band = _e2e_band(df, cfg)
    if band is not None:  # the 95 % interval of end to end (bootstrap over the bouts)
        top.fill_between(
            splits, band[0], band[1], color=TOTAL_COLOR, alpha=0.18, lw=0, step=None, zorder=1,
            label="end to end, 95 % interval",
        )  # fmt: skip
    for name in COLORS:
        values = np.where(parts[name] > 0, parts[name], np.nan)  # 0 has no place on a log axis
        top.plot(
            splits, values, color=COLORS[name], lw=1.4, marker=marker, ms=3.5, label=name, zorder=3
        )
    # Same rule as split_table.best_splits (lowest end to end, ties to the lowest split), on the
    # same sum, so a table without e2e columns can be drawn too.
    best = int(splits[np.nanargmin(parts["total"])]) if known.any() else None
    if best is not None:
        best_ms = float(parts["total"][splits == best][0])
        for ax in (top, bottom):
            ax.axvspan(best - 0.5, best + 0.5, color="#FFD54F", alpha=0.35, lw=0, zorder=0)
        top.plot(
            [best],
            [best_ms],
            marker="*",
            ms=17,
            color="black",
            mec="white",
            ls="none",
            zorder=5,
            label=f"best: {best}:{n - best}, {best_ms:.3g} ms",
        )
    _anchor_lines(top, anchors, cfg)
    if (~known).any():
        top.plot(
            splits[~known],
            np.full((~known).sum(), np.nanmin(total) if known.any() else 1.0),
            "x",
            color="grey",
            ms=7,
            ls="none",
            label="not measured / failed",
        )
    _plain_log_axis(top)
    top.set_ylabel("ms (log scale)")
    top.grid(alpha=0.3, which="major")
    top.legend(loc="upper left", bbox_to_anchor=(1.005, 1.0), fontsize=9, frameon=False)

    shares = {name: np.where(known, parts[name], 0.0) for name in COLORS}
    denom = np.where(known & (parts["total"] > 0), parts["total"], 1.0)
    bottom_acc = np.zeros(len(splits))
    width = 1.0 if many else 0.8
    # Many touching bars: one filled step area per component draws the same picture with one
    # polygon instead of one bar per split (hundreds of bars made a report take tens of
    # seconds; fill_between's step polygon costs a tenth of what stairs' patch does to place)
    steps = many and bool(np.all(np.diff(splits) == 1))
    edges = np.append(splits - 0.5, splits[-1] + 0.5)
    for name in COLORS:
        pct = 100.0 * shares[name] / denom
        if steps:
            low, high = bottom_acc, bottom_acc + pct
            bottom.fill_between(
                edges, np.append(low, low[-1]), np.append(high, high[-1]), step="post",
                color=COLORS[name], lw=0, label=name,
            )  # fmt: skip
        else:
            bottom.bar(
                splits, pct, bottom=bottom_acc, width=width, color=COLORS[name], lw=0, label=name
            )
        bottom_acc += pct
    if (~known).any():
        bottom.plot(splits[~known], np.full((~known).sum(), 50.0), "x", color="grey", ms=7)
    bottom.set_ylim(0, 100)
    bottom.set_ylabel("share of end to end (%)")
    bottom.legend(loc="upper left", bbox_to_anchor=(1.005, 1.0), fontsize=9, frameon=False)
    bottom.set_xlabel("split point (operators on client : operators on server)")
    if not many:
        bottom.set_xticks(splits, _split_labels(splits, n), rotation=90, fontsize=8)
    else:
        bottom.xaxis.set_major_locator(MaxNLocator(integer=True, nbins=24))
    bottom.set_xlim(splits.min() - 0.7, splits.max() + 0.7)
    return fig


# One colour per anchor (none of them a component's); anchors whose times are close would hide
# one another, so each is dashed with a pattern that fills the others' gaps: where lines coincide
# every colour shows in turn.
ANCHOR_COLORS = ("#6A1B9A", "#D81B60", "#00838F", "#6D4C41", "#9E9D24", "#3949AB")
ANCHOR_DASH = 6.0  # points of each anchor's colour in turn


def _anchor_lines(ax: object, anchors: pd.DataFrame | None, cfg: NetworkConfig) -> None:
    """One line per anchor at its end-to-end latency on ``cfg``, named in the legend."""
    column = f"e2e_ms_{cfg.name}"
    if anchors is None or anchors.empty or column not in anchors.columns:
        return
    values = pd.to_numeric(anchors[column], errors="coerce").to_numpy(dtype=float)
    shown = [(row["anchor"], ms) for (_, row), ms in zip(anchors.iterrows(), values, strict=True)
             if np.isfinite(ms) and ms > 0]  # fmt: skip
    m = len(shown)
    for j, (name, ms) in enumerate(shown):
        color = ANCHOR_COLORS[j % len(ANCHOR_COLORS)]
        dash = (ANCHOR_DASH, ANCHOR_DASH * (m - 1)) if m > 1 else (ANCHOR_DASH, ANCHOR_DASH / 2)
        offset = (m - j) % m * ANCHOR_DASH if m > 1 else 0.0
        ax.axhline(ms, color=color, lw=2.0, ls=(offset, dash), zorder=1)  # type: ignore[attr-defined]
        # The legend's sample is too short for the interleaved pattern: a plain dash there.
        label = f"anchor {name} upload: {ms:.3g} ms"
        ax.plot([], [], color=color, lw=2.0, ls=(0, (3, 1.5)), label=label)  # type: ignore[attr-defined]


def rate_text(mbps: float) -> str:
    """An uplink rate with the unit that reads best: 100 kbit/s, 10 Mbit/s, 1 Gbit/s."""
    if mbps >= 1000:
        return f"{mbps / 1000:g} Gbit/s"
    return f"{mbps:g} Mbit/s" if mbps >= 1 else f"{mbps * 1000:g} kbit/s"


def best_split_curve(
    df: pd.DataFrame, uplinks: np.ndarray, *, downlink_mbps: float, rtt_ms: float
) -> tuple[np.ndarray, np.ndarray]:
    """For each uplink rate, the best split and its end-to-end latency (NaN/-1 if none known):
    the decision map's row for the client as measured (:mod:`splitbench.report.decision_map`,
    the ideal arithmetic of :func:`splitbench.network.e2e_ms`; ties to the lowest split as in
    :func:`~splitbench.report.split_table.best_splits`)."""
    from splitbench.report.decision_map import decision_map

    if df.empty:  # e.g. split N's row when the run did not ask for it
        return np.full(len(uplinks), -1), np.full(len(uplinks), np.nan)
    cfg = NetworkConfig("curve", uplink_mbps=1.0, downlink_mbps=downlink_mbps, rtt_ms=rtt_ms)
    m = decision_map(df, cfg, uplinks=np.asarray(uplinks, dtype=float), slowdowns=np.ones(1))
    return m.best[0], m.best_ms[0]


def uplink_axis(
    networks: Sequence[NetworkConfig],
    uplink_range: tuple[float, float] | None = None,
    points: int = 400,
) -> np.ndarray:
    """The uplink rates swept, log-spaced: ``uplink_range``, by default the decision map's
    0.1 Mbit/s-10 Gbit/s (:data:`~splitbench.report.decision_map.UPLINK_RANGE_MBPS`) widened to
    whole decades that hold every configured network's own uplink with room on either side."""
    from splitbench.report.decision_map import UPLINK_RANGE_MBPS

    lo, hi = uplink_range or UPLINK_RANGE_MBPS
    if not 0 < lo < hi:
        raise ValueError(f"uplink_range must be 0 < low < high, got {(lo, hi)}")
    if uplink_range is None and networks:
        lo = min(lo, *(cfg.uplink_mbps / 2 for cfg in networks))
        hi = max(hi, *(cfg.uplink_mbps * 2 for cfg in networks))
        lo, hi = 10.0 ** np.floor(np.log10(lo)), 10.0 ** np.ceil(np.log10(hi))
    return np.geomspace(lo, hi, points)


def best_split_vs_uplink_png(
    df: pd.DataFrame,
    path: Path,
    networks: Sequence[NetworkConfig],
    *,
    uplink_range: tuple[float, float] | None = None,
    points: int = 400,
    note: str = "",
) -> Path:
    """``best_split_vs_uplink.png``: see :func:`best_split_vs_uplink_figure`."""
    fig = best_split_vs_uplink_figure(
        df, networks, uplink_range=uplink_range, points=points, note=note
    )
    return _save(fig, path)


def best_split_vs_uplink_figure(
    df: pd.DataFrame,
    networks: Sequence[NetworkConfig],
    *,
    uplink_range: tuple[float, float] | None = None,
    points: int = 400,
    note: str = "",
) -> Figure:
    """Best split (top) and its end-to-end latency (bottom) against uplink bandwidth (log x),
    one curve per network computed with that network's own downlink and RTT, each network
    marked at its own uplink rate. The bottom panel adds the two anchors: all on the client
    (no network, one line for all) and all on the server (per network, dashed)."""
    if not networks:
        raise ValueError("best_split_vs_uplink_png needs at least one network configuration")
    uplinks = uplink_axis(networks, uplink_range, points)
    n = int(_arrays(df)["n"])
    m = len(networks)
    # Coinciding step lines are drawn a fraction of a split apart, in a fixed order.
    dodge = 0.0 if m == 1 else min(0.6 / (m - 1), 0.2)

    fig = Figure(figsize=SLIDE_SIZE, layout="constrained")
    FigureCanvasAgg(fig)
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=(1, 1))
    fig.suptitle(
        "Best split against uplink bandwidth (each network with its own downlink and RTT)"
        + (f"\n{note}" if note else ""),
        fontsize=12,
    )
    handles: list[Line2D] = []
    anything = False
    ceiling = 0.0  # the bottom panel shows every best-split curve and each network's anchors
    for i, cfg in enumerate(networks):
        color = NETWORK_COLORS[i % len(NETWORK_COLORS)]
        best, best_ms = best_split_curve(
            df, uplinks, downlink_mbps=cfg.downlink_mbps, rtt_ms=cfg.rtt_ms
        )
        ok = best >= 0
        if not ok.any():
            continue
        anything = True
        offset = (i - (m - 1) / 2) * dodge
        top.step(uplinks[ok], best[ok] + offset, where="mid", color=color, lw=2)
        # Equal latencies coincide exactly; the earlier networks are drawn wider underneath,
        # so every colour stays visible as a band.
        bottom.plot(uplinks[ok], best_ms[ok], color=color, lw=1.6 + 1.1 * (m - 1 - i))
        ceiling = max(ceiling, float(np.nanmax(best_ms[ok])))
        _, server_ms = best_split_curve(
            df[df["split"] == 0], uplinks, downlink_mbps=cfg.downlink_mbps, rtt_ms=cfg.rtt_ms
        )
        if not np.isnan(server_ms).all():
            bottom.plot(uplinks, server_ms, "--", color=color, lw=1, alpha=0.8)
        k, ms = best_split_curve(
            df, np.array([cfg.uplink_mbps]), downlink_mbps=cfg.downlink_mbps, rtt_ms=cfg.rtt_ms
        )
        here = ""
        if k[0] >= 0:
            style = {"marker": "o", "ms": 8, "mfc": color, "mec": "black", "ls": "none"}
            top.plot([cfg.uplink_mbps], [k[0] + offset], zorder=5, **style)
            bottom.plot([cfg.uplink_mbps], [ms[0]], zorder=5, **style)
            here = f": {k[0]}:{n - k[0]}, {ms[0]:.3g} ms"
            anchor = np.interp(np.log(cfg.uplink_mbps), np.log(uplinks), server_ms)
            ceiling = max(ceiling, float(np.nan_to_num(anchor)))
        handles.append(
            Line2D(
                [],
                [],
                color=color,
                lw=2,
                marker="o",
                mfc=color,
                mec="black",
                label=f"{cfg.name} ({cfg.uplink_mbps:g}/{cfg.downlink_mbps:g} Mbit/s, "
                f"{cfg.rtt_ms:g} ms){here}",
            )
        )
    if not anything:
        top.text(
            0.5, 0.5, "no split with both parts measured", ha="center", transform=top.transAxes
        )
    else:
        _, client_ms = best_split_curve(
            df[df["split"] == n], uplinks, downlink_mbps=1.0, rtt_ms=0.0
        )
        if not np.isnan(client_ms).all():
            # Drawn last and dotted, so where it coincides with a best-split line both show.
            bottom.plot(uplinks, client_ms, ":", color="black", lw=2.2, zorder=6)
            ceiling = max(ceiling, float(client_ms[0]))
        # All-on-server at a very slow uplink can take minutes: the axis stops a little above
        # the highest value at any network's own uplink, and the dashed curves leave the top.
        drawn = np.concatenate([np.asarray(ln.get_ydata(), float) for ln in bottom.get_lines()])
        floor = float(np.nanmin(drawn))
        bottom.set_ylim(floor / 1.3, ceiling * 2.0)
    handles += [
        Line2D([], [], color="grey", lw=2, label="solid: best split"),
        Line2D([], [], color="grey", lw=1, ls="--", label=f"dashed: all on server (0:{n})"),
        Line2D([], [], color="black", lw=2.2, ls=":", label=f"dotted: all on client ({n}:0)"),
    ]
    fig.legend(
        handles=handles,
        loc="outside lower center",
        ncols=2 if len(handles) <= 8 else 3,
        fontsize=8.5,
        frameon=False,
        title="network (uplink/downlink, RTT): best split and latency at its own uplink",
        title_fontsize=8.5,
    )
    top.set_xscale("log")
    top.set_xlim(uplinks[0], uplinks[-1])
    top.set_ylim(-1.5, n + 1.5)  # room above the all-on-client line, so the frame hides nothing
    top.yaxis.set_major_locator(MaxNLocator(integer=True))
    top.set_ylabel("best split\n(operators on client)")
    top.grid(alpha=0.3, which="both")
    _plain_log_axis(bottom)
    bottom.xaxis.set_major_locator(LogLocator(base=10, numticks=12))
    bottom.xaxis.set_major_formatter(FuncFormatter(lambda v, _p: rate_text(v)))
    bottom.set_xlabel("uplink bandwidth (log scale)")
    bottom.set_ylabel("end-to-end latency\n(ms, log scale)")
    bottom.grid(alpha=0.3, which="both")
    return fig
