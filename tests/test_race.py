"""``sweep --strategy race``: measure only what decides.

A real small model swept on this host (client and server), over a network with a slow uplink:
every early split uploads 32-128 KB (5-21 ms at 50 Mbit/s) while keeping the model on the
client costs about a millisecond, so those splits are clearly out after the first bout; the
late splits do the model's work and move at most 128 bytes, so they stay within the noise of
one another and the race goes on for them alone.
"""

from __future__ import annotations

import json
import math
import signal
from pathlib import Path

import model_factory
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
from splitbench.race import STOP_DECIDED, STOP_NOTHING, STOP_ROUNDS, Race, RaceView

EARLY = (0, 1, 2)  # 32-128 KB across the cut: 5-21 ms of upload at 50 Mbit/s
OPS = 7
# Enough samples per bout for a steady median (10 per bout); no warm-up time to wait for.
SETTINGS = ("--runs", "30", "--min-secs", "0", "--warmup", "1", "--warmup-secs", "0")


@pytest.fixture(scope="module")
def race_tflite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("models") / "race.tflite"
    path.write_bytes(model_factory.race_model())
    return path


@pytest.fixture(scope="module")
def slow_uplink(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("net")
    return write_network_toml(folder / "net.toml", [("slow-up", 50.0, 1000.0, 0.0)])


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


def test_race_eliminates_clear_losers_and_measures_only_contenders(
    race_tflite: Path, slow_uplink: Path, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    # --tie-ms 0: a tie is never "decided", so the race runs its bouts over the contenders.
    done = run_cli(*_race(race_tflite, out, slow_uplink, "--rounds", "3", "--tie-ms", "0")).ok()
    record = json.loads((out / "run.json").read_text())["race"]
    assert record["strategy"] == "race"
    assert set(EARLY) <= set(record["eliminated"]), record
    assert record["stop"] in (STOP_DECIDED, STOP_ROUNDS), record
    assert record["splits_per_bout"][0] == OPS + 1
    # the late splits do the same work within microseconds: the race went on for them only
    assert len(record["splits_per_bout"]) >= 2, record
    assert all(n < OPS + 1 for n in record["splits_per_bout"][1:]), record
    bouts = _bouts(out / "results.sqlite")
    for k in EARLY:  # measured in bout 0, never again
        for role in _parts_of(k):
            assert bouts[(k, role)] == [0], (k, role, bouts)
    later = {k for (k, _), seen in bouts.items() if max(seen) > 0}
    assert later and not later & set(EARLY)
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
    assert "race bout 1:" in done.stderr or "race after bout 1" in done.stderr, done.stderr
    assert "race after bout 0:" in done.stderr and "eliminated" in done.stderr
    assert "race: " in done.stdout and "split(s) eliminated" in done.stdout
    # `report` rebuilds the same table: eliminated splits are complete, not holes
    again = run_cli("report", str(out), "--network", str(slow_uplink)).ok()
    assert "not measured" not in again.stderr
    assert rows_by_split(out / "splits.csv")[EARLY[0]]["race"] == "eliminated"


def test_an_interrupted_race_resumes_from_the_database(
    race_tflite: Path, slow_uplink: Path, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    db = out / "results.sqlite"
    args = _race(race_tflite, out, slow_uplink, "--rounds", "8", "--tie-ms", "0")
    proc = start_cli(*args, stdout_path=tmp_path / "out.txt", stderr_path=tmp_path / "err.txt")
    try:
        # wait until the race is past its first bouts (a measurement of bout 2 is in)
        assert wait_for(
            lambda: db.is_file() and bool(query(db, "SELECT 1 FROM measurements WHERE bout >= 2")),
            timeout=120,
        ), (tmp_path / "err.txt").read_text()
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
    assert code != 0, (tmp_path / "out.txt").read_text()
    assert "rerun the same command to resume" in (tmp_path / "err.txt").read_text()
    kept = _bouts(db)
    record = json.loads((out / "run.json").read_text())["race"]
    assert record["stop"] == "interrupted" and set(EARLY) <= set(record["eliminated"]), record
    rerun = run_cli(*args).ok()
    assert f"{OPS + 1} splits already done" in rerun.stdout, rerun.stdout
    after = _bouts(db)
    for k in EARLY:  # eliminated before the interruption, still out after it
        for role in _parts_of(k):
            assert after[(k, role)] == kept[(k, role)] == [0]
    for key, seen in kept.items():  # what was measured stays; no bout is measured twice
        assert after[key][: len(seen)] == seen
        assert len(set(after[key])) == len(after[key]) <= 8, (key, after[key])
    assert sum(map(len, after.values())) > sum(map(len, kept.values()))  # it went on
    final = json.loads((out / "run.json").read_text())["race"]
    assert final["stop"] in (STOP_DECIDED, STOP_ROUNDS), final


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
    assert race.state(1) == "splits, race bout 1: 2 contenders left"
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
