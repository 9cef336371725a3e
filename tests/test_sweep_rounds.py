"""Bouts: every part measured once per pass over the splits, pooled in the table, resumable."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from onnx_models import side_input_model
from splitbench.cutplan import output_bytes
from splitbench.errors import SplitbenchError
from splitbench.graph import load_graph
from splitbench.kept_parts import KeptParts
from splitbench.measure.types import RunSettings
from splitbench.network import NetworkConfig
from splitbench.report.split_table import build_split_table
from splitbench.rundir import SCRATCH_NAME
from splitbench.splitter import ModelSplitter
from splitbench.sweep import Sweep
from splitbench.sweep_plan import SweepPlan, bout_settings
from splitbench.targets.host import HostTarget

NET = [NetworkConfig("lan", uplink_mbps=100.0, downlink_mbps=100.0, rtt_ms=1.0)]


def test_bout_settings_keep_the_totals() -> None:
    total = RunSettings(threads=2, warmup_runs=1, warmup_min_secs=0.6, num_runs=50, min_secs=1.5)
    bout = bout_settings(total, 3)
    assert bout.threads == 2
    assert bout.num_runs * 3 >= 50 and bout.num_runs == 17
    assert bout.min_secs * 3 == pytest.approx(1.5)
    assert bout.warmup_min_secs * 3 == pytest.approx(0.6) and bout.warmup_runs == 1
    assert bout_settings(total, 1) == total
    with pytest.raises(SplitbenchError):
        bout_settings(total, 0)


def _sweep(model: Path, out: Path, rounds: int, splits: tuple[int, ...] | None = None) -> Sweep:
    plan = SweepPlan(
        model_path=model,
        model_name="chain",
        out_dir=out,
        settings=RunSettings(warmup_runs=0, warmup_min_secs=0, num_runs=3, min_secs=0),
        rounds=rounds,
        splits=splits,
    )
    host = HostTarget()
    return Sweep(plan, {"host": host}, ("host", host))


def _bouts(db: Path) -> dict[tuple[object, str], int]:
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT split, role, count(*) FROM measurements GROUP BY split, role")
        return {(split, role): n for split, role, n in rows}


def test_every_part_gets_one_bout_per_pass_and_the_table_pools_them(
    chain_tflite: Path, tmp_path: Path
) -> None:
    outcome = _sweep(chain_tflite, tmp_path, rounds=2).run()
    graph = load_graph(chain_tflite)
    n = graph.num_operators
    bouts = _bouts(outcome.db_path)
    assert bouts[(None, "whole")] == 2
    for k in range(1, n + 1):
        assert bouts[(k, "head")] == 2
    for k in range(n):
        assert bouts[(k, "tail")] == 2
    table = build_split_table(
        outcome.db_path, graph.sha256, "host", "host", NET, output_bytes(graph), n
    )
    with sqlite3.connect(outcome.db_path) as conn:
        (samples,) = conn.execute(
            """SELECT count(*) FROM samples s JOIN measurements m ON m.id = s.measurement_id
               WHERE m.split = 1 AND m.role = 'head' AND s.phase = 'steady'"""
        ).fetchone()
    assert table.loc[1, "client_runs"] == samples >= 2 * 3  # both bouts' samples, pooled


def test_a_rerun_finishes_only_the_missing_bouts(chain_tflite: Path, tmp_path: Path) -> None:
    n = load_graph(chain_tflite).num_operators
    stopped = _sweep(chain_tflite, tmp_path, rounds=2)

    def stop_after_first_pass(stage: str, done: int, total: int) -> None:
        if stage == "bout 2/2: splits" and done == 0:  # the second pass is about to start
            raise KeyboardInterrupt

    stopped.on_progress = stop_after_first_pass
    with pytest.raises(KeyboardInterrupt):
        stopped.run()
    one_pass = sum(_bouts(stopped.db_path).values())
    assert one_pass == 2 + 2 * n  # whole model twice (both bouts come first), each part once
    more = _sweep(chain_tflite, tmp_path, rounds=2).run()
    assert more.measured == 2 * n  # exactly the second bout of every part
    again = _sweep(chain_tflite, tmp_path, rounds=2).run()
    assert again.measured == 0 and again.skipped == n + 1


def test_other_rounds_are_other_measurements_beside_the_old(
    chain_tflite: Path, tmp_path: Path
) -> None:
    n = load_graph(chain_tflite).num_operators
    first = _sweep(chain_tflite, tmp_path, rounds=1).run()
    assert first.measured == 1 + 2 * n
    second = _sweep(chain_tflite, tmp_path, rounds=2).run()
    assert second.measured == 2 * (1 + 2 * n)  # not mixed with the one-bout measurements
    assert second.settings_hash != first.settings_hash
    assert sum(_bouts(second.db_path).values()) == 3 * (1 + 2 * n)  # nothing replaced


def test_parts_are_written_once_and_reused_by_every_bout(tmp_path: Path) -> None:
    """Later bouts load the very files the first bout wrote (same inode, same mtime), while
    each bout still opens its own runtime session (its own init and first inference)."""
    model = side_input_model(tmp_path / "side.onnx")
    out = tmp_path / "run"
    sweep = _sweep(model, out, rounds=3)
    seen: dict[Path, set[tuple[int, int]]] = {}

    def look(stage: str, done: int, total: int) -> None:
        for part in (out / SCRATCH_NAME).rglob("*.onnx"):
            st = part.stat()
            seen.setdefault(part.relative_to(out), set()).add((st.st_ino, st.st_mtime_ns))

    sweep.on_progress = look
    outcome = sweep.run()
    splitter = ModelSplitter(load_graph(model))
    n = splitter.graph.num_operators
    parts = [(k, io) for k in range(n + 1) for io in (splitter.head_io(k), splitter.tail_io(k))]
    assert outcome.parts_written == n + 1  # once per split, not once per bout
    assert len(seen) == sum(io is not None for _, io in parts)  # every part was on disk
    assert all(len(stamps) == 1 for stamps in seen.values())  # never written again
    assert not (out / SCRATCH_NAME).exists()  # and gone when the sweep ends
    bouts = _bouts(outcome.db_path)
    assert set(bouts.values()) == {3} and len(bouts) == len(seen) + 1  # + the whole model
    with sqlite3.connect(outcome.db_path) as conn:
        inits = conn.execute(
            "SELECT count(*), count(init_ms), count(first_ms) FROM measurements"
        ).fetchone()
    assert inits[0] == inits[1] == inits[2] == 3 * len(bouts)  # a fresh session every bout


def test_beyond_the_disk_budget_parts_are_written_per_bout(tmp_path: Path) -> None:
    model = side_input_model(tmp_path / "side.onnx")
    splitter = ModelSplitter(load_graph(model))
    within = KeptParts(splitter, tmp_path / "within")
    first = within.files(2)
    assert within.is_kept(2) and within.files(2) == first and within.writes == 1
    within.release(2, later_bouts=True)
    assert first.split_dir.is_dir()
    first.tail_path.write_bytes(b"changed")  # not the file that was written: written again
    assert within.files(2).tail_bytes == first.tail_bytes and within.writes == 2
    within.release(2, later_bouts=False)
    assert not first.split_dir.exists()

    beyond = KeptParts(splitter, tmp_path / "beyond", budget_bytes=0)
    for _ in range(3):
        files = beyond.files(2)
        assert not beyond.is_kept(2)
        beyond.release(2, later_bouts=True)
        assert not files.split_dir.exists()
    assert beyond.writes == 3
