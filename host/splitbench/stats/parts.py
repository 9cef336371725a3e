"""One part's raw samples → robust statistics with a bootstrap interval.

A part (a head or a tail of one split) is measured in *bouts*: one bout per pass of the sweep
(``--rounds``). Samples inside a bout share the machine's state of that moment (clock, heat,
other load), so they are not independent; the bouts are. The interval therefore resamples bouts
(a cluster bootstrap with :func:`scipy.stats.bootstrap`): it is as wide as the drift between
passes, not as narrow as thousands of correlated samples would pretend. With fewer than three
bouts there is nothing to resample between bouts, so the samples are resampled and the note
says the interval ignores drift between bouts.

Speed: the statistic of all resamples is computed at once from per-bout counts — the pooled
mean from bout sums, the pooled median from each bout's exact CDF tabulated on a grid — so a
bout's size barely matters. When the samples themselves are the units and there are many,
:data:`POINTS` evenly spaced quantiles are resampled and the spread is scaled by
``sqrt(POINTS / n)`` (the m-out-of-n bootstrap).

Median is the default statistic: latency distributions are skewed, with rare large outliers
(a scheduler tick, a page fault) that move the mean of a small part by more than its own time.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from splitbench.stats.choices import STATISTICS

N_RESAMPLES = 2000
CONFIDENCE = 0.95
MAX_REL_WIDTH = 0.10  # an interval wider than 10 % of the estimate is flagged unstable
MIN_BOUTS = 3  # fewer bouts: the samples themselves are resampled
POINTS = 64  # quantiles that stand for many samples resampled one by one (m-out-of-n)
SHAPE_POINTS = 1024  # quantiles that carry a large part's shape for the bimodality check
GRID = 64  # values at which bout CDFs are tabulated for the pooled median
MIN_SAMPLES_BIMODAL = 20
MIN_MODE_SHARE = 0.10  # a second mode must hold at least 10 % of the samples...
MIN_MODE_RATIO = 1.10  # ...and lie at least 10 % away from the first
WHAT_TO_DO = "measure longer (--min-secs), on a quieter machine, or with more --rounds"
FEW_BOUTS_NOTE = "fewer than 3 bouts: the interval ignores drift between bouts"

__all__ = ["N_RESAMPLES", "STATISTICS", "PartStats", "empty_part", "part_stats", "summary_only"]


@dataclass(frozen=True)
class PartStats:
    """The statistics of one part; times in ms. ``draws`` is the bootstrap distribution of
    ``estimate`` (length :data:`N_RESAMPLES`), independent of every other part's."""

    statistic: str
    estimate: float
    lo: float
    hi: float
    median: float
    mean: float
    p10: float
    p90: float
    std: float
    n_samples: int
    n_bouts: int
    unstable: str | None
    draws: np.ndarray = field(repr=False)
    note: str = ""


def check_statistic(statistic: str) -> str:
    if statistic not in STATISTICS:
        raise ValueError(f"statistic must be one of {', '.join(STATISTICS)}, got {statistic!r}")
    return statistic


def empty_part(statistic: str = "median") -> PartStats:
    """A part with no operators (split 0's head, split N's tail): exactly 0."""
    return PartStats(
        statistic, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0, 0, None, np.zeros(N_RESAMPLES)
    )


def unknown_part(statistic: str = "median") -> PartStats:
    """A part not measured (or failed): NaN everywhere."""
    nan = math.nan
    return PartStats(
        statistic, nan, nan, nan, nan, nan, nan, nan, nan, 0, 0, None, np.full(N_RESAMPLES, nan)
    )


def summary_only(avg_ms: float, std_ms: float, count: int, statistic: str = "mean") -> PartStats:
    """A part known only by its summary (benchmark_model stdout, no raw samples): the estimate
    is the average, the interval and draws are unknown (NaN)."""
    nan = math.nan
    return PartStats(
        statistic,
        avg_ms,
        nan,
        nan,
        nan,
        avg_ms,
        nan,
        nan,
        std_ms,
        count,
        0,
        None,
        np.full(N_RESAMPLES, nan),
        note="no raw samples: the average reported by the runner, without an interval",
    )


def part_stats(
    bouts: Sequence[Sequence[float]], statistic: str = "median", *, seed: int = 0
) -> PartStats:
    """Robust statistics of one part from its samples grouped by bout. Deterministic for a
    ``seed``; give independent parts different seeds so their draws are independent."""
    check_statistic(statistic)
    groups = [np.asarray(b, dtype=float) for b in bouts if len(b)]
    if not groups:
        return unknown_part(statistic)
    allv = np.sort(np.concatenate(groups))  # sorted once: percentiles and shape read from it
    p10, median, p90 = (float(v) for v in _sorted_quantiles(allv, (0.1, 0.5, 0.9)))
    mean = float(np.mean(allv))
    estimate = median if statistic == "median" else mean
    n = allv.size
    note = "" if len(groups) >= MIN_BOUTS else FEW_BOUTS_NOTE
    if n < 2:
        draws = np.full(N_RESAMPLES, estimate)
    else:
        draws = _draws(groups, allv, statistic, estimate, seed)
    lo, hi = (float(v) for v in np.percentile(draws, [2.5, 97.5]))
    return PartStats(
        statistic=statistic,
        estimate=estimate,
        lo=lo,
        hi=hi,
        median=median,
        mean=mean,
        p10=p10,
        p90=p90,
        std=float(np.std(allv)),
        n_samples=int(n),
        n_bouts=len(groups),
        unstable=_unstable(statistic, estimate, lo, hi, allv, n, note),
        draws=draws,
        note=note,
    )


def _draws(
    groups: list[np.ndarray], allv: np.ndarray, statistic: str, estimate: float, seed: int
) -> np.ndarray:
    """The bootstrap distribution of the statistic: bouts resampled when there are enough,
    else the samples (or their quantiles, rescaled m-out-of-n)."""
    rng = np.random.default_rng(seed)
    if len(groups) < MIN_BOUTS:
        values = allv if allv.size <= POINTS else _sorted_quantiles(allv, _mid(POINTS))
        func = np.median if statistic == "median" else np.mean
        draws = _bootstrap(values, func, rng)
        if values.size < allv.size:  # m-out-of-n: POINTS quantiles stand for n samples
            draws = estimate + (draws - float(func(values))) * math.sqrt(values.size / allv.size)
        return draws
    sizes = np.array([g.size for g in groups], dtype=float)
    if statistic == "mean":
        sums = np.array([g.sum() for g in groups])

        def pooled(picked: np.ndarray) -> np.ndarray:
            return _product(picked, sums) / _product(picked, sizes)

    else:
        pooled = _pooled_median(groups, sizes)
    n_bouts = len(groups)

    def of_bouts(idx: np.ndarray, axis: int = -1) -> np.ndarray:
        """The pooled statistic of resamples of bout indices (last axis)."""
        flat = np.asarray(idx, dtype=np.intp).reshape(-1, np.shape(idx)[-1])
        rows = flat.shape[0]
        offsets = (np.arange(rows) * n_bouts)[:, None]
        picked = np.bincount((flat + offsets).ravel(), minlength=rows * n_bouts)
        return pooled(picked.reshape(rows, n_bouts).astype(float)).reshape(np.shape(idx)[:-1])

    return _bootstrap(np.arange(n_bouts), of_bouts, rng)


def _bootstrap(data: np.ndarray, func: Any, rng: np.random.Generator) -> np.ndarray:
    from scipy import stats  # here: a table read from kept statistics needs no scipy (0.4 s)

    result = stats.bootstrap(
        (data,),
        func,
        n_resamples=N_RESAMPLES,
        vectorized=True,
        method="percentile",
        confidence_level=CONFIDENCE,
        rng=rng,
    )
    return np.asarray(result.bootstrap_distribution, dtype=float)


def _pooled_median(groups: list[np.ndarray], sizes: np.ndarray) -> Any:
    """The median of the samples of resampled bouts, for many resamples at once.

    The pooled distribution of a resample is the mixture of its bouts' distributions, weighted
    by how often each bout was drawn times its size; its median lies between the lowest and the
    highest bout median. Each bout's exact empirical CDF is tabulated on a grid over that range
    (each sample binned to the grid), the mixture CDF of every resample is one matrix product,
    and the median is where it crosses one half (linear between grid points).
    """
    medians = [float(np.median(g)) for g in groups]
    grid = np.linspace(min(medians), max(medians), GRID)
    if grid[0] == grid[-1]:
        return lambda picked: np.full(picked.shape[0], grid[0])
    # share of each bout's samples <= grid[j]: a sample counts from the first grid point >= it
    cdf = np.stack(
        [
            np.cumsum(np.bincount(np.searchsorted(grid, g), minlength=GRID + 1)[:GRID]) / g.size
            for g in groups
        ]
    )

    def median(picked: np.ndarray) -> np.ndarray:
        weights = picked * sizes
        mixed = _product(weights / weights.sum(axis=1, keepdims=True), cdf)  # (resamples, GRID)
        i = np.clip((mixed < 0.5).sum(axis=1), 1, GRID - 1)
        rows = np.arange(mixed.shape[0])
        f0, f1 = mixed[rows, i - 1], mixed[rows, i]
        frac = np.clip((0.5 - f0) / np.where(f1 > f0, f1 - f0, 1.0), 0.0, 1.0)
        return grid[i - 1] + frac * (grid[i] - grid[i - 1])

    return median


def _product(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a @ b`` without BLAS: these products are small, and a multi-threaded BLAS whose threads
    spin while waiting turned a sweep's few seconds of statistics into minutes when two sweeps
    shared two cores (seen in the test suite)."""
    return np.einsum("...i,i...->...", a, b) if b.ndim == 1 else np.einsum("ij,jk->ik", a, b)


def _mid(points: int) -> np.ndarray:
    """``points`` evenly spaced (mid-point) probabilities."""
    return (np.arange(points) + 0.5) / points


def _sorted_quantiles(ordered: np.ndarray, q: Sequence[float] | np.ndarray) -> np.ndarray:
    """Quantiles of sorted values (linear interpolation, numpy's default method)."""
    pos = np.asarray(q, dtype=float) * (ordered.size - 1)
    low = np.floor(pos).astype(np.intp)
    high = np.minimum(low + 1, ordered.size - 1)
    return ordered[low] + (pos - low) * (ordered[high] - ordered[low])


def _unstable(
    statistic: str, estimate: float, lo: float, hi: float, allv: np.ndarray, n: int, note: str
) -> str | None:
    """Why a part's figure should not be trusted as is, and what to do; None when stable."""
    reasons = []
    if n < 2:
        reasons.append("a single sample")
    elif estimate > 0 and hi - lo > MAX_REL_WIDTH * estimate:
        pct = 100 * (hi - lo) / estimate
        reasons.append(
            f"the 95 % interval of the {statistic} ({lo:.3g}–{hi:.3g} ms) is {pct:.0f} % of it "
            f"wide (more than {100 * MAX_REL_WIDTH:.0f} %)"
        )
    modes = bimodal(allv, ordered=True)
    if modes is not None:
        reasons.append(f"the samples are bimodal (around {modes[0]:.3g} and {modes[1]:.3g} ms)")
    if not reasons:
        return None
    extra = f" ({note})" if note else ""
    return f"unstable: {'; '.join(reasons)}{extra}; {WHAT_TO_DO}"


def bimodal(samples: np.ndarray, *, ordered: bool = False) -> tuple[float, float] | None:
    """The two modes (ms, lower first) when the samples have two well-separated modes, each
    holding at least :data:`MIN_MODE_SHARE` of the samples; else None.

    A kernel density estimate of the log samples (binned, Silverman's robust bandwidth
    0.9·min(σ, IQR/1.34)·n^-1/5), its peaks found with :func:`scipy.signal.find_peaks`. Rare
    outliers (scheduler ticks) hold too few samples to count as a mode.
    """
    from scipy.ndimage import gaussian_filter1d
    from scipy.signal import find_peaks

    x = np.asarray(samples, dtype=float)
    x = x if ordered else np.sort(x)
    x = x[x > 0]
    n = x.size
    if n < MIN_SAMPLES_BIMODAL:
        return None
    # Many samples: SHAPE_POINTS evenly spaced quantiles carry the shape (equal mass each).
    logs = np.log(x if n <= SHAPE_POINTS else _sorted_quantiles(x, _mid(SHAPE_POINTS)))
    q25, q75 = np.log(_sorted_quantiles(x, (0.25, 0.75)))
    sd = float(np.std(logs))
    spread = min(sd, (q75 - q25) / 1.34) or sd
    if spread <= 0:
        return None
    bw = 0.9 * spread * n ** (-0.2)
    bins = 256
    lo, hi = logs.min() - 3 * bw, logs.max() + 3 * bw
    hist, edges = np.histogram(logs, bins=bins, range=(lo, hi))
    step = edges[1] - edges[0]
    density = gaussian_filter1d(hist.astype(float), sigma=bw / step, mode="constant")
    peaks, _ = find_peaks(density, prominence=0.05 * density.max())
    if peaks.size < 2:
        return None
    top = np.sort(peaks[np.argsort(density[peaks])[-2:]])
    valley = top[0] + int(np.argmin(density[top[0] : top[1] + 1]))
    if density[valley] > 0.5 * density[top].min():
        return None
    share = density[: valley + 1].sum() / density.sum()
    if min(share, 1 - share) < MIN_MODE_SHARE:
        return None
    centers = np.exp(edges[:-1] + step / 2)
    a, b = float(centers[top[0]]), float(centers[top[1]])
    if b / a < MIN_MODE_RATIO:
        return None
    return a, b
