"""Per-part robust statistics and the verdict, on constructed samples with known answers."""

from __future__ import annotations

import math

import numpy as np
import pytest
from splitbench.stats.parts import (
    N_RESAMPLES,
    empty_part,
    part_stats,
    summary_only,
)
from splitbench.stats.verdict import MIN_P_CONTENDER, decided, e2e_draws, verdict


def _normal_bouts(rng: np.random.Generator, centers: list[float], sd: float, n: int):
    return [rng.normal(c, sd, n) for c in centers]


def test_identical_bouts_give_their_exact_median_and_a_zero_width_interval() -> None:
    s = part_stats([[1.0, 2.0, 3.0]] * 3)
    assert (s.estimate, s.median, s.mean, s.n_samples, s.n_bouts) == (2.0, 2.0, 2.0, 9, 3)
    assert (s.lo, s.hi) == (2.0, 2.0)
    assert s.draws.shape == (N_RESAMPLES,)
    assert s.unstable is None


def test_median_and_its_interval_match_theory_for_normal_samples() -> None:
    """Six bouts from one N(10, 1): the median's 95 % half-width is 1.96·1.2533·σ/√n."""
    rng = np.random.default_rng(7)
    s = part_stats(_normal_bouts(rng, [10.0] * 6, 1.0, 2000), seed=3)
    expected = 1.96 * 1.2533 / math.sqrt(12000)
    assert s.estimate == pytest.approx(10.0, abs=0.03)
    assert s.lo < s.estimate < s.hi
    assert (s.hi - s.lo) / 2 == pytest.approx(expected, rel=0.5)
    assert s.p10 == pytest.approx(10 - 1.2816, abs=0.05)
    assert s.p90 == pytest.approx(10 + 1.2816, abs=0.05)
    assert s.unstable is None


def test_mean_statistic_uses_the_mean_and_its_interval() -> None:
    rng = np.random.default_rng(8)
    bouts = _normal_bouts(rng, [10.0] * 6, 1.0, 2000)
    s = part_stats(bouts, "mean", seed=1)
    assert s.statistic == "mean"
    assert s.estimate == pytest.approx(float(np.mean(np.concatenate(bouts))))
    assert (s.hi - s.lo) / 2 == pytest.approx(1.96 / math.sqrt(12000), rel=0.5)


def test_few_bouts_resample_the_samples_and_say_so() -> None:
    """Two bouts: the samples are the units (many of them: the m-out-of-n rescaling keeps the
    interval the right size)."""
    rng = np.random.default_rng(9)
    s = part_stats(_normal_bouts(rng, [10.0] * 2, 1.0, 5000), seed=2)
    assert "ignores drift between bouts" in s.note
    assert (s.hi - s.lo) / 2 == pytest.approx(1.96 * 1.2533 / math.sqrt(10000), rel=0.35)


def test_bouts_that_disagree_widen_the_interval_beyond_iid() -> None:
    """Samples within a bout share its machine state: six bouts whose levels differ give a
    much wider interval than the very same samples taken as independent."""
    rng = np.random.default_rng(10)
    bouts = _normal_bouts(rng, [5.0, 5.2, 4.9, 5.3, 5.1, 4.8], 0.05, 500)
    by_bout = part_stats(bouts, seed=4)
    as_iid = part_stats([np.concatenate(bouts)], seed=4)
    assert by_bout.estimate == as_iid.estimate
    assert (by_bout.hi - by_bout.lo) > 4 * (as_iid.hi - as_iid.lo)
    assert 4.8 < by_bout.lo < by_bout.hi < 5.3


def test_median_resists_scheduler_ticks_and_ticks_are_not_a_mode() -> None:
    """The issue's small head: a 0.017 ms median with rare 4-8 ms ticks."""
    rng = np.random.default_rng(11)
    bouts = []
    for _ in range(6):
        b = rng.normal(0.017, 0.001, 1000)
        b[rng.choice(1000, 8, replace=False)] = rng.uniform(4, 8, 8)
        bouts.append(b)
    s = part_stats(bouts, seed=5)
    assert s.median == pytest.approx(0.017, abs=0.001)
    assert s.mean > 2 * s.median  # the mean is dragged by the ticks
    assert s.unstable is None


def test_a_bimodal_part_is_flagged_with_what_to_do() -> None:
    rng = np.random.default_rng(12)
    bouts = [
        np.concatenate([rng.normal(5.0, 0.1, 600), rng.normal(8.0, 0.1, 400)]) for _ in range(6)
    ]
    s = part_stats(bouts, seed=6)
    assert s.unstable is not None
    assert "bimodal" in s.unstable
    assert "--min-secs" in s.unstable and "--rounds" in s.unstable


def test_a_wide_interval_is_flagged() -> None:
    rng = np.random.default_rng(13)
    bouts = _normal_bouts(rng, [5.0, 9.0, 6.0, 10.0, 4.0], 0.1, 50)
    s = part_stats(bouts, seed=1)
    assert s.unstable is not None and "95 % interval" in s.unstable


def test_same_seed_same_draws_other_seed_other_draws() -> None:
    rng = np.random.default_rng(14)
    bouts = _normal_bouts(rng, [5.0, 5.1, 5.2], 0.2, 300)
    a, b, c = part_stats(bouts, seed=1), part_stats(bouts, seed=1), part_stats(bouts, seed=2)
    assert np.array_equal(a.draws, b.draws)
    assert not np.array_equal(a.draws, c.draws)


def test_empty_summary_and_bad_statistic() -> None:
    e = empty_part()
    assert (e.estimate, e.lo, e.hi) == (0.0, 0.0, 0.0) and not e.draws.any()
    s = summary_only(3.0, 0.5, 40)
    assert s.estimate == 3.0 and math.isnan(s.lo) and np.isnan(s.draws).all()
    assert math.isnan(part_stats([]).estimate)
    with pytest.raises(ValueError, match="median, mean"):
        part_stats([[1.0, 2.0]], "mode")


def _draws(rng: np.random.Generator, centers: list[float], sd: float) -> np.ndarray:
    return np.stack([rng.normal(c, sd, N_RESAMPLES) for c in centers])


def test_verdict_clear_winner() -> None:
    rng = np.random.default_rng(20)
    draws = _draws(rng, [20.0, 10.0, 30.0], 0.2)
    v = verdict("5G", [0, 1, 2], [20.0, 10.0, 30.0], draws, num_operators=2)
    assert v is not None
    assert (v.best, v.contenders, v.tied) == (1, [1], False)
    assert v.p_best[1] == 1.0 and sum(v.p_best.values()) == pytest.approx(1.0)
    assert v.text().startswith("1:1 is the best split for 5G")
    assert decided(v, None, tie_ms=0.0)


def test_verdict_two_way_tie_is_said_plainly() -> None:
    rng = np.random.default_rng(21)
    draws = _draws(rng, [10.0, 10.1, 30.0], 1.0)
    v = verdict("5G-IMT2020", [30, 31, 32], [10.0, 10.1, 30.0], draws, num_operators=32)
    assert v is not None
    assert v.best == 30 and sorted(v.contenders) == [30, 31] and v.tied
    assert v.p_best[32] == 0.0
    assert sum(v.p_best.values()) == pytest.approx(1.0)
    assert v.text() == (
        "30:2 and 31:1 are tied for 5G-IMT2020 within the measurement noise; "
        "measure longer or on a quieter machine to separate them"
    )
    assert not decided(v, None, tie_ms=0.05)
    assert decided(v, {30: 10.0, 31: (10.1, 9.0, 11.0)}, tie_ms=0.2)


def test_verdict_three_way_tie() -> None:
    rng = np.random.default_rng(22)
    draws = _draws(rng, [10.0, 10.05, 9.95, 14.0], 1.0)
    v = verdict("wifi", [0, 1, 2, 3], [10.0, 10.05, 9.95, 14.0], draws, num_operators=3)
    assert v is not None
    assert v.best == 2 and v.contenders[0] == 2 and sorted(v.contenders) == [0, 1, 2]
    assert all(v.p_best[k] >= MIN_P_CONTENDER for k in v.contenders)
    assert v.text().startswith("2:1, ") and " are tied for wifi within the measurement" in v.text()
    assert "0:3" in v.text() and "1:2" in v.text() and "3:0" not in v.text()
    assert sum(v.p_best.values()) == pytest.approx(1.0)


def test_verdict_excludes_nan_rows_and_uses_part_draws() -> None:
    rng = np.random.default_rng(23)
    a = part_stats(_normal_bouts(rng, [4.0] * 6, 0.1, 200), seed=1)
    b = part_stats(_normal_bouts(rng, [6.0] * 6, 0.1, 200), seed=2)
    e = empty_part()
    rows = np.stack([e2e_draws(a, e, 1.0), e2e_draws(b, e, 0.5), np.full(N_RESAMPLES, np.nan)])
    v = verdict("lan", [0, 1, 2], [a.estimate + 1.0, b.estimate + 0.5, math.nan], rows, 2)
    assert v is not None
    assert set(v.p_best) == {0, 1} and v.best == 0 and not v.tied
    assert verdict("lan", [0], [math.nan], np.full((1, N_RESAMPLES), np.nan), 0) is None
