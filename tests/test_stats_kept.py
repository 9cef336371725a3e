"""Part statistics kept beside the results database: a table built again reads them instead of
the raw samples, gives the same table, and resamples exactly the parts whose bouts changed."""

from __future__ import annotations

import math
import sqlite3
from pathlib import Path

import pandas as pd
from split_table_data import CLIENT, NETWORKS, OUTPUT_BYTES, SERVER, SHA, N, fill, part
from splitbench.report.split_stats import VERDICTS
from splitbench.report.split_table import build_split_table, whole_model_ms
from splitbench.results import ResultsDB
from splitbench.stats.kept import MAX_PARTS, KeptPart, kept_path, load, save
from splitbench.stats.parts import empty_part


def _table(db: ResultsDB) -> pd.DataFrame:
    return build_split_table(db, SHA, "adb:phone", "host", NETWORKS, OUTPUT_BYTES, N)


def _drop_samples(path: Path) -> None:
    with sqlite3.connect(path) as conn:
        conn.execute("DELETE FROM samples")


def _verdicts(df: pd.DataFrame) -> dict[str, tuple[int | None, tuple[int, ...]]]:
    return {name: (v.best, tuple(v.contenders)) for name, v in df.attrs[VERDICTS].items()}


def test_a_table_built_again_reads_the_kept_statistics_not_the_samples(tmp_path: Path) -> None:
    filled = fill(tmp_path / "results.sqlite")
    first = _table(filled.db)
    assert len(load(filled.path)) == 4  # head 1; tails 0, 1, 2 (head 3 is a summary only)
    # without the raw samples, only what was kept can give the same table
    _drop_samples(filled.path)
    again = _table(filled.db)
    pd.testing.assert_frame_equal(again, first)
    assert _verdicts(again) == _verdicts(first)
    assert again.loc[1, "client_warmup_ms"] == 14.0  # the warm-up KPI is kept too


def test_without_the_kept_file_the_samples_give_the_same_table(tmp_path: Path) -> None:
    filled = fill(tmp_path / "results.sqlite")
    first = _table(filled.db)
    kept_path(filled.path).unlink()
    pd.testing.assert_frame_equal(_table(filled.db), first)
    assert kept_path(filled.path).is_file()


def test_a_new_bout_resamples_that_part_only(tmp_path: Path) -> None:
    filled = fill(tmp_path / "results.sqlite")
    first = _table(filled.db)
    filled.db.record_measurement(SHA, 1, "head", CLIENT, part([30.0, 32.0, 34.0, 36.0]), bout=1)
    again = _table(filled.db)
    assert again.loc[1, "client_runs"] == 8  # both bouts pooled
    assert again.loc[1, "client_mean_ms"] == (10 + 12 + 14 + 16 + 30 + 32 + 34 + 36) / 8
    unchanged = [c for c in first.columns if c.startswith("server_")]
    pd.testing.assert_frame_equal(again[unchanged], first[unchanged])
    assert len(load(filled.path)) == 5  # the old key stays (another table may still use it)


def test_a_new_database_in_place_of_the_old_is_not_read_from_its_statistics(
    tmp_path: Path,
) -> None:
    """A results file deleted by hand and measured anew: its ids start again at 1, with other
    samples, beside the old file's kept statistics."""
    filled = fill(tmp_path / "results.sqlite")
    first = _table(filled.db)
    head_1 = filled.db.measurements(SHA, role="head", with_samples=False)[0].id
    filled.db.close()
    for leftover in tmp_path.glob("results.sqlite*"):
        if leftover != kept_path(filled.path):
            leftover.unlink()
    refilled = fill(filled.path, head_1=(40.0, 42.0, 44.0, 46.0))
    assert refilled.db.measurements(SHA, role="head", with_samples=False)[0].id == head_1
    again = _table(refilled.db)
    assert (first.loc[1, "client_ms"], again.loc[1, "client_ms"]) == (13.0, 43.0)


def test_a_damaged_file_is_rebuilt_not_trusted(tmp_path: Path) -> None:
    filled = fill(tmp_path / "results.sqlite")
    first = _table(filled.db)
    path = kept_path(filled.path)
    path.write_bytes(path.read_bytes()[:1000])  # cut short, as by a full disk
    assert load(filled.path) == {}
    pd.testing.assert_frame_equal(_table(filled.db), first)
    assert len(load(filled.path)) == 4


def test_the_file_keeps_the_newest_parts_up_to_its_limit(tmp_path: Path) -> None:
    db_path = tmp_path / "results.sqlite"
    stats = empty_part()
    parts = {f"part {i}": KeptPart(stats, float(i)) for i in range(MAX_PARTS + 5)}
    save(db_path, parts)
    kept = load(db_path)
    assert list(kept) == [f"part {i}" for i in range(5, MAX_PARTS + 5)]
    assert kept[f"part {MAX_PARTS + 4}"].warmup_ms == MAX_PARTS + 4


def test_a_table_built_again_keeps_its_own_parts_newest(tmp_path: Path) -> None:
    filled = fill(tmp_path / "results.sqlite")
    _table(filled.db)
    mine = list(load(filled.path))
    stats = empty_part()
    older = {f"another table {i}": KeptPart(stats, 0.0) for i in range(3)}
    save(filled.path, {**load(filled.path), **older})
    filled.db.record_measurement(SHA, 1, "head", CLIENT, part([30.0, 32.0]), bout=1)
    _table(filled.db)  # one new part: the file is written again, this table's parts last
    order = list(load(filled.path))
    now = order[-len(mine) :]  # this table's parts last: its three old ones and its new one
    assert set(mine) - set(now) == {order[0]}  # the part that gained a bout: its old key
    assert order[1:4] == list(older)


def test_the_whole_model_time_of_the_anchors_is_kept_too(tmp_path: Path) -> None:
    filled = fill(tmp_path / "results.sqlite")
    filled.db.record_measurement(SHA, None, "whole", SERVER, part([30.0, 31.0, 33.0]))
    first = whole_model_ms(filled.db, SHA, "host", None)
    assert first == 31.0
    _drop_samples(filled.path)
    assert whole_model_ms(filled.db, SHA, "host", None) == first
    # the mean was never kept, and its samples are gone: nothing to compute it from
    assert math.isnan(whole_model_ms(filled.db, SHA, "host", None, "mean"))
