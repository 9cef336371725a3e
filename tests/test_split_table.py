"""The split table built from a real SQLite results database of known samples."""

from __future__ import annotations

import json
import math
import statistics
from pathlib import Path

import pandas as pd
import pytest
from split_table_data import (
    CLIENT,
    FAST,
    NETWORKS,
    OUTPUT_BYTES,
    SERVER,
    SETTINGS,
    SHA,
    SLOW,
    UNRESOLVED,
    N,
    fill,
    part,
)
from splitbench.errors import ResultsError
from splitbench.measure.types import RunSettings, StatsSummary
from splitbench.report.split_table import best_splits, build_split_table
from splitbench.targets.base import TargetInfo

SIDE = [
    "init_ms",
    "first_ms",
    "warmup_ms",
    "mem_init_mb",
    "mem_mb",
    "mem_peak_mb",
    "runs",
]
STATS = ["lo_ms", "hi_ms", "mean_ms", "p10_ms", "p50_ms", "p90_ms", "std_ms"]
EXPECTED_COLUMNS = [
    "split",
    "on_client",
    "on_server",
    "cut_tensors",
    "client_ms",
    "server_ms",
    *(f"client_{s}" for s in STATS),
    *(f"server_{s}" for s in STATS),
    *(f"client_{s}" for s in SIDE),
    *(f"server_{s}" for s in SIDE),
    "intermediate_bytes",
    "output_bytes",
    "head_model_bytes",
    "tail_model_bytes",
    "head_model_ratio",
    "intermediate_ratio",
    "max_abs_diff",
    "bit_exact",
    "lossless",
    "verify_error",
    "e2e_ms_slow",
    "e2e_lo_ms_slow",
    "e2e_hi_ms_slow",
    "e2e_ms_fast-lan",
    "e2e_lo_ms_fast-lan",
    "e2e_hi_ms_fast-lan",
    "delivery_ms_slow",
    "delivery_ms_fast-lan",
    "p_best_slow",
    "p_best_fast-lan",
    "client_error",
    "server_error",
    "client_unstable",
    "server_unstable",
]


def _table(tmp_path: Path, **kw: object) -> pd.DataFrame:
    filled = fill(tmp_path / "results.sqlite")
    return build_split_table(
        filled.db,
        SHA,
        "adb:phone",
        "host",
        NETWORKS,
        OUTPUT_BYTES,
        N,
        **kw,  # type: ignore[arg-type]
    )


def test_columns_and_rows(tmp_path: Path) -> None:
    df = _table(tmp_path)
    assert list(df.columns) == EXPECTED_COLUMNS
    assert list(df.split) == [0, 1, 2, 3]
    assert list(df.on_client) == [0, 1, 2, 3] and list(df.on_server) == [3, 2, 1, 0]
    cuts = [json.loads(c) for c in df.cut_tensors]
    assert cuts == [["image"], ["conv1", "skip"], ["conv2"], ["out"]]
    assert list(df.intermediate_bytes) == [1000, 4000, 500, 0]  # split N: nothing crosses
    assert list(df.head_model_bytes) == [0, 100_000, 200_000, 300_000]
    assert list(df.tail_model_bytes) == [400_000, 300_000, 200_000, 0]
    assert list(df.output_bytes) == [OUTPUT_BYTES] * 4
    assert list(df.bit_exact) == [True, True, False, True]
    assert list(df.lossless) == [True] * 4
    assert df.loc[2, "max_abs_diff"] == pytest.approx(2e-4)
    assert df.loc[1, "head_model_ratio"] == pytest.approx(0.25)  # 100 000 / 400 000
    assert df.loc[1, "intermediate_ratio"] == pytest.approx(4.0)  # 4000 / input 1000


def test_statistics_come_from_raw_samples(tmp_path: Path) -> None:
    row = _table(tmp_path).loc[1]
    assert row.client_ms == pytest.approx(13.0)  # mean of 10, 12, 14, 16
    assert row.client_std_ms == pytest.approx(math.sqrt(5.0))  # population std
    assert row.client_p50_ms == pytest.approx(13.0)
    assert row.client_p90_ms == pytest.approx(15.4)  # 14 + 0.7 * (16 - 14)
    assert row.client_warmup_ms == pytest.approx(14.0)
    assert (row.client_init_ms, row.client_first_ms) == (5.0, 20.0)
    assert (row.client_mem_init_mb, row.client_mem_mb) == (2.0, 6.0)
    assert math.isnan(row.client_mem_peak_mb)  # not reported: unknown, not zero
    assert row.client_runs == 4
    assert row.server_ms == pytest.approx(9.0)
    assert row.server_std_ms == pytest.approx(math.sqrt(2.0 / 3.0))
    assert row.server_runs == 3


def test_empty_parts_cost_zero(tmp_path: Path) -> None:
    df = _table(tmp_path)
    first, last = df.loc[0], df.loc[N]
    for name in ("client_ms", "client_std_ms", "client_p90_ms", "client_init_ms", "client_mem_mb"):
        assert first[name] == 0.0, name
    for name in ("server_ms", "server_std_ms", "server_p50_ms", "server_first_ms"):
        assert last[name] == 0.0, name
    assert first.client_runs == 0 and last.server_runs == 0
    assert first.server_ms == pytest.approx(20.0)


def test_summary_only_measurement(tmp_path: Path) -> None:
    row = _table(tmp_path).loc[3]
    assert row.client_ms == 30.0 and row.client_std_ms == 1.5 and row.client_runs == 50
    assert math.isnan(row.client_p50_ms) and math.isnan(row.client_p90_ms)  # never invented
    assert math.isnan(row.client_warmup_ms)
    assert row.client_mem_peak_mb == 7.5


def test_failed_part_is_nan_with_its_error(tmp_path: Path) -> None:
    row = _table(tmp_path).loc[2]
    assert math.isnan(row.client_ms) and math.isnan(row.client_p50_ms)
    assert row.client_error == UNRESOLVED
    assert "Convolution2DTransposeBias" in row.client_error
    assert math.isnan(row["e2e_ms_slow"]) and math.isnan(row["e2e_ms_fast-lan"])
    assert row.server_ms == 4.0 and row.server_error is None


def test_end_to_end_and_delivery_by_hand(tmp_path: Path) -> None:
    df = _table(tmp_path)
    # slow: up 1 Mbit/s (1000 B = 8 ms), down 2 Mbit/s (100 B = 0.4 ms), RTT 50 ms.
    assert df.loc[0, "e2e_ms_slow"] == pytest.approx(0 + 50 + 8 + 20 + 0.4)  # 78.4
    assert df.loc[1, "e2e_ms_slow"] == pytest.approx(13 + 50 + 32 + 9 + 0.4)  # 104.4
    assert df.loc[3, "e2e_ms_slow"] == pytest.approx(30.0)  # all on the phone: no network
    # fast-lan: up/down 1000 Mbit/s, RTT 1 ms.
    assert df.loc[0, "e2e_ms_fast-lan"] == pytest.approx(0 + 1 + 0.008 + 20 + 0.0008)
    assert df.loc[1, "e2e_ms_fast-lan"] == pytest.approx(13 + 1 + 0.032 + 9 + 0.0008)
    # Head delivery: RTT + head / downlink; no head at split 0.
    assert df.loc[0, "delivery_ms_slow"] == 0.0
    assert df.loc[1, "delivery_ms_slow"] == pytest.approx(50 + 400)  # 100 kB at 2 Mbit/s
    assert df.loc[3, "delivery_ms_fast-lan"] == pytest.approx(1 + 2.4)


def test_best_split_per_network_ignores_unmeasured_rows(tmp_path: Path) -> None:
    df = _table(tmp_path)
    assert best_splits(df, NETWORKS) == {"slow": 3, "fast-lan": 0}
    # With the two best rows unknown, the next best measured one wins, NaN never does.
    df.loc[[0, 3], ["e2e_ms_slow", "e2e_ms_fast-lan"]] = float("nan")
    assert best_splits(df, NETWORKS) == {"slow": 1, "fast-lan": 1}
    df["e2e_ms_slow"] = float("nan")
    assert best_splits(df, NETWORKS) == {"fast-lan": 1}


def test_latest_success_wins_over_retries(tmp_path: Path) -> None:
    filled = fill(tmp_path / "results.sqlite")
    db = filled.db
    db.record_measurement(SHA, 1, "tail", "host", part([], error="hang: timed out"))
    db.record_measurement(SHA, 2, "head", "adb:phone", part([7.0, 9.0]))  # a retry that worked
    df = build_split_table(db, SHA, "adb:phone", "host", NETWORKS, OUTPUT_BYTES, N)
    assert df.loc[1, "server_ms"] == pytest.approx(9.0) and df.loc[1, "server_error"] is None
    assert df.loc[2, "client_ms"] == pytest.approx(8.0) and df.loc[2, "client_error"] is None


def test_bouts_of_one_part_are_pooled(tmp_path: Path) -> None:
    """A part measured in several bouts (--rounds): one row, statistics over all samples."""
    filled = fill(tmp_path / "results.sqlite")
    db = filled.db
    # split 1 head already has [10, 12, 14, 16] with init 5 ms; two more bouts:
    db.record_measurement(SHA, 1, "head", CLIENT, part([18.0, 20.0], init_ms=7.0))
    db.record_measurement(SHA, 1, "head", CLIENT, part([], error="timed out after 60 s"))
    df = build_split_table(db, SHA, CLIENT.name, SERVER.name, NETWORKS, OUTPUT_BYTES, N)
    samples = [10.0, 12.0, 14.0, 16.0, 18.0, 20.0]
    assert df.loc[1, "client_ms"] == pytest.approx(sum(samples) / 6)
    assert df.loc[1, "client_runs"] == 6
    assert df.loc[1, "client_init_ms"] == pytest.approx(6.0)  # mean of the bouts' 5 and 7
    assert df.loc[1, "client_error"] is None  # a failed bout does not hide the good ones


def test_summaries_of_bouts_pool_exactly() -> None:
    from splitbench.report.bouts import pooled_summary

    a = StatsSummary(count=2, min_ms=1.0, max_ms=3.0, avg_ms=2.0, std_ms=1.0)  # runs 1, 3
    b = StatsSummary(count=2, min_ms=5.0, max_ms=7.0, avg_ms=6.0, std_ms=1.0)  # runs 5, 7
    pooled = pooled_summary([a, b])
    assert pooled is not None
    assert (pooled.count, pooled.min_ms, pooled.max_ms) == (4, 1.0, 7.0)
    assert pooled.avg_ms == pytest.approx(4.0)
    assert pooled.std_ms == pytest.approx(statistics.pstdev([1.0, 3.0, 5.0, 7.0]))


def test_missing_measurement_is_nan_without_error(tmp_path: Path) -> None:
    filled = fill(tmp_path / "results.sqlite")
    other = TargetInfo("adb:other", "adb", "Cortex-A78", 8, "benchmark_model 2.16")
    filled.db.record_measurement(SHA, 1, "head", other, part([3.0, 3.0]))
    df = build_split_table(filled.db, SHA, "adb:other", "host", NETWORKS, OUTPUT_BYTES, N)
    assert df.loc[1, "client_ms"] == 3.0  # a table per phone
    assert math.isnan(df.loc[2, "client_ms"]) and df.loc[2, "client_error"] is None
    assert math.isnan(df.loc[3, "e2e_ms_slow"])


def test_settings_are_part_of_the_identity_latest_by_default(tmp_path: Path) -> None:
    filled = fill(tmp_path / "results.sqlite")
    four = RunSettings(threads=4, num_runs=4, min_secs=0.0)
    filled.db.record_measurement(SHA, 1, "head", CLIENT, part([1.0], settings=four))
    # Once crashed with "2 different run settings": now the latest settings are used, never mixed.
    latest = build_split_table(filled.db, SHA, "adb:phone", "host", NETWORKS, OUTPUT_BYTES, N)
    assert latest.loc[1, "client_ms"] == 1.0 and math.isnan(latest.loc[0, "server_ms"])
    sets = filled.db.settings_sets(SHA)
    assert [s.settings for s in sets] == [SETTINGS, four]  # most recently measured last
    by_hash = build_split_table(
        filled.db, SHA, "adb:phone", "host", NETWORKS, OUTPUT_BYTES, N, settings=sets[0].hash
    )
    assert by_hash.loc[1, "client_ms"] == pytest.approx(13.0)
    one = build_split_table(
        filled.db, SHA, "adb:phone", "host", NETWORKS, OUTPUT_BYTES, N, settings=SETTINGS
    )
    assert one.loc[1, "client_ms"] == pytest.approx(13.0)
    only_four = build_split_table(
        filled.db, SHA, "adb:phone", "host", NETWORKS, OUTPUT_BYTES, N, settings=four
    )
    assert only_four.loc[1, "client_ms"] == 1.0 and math.isnan(only_four.loc[0, "server_ms"])


def test_predicted_rows_stay_out_of_the_direct_table(tmp_path: Path) -> None:
    filled = fill(tmp_path / "results.sqlite")
    whole = filled.db.record_measurement(SHA, None, "whole", CLIENT, part([40.0]))
    filled.db.record_measurement(
        SHA, 1, "head", CLIENT, part([11.0]), strategy="predicted", derived_from=whole
    )
    direct = build_split_table(filled.db, SHA, "adb:phone", "host", NETWORKS, OUTPUT_BYTES, N)
    assert direct.loc[1, "client_ms"] == pytest.approx(13.0)
    predicted = build_split_table(
        filled.db, SHA, "adb:phone", "host", NETWORKS, OUTPUT_BYTES, N, strategy="predicted"
    )
    assert predicted.loc[1, "client_ms"] == 11.0
    assert math.isnan(predicted.loc[2, "client_ms"])


def test_from_a_database_path(tmp_path: Path) -> None:
    filled = fill(tmp_path / "results.sqlite")
    filled.db.close()
    df = build_split_table(filled.path, SHA, "adb:phone", "host", [FAST], OUTPUT_BYTES, N)
    assert df.loc[1, "client_ms"] == pytest.approx(13.0)
    assert "e2e_ms_slow" not in df.columns
    with pytest.raises(ResultsError, match="not found"):
        build_split_table(tmp_path / "none.sqlite", SHA, "a", "b", [SLOW], OUTPUT_BYTES, N)


def test_median_by_default_mean_on_request(tmp_path: Path) -> None:
    """A scheduler tick moves the mean of a part, not its median; the table says which."""
    filled = fill(tmp_path / "results.sqlite")
    filled.db.record_measurement(SHA, 1, "tail", "host", part([8.0, 9.0, 10.0, 9.0, 60.0]))
    median = build_split_table(filled.db, SHA, "adb:phone", "host", NETWORKS, OUTPUT_BYTES, N)
    mean = build_split_table(
        filled.db, SHA, "adb:phone", "host", NETWORKS, OUTPUT_BYTES, N, statistic="mean"
    )
    pooled = [8.0, 9.0, 10.0, 8.0, 9.0, 10.0, 9.0, 60.0]
    assert median.loc[1, "server_ms"] == pytest.approx(statistics.median(pooled))
    assert mean.loc[1, "server_ms"] == pytest.approx(statistics.fmean(pooled))
    assert median.loc[1, "server_mean_ms"] == mean.loc[1, "server_mean_ms"]
    assert (median.attrs["statistic"], mean.attrs["statistic"]) == ("median", "mean")
    assert median.loc[1, "e2e_ms_slow"] < mean.loc[1, "e2e_ms_slow"]
    with pytest.raises(ValueError, match="median, mean"):
        build_split_table(
            filled.db, SHA, "adb:phone", "host", NETWORKS, OUTPUT_BYTES, N, statistic="mode"
        )


def test_intervals_p_best_and_verdicts(tmp_path: Path) -> None:
    df = _table(tmp_path)
    for net in ("slow", "fast-lan"):
        e2e, lo, hi = df[f"e2e_ms_{net}"], df[f"e2e_lo_ms_{net}"], df[f"e2e_hi_ms_{net}"]
        assert lo[1] <= e2e[1] <= hi[1] and lo[1] < hi[1]  # split 1: both parts sampled
        assert lo[0] == e2e[0] == hi[0]  # no head, a tail of three identical samples
        assert math.isnan(lo[2]) and math.isnan(df.loc[2, f"p_best_{net}"])  # failed head
        assert math.isnan(lo[3])  # a head known by its summary only: no interval invented
        p = df[f"p_best_{net}"].dropna()
        assert p.sum() == pytest.approx(1.0) and list(p.index) == [0, 1, 3]
    verdicts = df.attrs["verdicts"]
    assert {k: v.best for k, v in verdicts.items()} == best_splits(df, NETWORKS)
    assert df.loc[1, "client_lo_ms"] < 13.0 < df.loc[1, "client_hi_ms"]
    assert "unstable" in df.loc[1, "client_unstable"] and "--rounds" in df.loc[1, "client_unstable"]
    assert df.loc[0, "client_unstable"] is None  # an empty part is exactly 0


def test_intervals_resample_bouts_and_reproduce(tmp_path: Path) -> None:
    """Three bouts at 10, 11 and 12 ms: taken as independent samples the median would be 11
    with no doubt; resampling the bouts shows the drift between them."""
    filled = fill(tmp_path / "results.sqlite")
    for level in (10.0, 11.0, 12.0):
        filled.db.record_measurement(SHA, 2, "tail", "host", part([level] * 50))
    tables = [
        build_split_table(filled.db, SHA, "adb:phone", "host", NETWORKS, OUTPUT_BYTES, N)
        for _ in range(2)
    ]
    row = tables[0].loc[2]
    assert row.server_ms == 11.0 and row.server_runs == 152
    assert row.server_lo_ms < 10.6 and row.server_hi_ms > 11.4
    pd.testing.assert_frame_equal(tables[0], tables[1])  # fixed seeds: report reproduces
