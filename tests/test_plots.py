"""The PNG plots, judged as pictures: read back from the files written, and checked on the
figures for what a reader of a slide needs (sizes, legends outside the data, every network on
its own curve, small segments still visible next to a huge uplink)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from PIL import Image
from split_table_data import NETWORKS, OUTPUT_BYTES, SHA, SLOW, N, fill
from splitbench.network import NetworkConfig, e2e_ms
from splitbench.report.plots import (
    COLORS,
    NETWORK_COLORS,
    best_split_curve,
    best_split_vs_uplink_figure,
    best_split_vs_uplink_png,
    latency_components,
    stacked_latency_figure,
    stacked_latency_png,
    uplink_axis,
)
from splitbench.report.split_table import build_split_table


@pytest.fixture()
def table(tmp_path: Path) -> pd.DataFrame:
    filled = fill(tmp_path / "results.sqlite")
    return build_split_table(filled.db, SHA, "adb:phone", "host", NETWORKS, OUTPUT_BYTES, N)


def _png(path: Path) -> np.ndarray:
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(path) as img:
        return np.asarray(img.convert("RGB"))


def _has_color(pixels: np.ndarray, hex_color: str) -> bool:
    rgb = np.array([int(hex_color[i : i + 2], 16) for i in (1, 3, 5)])
    return bool((np.abs(pixels.astype(int) - rgb).sum(axis=2) < 12).any())


def _boxes(fig: Figure) -> tuple[list, list]:
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
    axes = [ax.get_window_extent(renderer) for ax in fig.axes]
    legends = [lg.get_window_extent(renderer) for lg in fig.legends]
    legends += [ax.get_legend().get_window_extent(renderer) for ax in fig.axes if ax.get_legend()]
    return axes, legends


def _posenet_like() -> pd.DataFrame:
    """The shape of the issue's complaint: a 2 MB feature map on a 6 Mbit/s uplink (seconds)
    next to a phone part of a few ms and a server part under 1 ms."""
    n = 31
    k = np.arange(n + 1)
    inter = np.where(k < n, 2_000_000 - k * 40_000, 130_000)
    return pd.DataFrame(
        {
            "split": k,
            "on_client": k,
            "on_server": n - k,
            "client_ms": k * 0.9,
            "server_ms": (n - k) * 0.03,
            "intermediate_bytes": inter,
            "output_bytes": 130_000,
        }
    )


def test_stacked_png_is_slide_sized_with_every_component(table: pd.DataFrame, tmp_path: Path):
    path = stacked_latency_png(table, SLOW, tmp_path / "plots" / "stacked.png")
    pixels = _png(path)
    height, width, _ = pixels.shape
    assert (width, height) == (1210, 682) or abs(width / height - 16 / 9) < 0.05
    for part in ("client", "uplink", "server", "downlink"):
        assert _has_color(pixels, COLORS[part]), part


def test_stacked_small_segments_are_readable_next_to_a_huge_uplink(tmp_path: Path) -> None:
    df = _posenet_like()
    cfg = NetworkConfig("4G", 6.3, 21.3, 55.25)
    parts = latency_components(df, cfg)
    # The complaint: uplink (2.5 s) swamps a server part of 0.03 ms on a linear axis.
    assert np.nanmax(parts["uplink"]) / np.nanmin(parts["server"][parts["server"] > 0]) > 1e4
    fig = stacked_latency_figure(df, cfg)
    top, bottom = fig.axes
    assert top.get_yscale() == "log"
    low, high = top.get_ylim()
    # Every non-zero component value is inside the visible range of the log axis.
    for name in COLORS:
        values = parts[name][parts[name] > 0]
        assert low <= values.min() and values.max() <= high, name
    # The bottom panel holds the shares: each split's stacked bars add up to 100 %.
    heights = {}
    for patch in (p for container in bottom.containers for p in container):
        x = round(patch.get_x() + patch.get_width() / 2)
        heights[x] = heights.get(x, 0.0) + patch.get_height()
    assert all(h == pytest.approx(100.0) for h in heights.values())
    # The winning split (all on the phone, 27.9 ms) is starred and named in the legend.
    labels = top.get_legend_handles_labels()[1]
    assert "best: 31:0, 27.9 ms" in labels
    axes, legends = _boxes(fig)
    for legend in legends:
        assert not any(legend.overlaps(ax) for ax in axes)


def test_stacked_png_many_splits_stays_page_sized(tmp_path: Path) -> None:
    n = 332
    splits = np.arange(n + 1)
    df = pd.DataFrame(
        {
            "split": splits,
            "on_client": splits,
            "on_server": n - splits,
            "client_ms": splits * 2.0,
            "server_ms": (n - splits) * 0.2,
            "intermediate_bytes": 50_000,
            "output_bytes": 1_000,
            "e2e_ms_slow": np.nan,
        }
    )
    pixels = _png(stacked_latency_png(df, SLOW, tmp_path / "many.png"))
    height, width, _ = pixels.shape
    assert width <= 1600 and height <= 700


def test_stacked_marks_unmeasured_splits(table: pd.DataFrame) -> None:
    fig = stacked_latency_figure(table, SLOW)
    labels = fig.axes[0].get_legend_handles_labels()[1]
    assert "not measured / failed" in labels  # split 2's head has an unresolved operator


def test_best_split_curve_follows_the_network(table: pd.DataFrame) -> None:
    uplinks = np.array([0.1, 1.0, 1000.0])
    best, ms = best_split_curve(table, uplinks, downlink_mbps=2.0, rtt_ms=50.0)
    # Slow uplinks: stay on the phone (split 3, 30 ms). At 1000 Mbit/s with RTT 50 ms, split 0
    # costs 50 + 0.008 + 20 + 0.4 = 70.4 ms, still worse than 30 ms on the phone.
    assert list(best) == [3, 3, 3]
    assert ms[0] == pytest.approx(30.0)
    best, ms = best_split_curve(table, uplinks, downlink_mbps=1000.0, rtt_ms=1.0)
    # RTT 1 ms: split 0 costs 1 + 1000 B at the uplink + 20 + 0.0008 ms; at 0.1 Mbit/s the
    # upload takes 80 ms (101 ms > 30), at 1 Mbit/s 8 ms (29.0008 ms < 30).
    assert list(best) == [3, 0, 0]
    assert ms[1] == pytest.approx(29.0008)
    assert ms[2] == pytest.approx(1 + 0.008 + 20 + 0.0008)


def test_each_network_is_marked_on_its_own_curve(table: pd.DataFrame, tmp_path: Path) -> None:
    fig = best_split_vs_uplink_figure(table, NETWORKS)
    top, bottom = fig.axes
    for i, cfg in enumerate(NETWORKS):
        # The marker at the network's own uplink shows the end-to-end latency the table's
        # e2e_ms_<name> column holds for the best split: same downlink, same RTT.
        best = table[f"e2e_ms_{cfg.name}"].astype(float)
        marks = [
            ln
            for ln in bottom.get_lines()
            if ln.get_marker() == "o" and ln.get_markerfacecolor() == NETWORK_COLORS[i]
        ]
        assert len(marks) == 1, cfg.name
        x, y = marks[0].get_xdata()[0], marks[0].get_ydata()[0]
        assert x == cfg.uplink_mbps
        assert y == pytest.approx(best.min())
    # slow (1/2 Mbit/s, 50 ms): the phone; fast-lan: split 0 -- e2e at split 0 by hand.
    row0 = table.iloc[0]
    assert table["e2e_ms_fast-lan"].astype(float).min() == pytest.approx(
        e2e_ms(0.0, 20.0, 1000, OUTPUT_BYTES, NETWORKS[1], split=0, num_operators=N)
    )
    assert float(row0["server_ms"]) == pytest.approx(20.0)
    # The top panel leaves room above the all-on-client line: the frame hides nothing.
    low, high = top.get_ylim()
    assert low < -1 and high > N + 1
    axes, legends = _boxes(fig)
    assert legends
    for legend in legends:
        assert not any(legend.overlaps(ax) for ax in axes)


def test_best_split_png_reads_back(table: pd.DataFrame, tmp_path: Path) -> None:
    pixels = _png(best_split_vs_uplink_png(table, tmp_path / "best.png", NETWORKS))
    height, width, _ = pixels.shape
    assert abs(width / height - 16 / 9) < 0.05 and width <= 1400
    for i in range(len(NETWORKS)):
        assert _has_color(pixels, NETWORK_COLORS[i])
    with pytest.raises(ValueError, match="uplink_range"):
        best_split_vs_uplink_png(table, tmp_path / "bad.png", NETWORKS, uplink_range=(10, 1))


def test_uplink_axis_covers_every_network() -> None:
    far = NetworkConfig("fibre", uplink_mbps=5000.0, downlink_mbps=5000.0, rtt_ms=1.0)
    axis = uplink_axis([SLOW, far])
    assert axis[0] <= 0.1 and axis[-1] >= 5000.0


def test_best_split_png_when_nothing_was_measured(table: pd.DataFrame, tmp_path: Path) -> None:
    broken = table.assign(client_ms=np.nan, server_ms=np.nan)
    fig = best_split_vs_uplink_figure(broken, NETWORKS)
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert texts == ["no split with both parts measured"]
    pixels = _png(best_split_vs_uplink_png(broken, tmp_path / "none.png", NETWORKS))
    assert not _has_color(pixels, NETWORK_COLORS[1])


def test_stacked_draws_the_end_to_end_interval(table: pd.DataFrame) -> None:
    """The 95 % interval of end to end is a band around the total, from e2e_lo/hi."""
    fig = stacked_latency_figure(table, SLOW)
    top = fig.axes[0]
    assert "end to end, 95 % interval" in top.get_legend_handles_labels()[1]
    band = next(c for c in top.collections if c.get_label() == "end to end, 95 % interval")
    ys = band.get_paths()[0].vertices[:, 1]
    assert ys.max() == pytest.approx(float(table["e2e_hi_ms_slow"].max()))
    without = table.drop(columns=["e2e_lo_ms_slow", "e2e_hi_ms_slow"])
    labels = stacked_latency_figure(without, SLOW).axes[0].get_legend_handles_labels()[1]
    assert "end to end, 95 % interval" not in labels  # e.g. a collate table: no interval
