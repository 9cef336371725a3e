"""``sweep --strategy race``: measure only what decides.

A real small model swept on this host (client and server), over a network with a slow uplink:
every early split uploads 32-128 KB (52-210 ms at 5 Mbit/s) while keeping the model on the
client costs well under a millisecond (a busy machine's scheduler adds outliers of 10-20 ms to
some samples), so those splits are clearly out after the first bout; the late splits do the
model's work and move at most 128 bytes.
"""

from __future__ import annotations

import json
import math
import signal
import sqlite3
from pathlib import Path

import model_factory
import numpy as np
import pytest
from cli_helpers import (
    assert_one_line_error,
    query,
    rows_by_split,
    run_cli,
    start_cli,
    wait_for,
    write_network_toml,
)
from splitbench.graph import load_graph
from splitbench.measure.types import PartMeasurement, RunSettings
from splitbench.network import NetworkConfig
from splitbench.race import (
    STOP_DECIDED,
    STOP_NOTHING,
    STOP_ROUNDS,
    Race,
    RaceView,
    race_view,
)
from splitbench.results import ResultsDB
from splitbench.results.store import DB_NAME
from splitbench.sweep import Sweep
from splitbench.sweep_plan import SweepPlan
from splitbench.targets.host import HostTarget

EARLY = (0, 1, 2)  # 32-128 KB across the cut: 52-210 ms of upload at 5 Mbit/s
OPS = 7
# Enough samples per bout for a steady median (30 per bout over 3 bouts, 11 over 8); no
# warm-up time to wait for.
SETTINGS = ("--runs", "90", "--min-secs", "0", "--warmup", "1", "--warmup-secs", "0")


@pytest.fixture(scope="module")
def race_tflite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("models") / "race.tflite"
    path.write_bytes(model_factory.race_model())
    return path


@pytest.fixture(scope="module")
def slow_uplink(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("net")
    return write_network_toml(folder / "net.toml", [("slow-up", 5.0, 1000.0, 0.0)])


def _race(model: Path, out: Path, net: Path, *extra: str) -> tuple[str, ...]:
    return (
        "sweep",
        str(model),
        "--out",
        str(out),
        "--network",
        str(net),
        "--strategy",
        "race",
        *SETTINGS,
        *extra,
    )


def _bouts(db: Path) -> dict[tuple[int, str], list[int]]:
    """(split, role) → the bout numbers of its successful measurements."""
    found: dict[tuple[int, str], list[int]] = {}
    for split, role, bout in query(
        db,
        "SELECT split, role, bout FROM measurements WHERE role IN ('head', 'tail') "
        "AND error IS NULL ORDER BY id",
    ):
        found.setdefault((int(split), role), []).append(int(bout))
    return found


def _parts_of(k: int) -> list[str]:
    return [role for role, keep in (("head", k > 0), ("tail", k < OPS)) if keep]


def test_race_eliminates_clear_losers_and_keeps_their_rows(
    race_tflite: Path, slow_uplink: Path, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    done = run_cli(*_race(race_tflite, out, slow_uplink, "--rounds", "3", "--tie-ms", "0")).ok()
    record = json.loads((out / "run.json").read_text())["race"]
    assert record["strategy"] == "race"
    assert set(EARLY) <= set(record["eliminated"]), record
    assert record["stop"] in (STOP_DECIDED, STOP_ROUNDS), record
    assert record["splits_per_bout"][0] == OPS + 1
    assert all(n <= OPS + 1 - len(EARLY) for n in record["splits_per_bout"][1:]), record
    bouts = _bouts(out / "results.sqlite")
    for k in EARLY:  # measured in bout 0, never again
        for role in _parts_of(k):
            assert bouts[(k, role)] == [0], (k, role, bouts)
    # fewer measurements than a full sweep of the same settings (3 bouts of every part)
    full = 3 * sum(len(_parts_of(k)) for k in range(OPS + 1))
    assert sum(len(v) for v in bouts.values()) < full
    # the eliminated rows keep what was measured, marked; no hole, exit 0 (done.ok() above)
    rows = rows_by_split(out / "splits.csv")
    best = min(rows, key=lambda k: float(rows[k]["e2e_ms_slow-up"]))
    assert rows[best]["race"] == "measured" and best not in EARLY
    for k in range(OPS + 1):
        assert rows[k]["race"] == ("eliminated" if k in record["eliminated"] else "measured")
        assert math.isfinite(float(rows[k]["e2e_ms_slow-up"])), k
    assert "race after bout 1/" in done.stderr and "eliminated" in done.stderr
    assert "race: " in done.stdout and "split(s) eliminated" in done.stdout
    # the workbook's KPI sheet and the report page carry the column too
    from openpyxl import load_workbook
    from splitbench.report.export import SHEET_KPIS

    sheet = load_workbook(out / "splits.xlsx")[SHEET_KPIS]
    header = [c.value for c in sheet[1]]
    column = [row[header.index("race")] for row in sheet.iter_rows(min_row=2, values_only=True)]
    assert column[: OPS + 1] == [rows[k]["race"] for k in range(OPS + 1)]
    assert '"race"' in (out / "report.html").read_text()
    # `report` rebuilds the same table: eliminated splits are complete, not holes
    again = run_cli("report", str(out), "--network", str(slow_uplink)).ok()
    assert "not measured" not in again.stderr
    assert "split(s) eliminated" in again.stdout  # report says what the race did
    assert rows_by_split(out / "splits.csv")[EARLY[0]]["race"] == "eliminated"


def _seeded_samples(k: int, role: str, n: int) -> list[float]:
    """Bout 0 as the seeded tests want it: the early splits' tails take a second, the other
    heads share one wide spread (1-20 ms), the other tails a microsecond."""
    if role == "tail" and k in EARLY:
        return list(np.linspace(1000.0, 1010.0, n))
    if role == "tail":
        return [0.001] * n
    return list(np.linspace(1.0, 20.0, n))


def _seed(db_path: Path, graph, host: HostTarget, settings: RunSettings, samples) -> None:  # type: ignore[no-untyped-def]
    """Bout 0 of every part of the race model, written into a real results database."""
    with ResultsDB(db_path) as db:
        db.record_model(
            sha256=graph.sha256,
            name="race",
            path=str(graph.path),
            file_bytes=graph.file_bytes,
            num_operators=OPS,
        )
        for k in range(OPS + 1):
            for role in _parts_of(k):
                part = PartMeasurement(
                    method="seeded", runtime="test", settings=settings, steady_ms=samples(k, role)
                )
                db.record_measurement(
                    graph.sha256, k, role, host.describe(), part, rounds=3, bout=0
                )


def test_later_bouts_measure_only_the_splits_still_in_the_race(
    race_tflite: Path, tmp_path: Path
) -> None:
    """Bout 0 is already in the database, made for the purpose: the late splits' heads share
    one wide spread of samples (1-20 ms), so they are tied whatever this machine adds to them;
    the early splits' tails take a second. The race must measure the late splits alone, in
    every later bout, and leave the early ones as they are."""
    settings = RunSettings(warmup_runs=0, warmup_min_secs=0.0, num_runs=5, min_secs=0.0)
    net = NetworkConfig("gbit", uplink_mbps=1000.0, downlink_mbps=1000.0, rtt_ms=0.0)
    plan = SweepPlan(
        model_path=race_tflite,
        model_name="race",
        out_dir=tmp_path,
        settings=settings,
        rounds=3,
        strategy="race",
        networks=(net,),
        tie_ms=0.0,
    )
    graph = load_graph(race_tflite)
    host = HostTarget()
    _seed(tmp_path / DB_NAME, graph, host, settings, lambda k, role: _seeded_samples(k, role, 15))
    lines: list[str] = []
    stages: set[str] = set()
    outcome = Sweep(
        plan,
        {"host": host},
        ("host", host),
        on_race=lines.append,
        on_progress=lambda stage, done, total: stages.add(stage),
    ).run()
    bouts = _bouts(tmp_path / DB_NAME)
    for k in range(OPS + 1):
        for role in _parts_of(k):
            assert bouts[(k, role)] == ([0] if k in EARLY else [0, 1, 2]), (k, role, bouts)
    late_parts = sum(len(_parts_of(k)) for k in range(len(EARLY), OPS + 1))
    assert outcome.measured == 2 * late_parts + 3  # two later bouts; the whole model's 3 bouts
    record = json.loads((tmp_path / "run.json").read_text())["race"]
    assert record["splits_per_bout"] == [OPS + 1, OPS + 1 - 3, OPS + 1 - 3]
    assert record["eliminated"] == list(EARLY)
    assert record["stop"] == STOP_ROUNDS and record["undecided"] == ["gbit"]
    assert len(record["contenders"]["gbit"]) > 1
    assert lines[0].startswith("race after bout 1/3: 5 of 8 splits still in, 3 eliminated")
    # the progress bars say the race's state
    assert {"bout 1/3: all 8 splits", "bout 2/3: 5 contenders left"} <= stages


def _split_measured(db: Path) -> bool:
    """A split's part is in the database (which a starting sweep may not have created yet)."""
    try:
        return db.is_file() and bool(
            query(db, "SELECT 1 FROM measurements WHERE split IS NOT NULL AND error IS NULL")
        )
    except sqlite3.OperationalError:
        return False


def test_an_interrupted_race_resumes_from_the_database(
    race_tflite: Path, slow_uplink: Path, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    db = out / "results.sqlite"
    args = _race(race_tflite, out, slow_uplink, "--rounds", "8", "--tie-ms", "0")
    proc = start_cli(*args, stdout_path=tmp_path / "out.txt", stderr_path=tmp_path / "err.txt")
    try:
        assert wait_for(lambda: _split_measured(db), timeout=120), (
            tmp_path / "err.txt"
        ).read_text()
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
    assert code == 128 + signal.SIGTERM, (tmp_path / "out.txt").read_text()
    assert "rerun the same command to resume" in (tmp_path / "err.txt").read_text()
    kept = _bouts(db)
    assert kept
    record = json.loads((out / "run.json").read_text())["race"]
    assert record["strategy"] == "race" and record["stop"] == "interrupted", record
    rerun = run_cli(*args).ok()
    complete = [k for k in range(OPS + 1) if all(0 in kept.get((k, r), []) for r in _parts_of(k))]
    assert f"{len(complete)} splits already done" in rerun.stdout, rerun.stdout
    after = _bouts(db)
    for key, seen in kept.items():  # what was measured stays; no bout is measured twice
        assert after[key][: len(seen)] == seen
    for key, seen in after.items():
        assert len(set(seen)) == len(seen) <= 8, (key, seen)
    for k in EARLY:  # clearly out: one bout, whether it was measured before or after
        for role in _parts_of(k):
            assert after[(k, role)] == [0], (k, role, after)
    for k in range(OPS + 1):  # bout 0 is complete: every split has its first bout
        for role in _parts_of(k):
            assert 0 in after[(k, role)], (k, role)
    final = json.loads((out / "run.json").read_text())["race"]
    assert final["stop"] in (STOP_DECIDED, STOP_ROUNDS) and set(EARLY) <= set(final["eliminated"])


def test_max_minutes_stops_the_race_and_names_the_undecided_networks(
    race_tflite: Path, slow_uplink: Path, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    # a limit that has passed before the first split: nothing of bout 0 is measured
    args = _race(race_tflite, out, slow_uplink, "--rounds", "2")
    stopped = run_cli(*args, "--max-minutes", "1e-6")
    assert stopped.returncode != 0, stopped.describe()
    assert "--max-minutes" in stopped.stdout and "still undecided: slow-up" in stopped.stdout
    assert "not measured" in stopped.stderr  # the splits it did not reach are holes, said so
    record = json.loads((out / "run.json").read_text())["race"]
    assert record["stop"] == "max-minutes" and record["undecided"] == ["slow-up"]
    assert not query(out / "results.sqlite", "SELECT 1 FROM measurements WHERE split IS NOT NULL")
    # the same race without the limit goes on from there to a verdict
    run_cli(*args).ok()
    assert json.loads((out / "run.json").read_text())["race"]["stop"] != "max-minutes"


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        (("--strategy", "race", "--tie-ms", "-1"), "--tie-ms"),
        (("--strategy", "race", "--tie-ms", "nan"), "--tie-ms"),
        (("--strategy", "race", "--tie-ms", "inf"), "--tie-ms"),
        (("--strategy", "race", "--max-minutes", "0"), "--max-minutes"),
        (("--strategy", "race", "--max-minutes", "-2"), "--max-minutes"),
        (("--strategy", "race", "--max-minutes", "nan"), "--max-minutes"),
        (("--strategy", "race", "--max-minutes", "inf"), "--max-minutes"),
        (("--tie-ms", "0.5"), "--strategy race"),
        (("--strategy", "direct", "--max-minutes", "5"), "--strategy race"),
    ],
)
def test_bad_race_options_are_one_line_and_write_nothing(
    chain_tflite: Path, tmp_path: Path, extra: tuple[str, ...], needle: str
) -> None:
    out = tmp_path / "run"
    result = run_cli("sweep", str(chain_tflite), "--out", str(out), *extra, timeout=120)
    assert_one_line_error(result, needle)
    assert not out.exists()


def _view(alive: list[int], undecided: list[str]) -> RaceView:
    return RaceView(alive=alive, eliminated=[], undecided=undecided, contenders={})


def test_the_schedule_stops_on_a_decided_verdict_or_when_nothing_is_left() -> None:
    race = Race(splits=[0, 1, 2, 3], rounds=5)
    assert race.next_bout(0) == [0, 1, 2, 3]
    race.observe(_view([2, 3], ["4G"]))
    assert race.next_bout(1) == [2, 3]
    assert race.state(1) == "bout 2/5: 2 contenders left"
    race.observe(_view([3], []))
    assert race.next_bout(2) is None and race.stop == STOP_DECIDED
    assert race.record()["splits_per_bout"] == [4, 2]

    empty = Race(splits=[0, 1], rounds=3)
    empty.next_bout(0)
    empty.observe(_view([], ["4G"]))
    assert empty.next_bout(1) is None and empty.stop == STOP_NOTHING

    last = Race(splits=[0, 1], rounds=1)
    last.next_bout(0)
    last.observe(_view([0, 1], ["4G"]))
    last.finish()
    assert last.stop == STOP_ROUNDS and last.record()["undecided"] == ["4G"]


def test_one_sample_per_part_eliminates_and_decides_nothing(
    race_tflite: Path, tmp_path: Path
) -> None:
    """With one sample a part's interval has no width: the early splits look a thousand times
    slower, yet nothing is known about the noise, so the race keeps every split in."""
    settings = RunSettings(warmup_runs=0, warmup_min_secs=0.0, num_runs=1, min_secs=0.0)
    net = NetworkConfig("gbit", uplink_mbps=1000.0, downlink_mbps=1000.0, rtt_ms=0.0)
    graph = load_graph(race_tflite)
    host = HostTarget()
    db_path = tmp_path / DB_NAME
    _seed(db_path, graph, host, settings, lambda k, role: _seeded_samples(k, role, 1))
    with ResultsDB(db_path) as db:
        for k in range(OPS + 1):  # the split records a sweep writes with its parts
            db.record_split(
                model_sha=graph.sha256,
                split=k,
                cut_tensors=["t"],
                intermediate_bytes=64,
                head_bytes=0 if k == 0 else 1000,
                tail_bytes=0 if k == OPS else 1000,
                max_abs_diff=0.0,
                bit_exact=True,
                verify_passed=True,
                verify_error=None,
            )
        key = db.record_settings(settings, 3)
        args = dict(
            model_sha=graph.sha256,
            clients=["host"],
            server="host",
            networks=[net],
            output_bytes=16,
            num_operators=OPS,
            settings_hash=key,
            splits=list(range(OPS + 1)),
            tie_ms=None,
        )
        thin = race_view(db, **args)  # type: ignore[arg-type]
    assert thin.eliminated == [] and thin.alive == list(range(OPS + 1))
    assert thin.undecided == ["gbit"]
