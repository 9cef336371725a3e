"""``splitbench compare`` on real runs: the same sweep twice (A/A) must not look different, a run
measured under a real CPU load (A/B) must, and unusable input gives one line and writes nothing.

The A/A pair runs side by side (two processes at once), so a change in the machine's load
between two sequential sweeps — on a shared 2-core machine, easily a factor of two — does not
pass for a difference between the runs. For A/B, two more sweeps run pinned to core 0: a base
alone there, then B beside two busy processes, so B gets about a third of the core. (Pinned side
by side on different cores, the base's core took the rest of the machine's load instead.) The
longest parts are then really slower in B. (A part shorter than a time slice mostly runs within
one, and the median ignores the runs that do not: no claim about those. So the A/B model is four
times the A/A one: its five longest parts take longer than a scheduler tick.)
"""

from __future__ import annotations

import math
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from cli_helpers import (
    FAST,
    SPLITBENCH,
    assert_one_line_error,
    cli_env,
    read_csv,
    rows_by_split,
    run_cli,
    write_network_toml,
)
from splitbench.report.compare_runs import RunSide
from splitbench.run_record import RunRecord

pytestmark = pytest.mark.slow

# Long enough that the interval of each part covers the bout-to-bout noise of a loaded machine
# (12 bouts of 10 runs flagged 2 of 16 parts once at a load of 12 on 2 cores): 16 bouts of 20.
AA = ("--runs", "320", "--rounds", "16", "--min-secs", "0", "--warmup", "2", "--warmup-secs", "0")
LOADED = ("--runs", "40", "--rounds", "8", "--min-secs", "0", "--warmup", "1", "--warmup-secs", "0")
N_OPS = 8
SPIN_SECS = 600  # a spinner's own deadline, should the test die without killing it


def _conv_model(side: int) -> bytes:
    """Eight 3x3 convolutions on a ``side`` x ``side`` x 8 input: on the host, parts of 0.1 to a
    few ms at 48, about four times that at 96."""
    import keras
    from model_factory import _convert

    keras.utils.set_random_seed(5)
    inp = keras.Input((side, side, 8), batch_size=1, name="image")
    x = inp
    for _ in range(N_OPS):
        x = keras.layers.Conv2D(24, 3, padding="same", activation="relu")(x)
    return _convert(keras.Model(inp, x))


def _pinned(cpu: int, cmd: list[str]) -> list[str]:
    """``cmd`` on core ``cpu`` only, killed when the test process dies: util-linux's setpriv and
    taskset do it before exec. (A Python ``preexec_fn`` runs in a fork of this threaded process
    and deadlocked there once: fork copies locks other threads held.)"""
    # chrt --other: ordinary scheduling whatever the test process runs with (a library left the
    # suite's main thread at SCHED_FIFO 99 once, and a real-time spinner pinned to a core starves
    # everything else on it)
    pinned = ["taskset", "-c", str(cpu), *cmd]
    return ["setpriv", "--pdeathsig", "KILL", "chrt", "--other", "0", *pinned]


def _sweep(model: Path, out: Path, cpu: int) -> subprocess.Popen:
    """A sweep pinned to ``cpu``; its stderr in a file beside ``out`` (no pipe to fill)."""
    with out.with_name(out.name + ".stderr").open("w") as err:
        return subprocess.Popen(
            _pinned(cpu, [str(SPLITBENCH), "sweep", str(model), "--out", str(out), *LOADED]),
            stdout=subprocess.DEVNULL,
            stderr=err,
            env=cli_env(),
        )


def _base_then_loaded(model: Path, base: Path, loaded: Path) -> None:
    """Two sweeps pinned to core 0, one after the other: ``base`` alone there, then ``loaded``
    beside two busy processes pinned there too (about a third of the core for it)."""
    spin = f"import time\nend = time.monotonic() + {SPIN_SECS}\nwhile time.monotonic() < end: pass"
    for out, busy in ((base, 0), (loaded, 2)):
        started = [subprocess.Popen(_pinned(0, [sys.executable, "-c", spin])) for _ in range(busy)]
        try:
            sweep = _sweep(model, out, cpu=0)
            started.append(sweep)
            sweep.wait(timeout=900)
            err = out.with_name(out.name + ".stderr").read_text()
            assert sweep.returncode == 0, err[-3000:]
        finally:
            for p in started:
                p.kill()
                p.wait(timeout=30)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("compare")
    model = root / "conv8.tflite"
    model.write_bytes(_conv_model(48))
    # A/B on parts of 6-9 ms: longer than a scheduler tick (4 ms at HZ=250), so a busy core
    # interrupts every run of them, not just some (on CI, 2-ms parts were interrupted in about
    # half of their runs, and the median moved for some of them only)
    wide = root / "conv8_wide.tflite"
    wide.write_bytes(_conv_model(96))
    dirs = {name: root / f"run_{name}" for name in ("a", "a2", "base", "b")}
    # A/A: side by side on the same core, so both runs see the same core and the same moments
    # (side by side on two cores, the cores differed by ~4 % on this VM; one after the other,
    # the machine drifted between them)
    procs = {}
    for name in ("a", "a2"):
        cmd = [str(SPLITBENCH), "sweep", str(model), "--out", str(dirs[name]), *AA]
        err = dirs[name].with_name(f"run_{name}.stderr").open("w")
        procs[name] = (
            subprocess.Popen(_pinned(0, cmd), stdout=subprocess.DEVNULL, stderr=err, env=cli_env()),
            err,
        )
    for name, (proc, err) in procs.items():
        proc.wait(timeout=900)
        err.close()
        assert proc.returncode == 0, dirs[name].with_name(f"run_{name}.stderr").read_text()[-3000:]
    _base_then_loaded(wide, dirs["base"], dirs["b"])
    return {**dirs, "model": model, "root": root}


def _sig(rows: list[dict[str, str]]) -> list[dict[str, str]]:
    return [r for r in rows if r["significant"] == "True"]


def _compared(rows: list[dict[str, str]]) -> list[dict[str, str]]:
    return [r for r in rows if r["significant"] in ("True", "False")]


def test_aa_same_sweep_twice_is_not_called_different(runs: dict[str, Path], tmp_path: Path):
    out = tmp_path / "aa"
    result = run_cli("compare", runs["a"], runs["a2"], "--out", out).ok()
    rows = read_csv(out / "compare.csv")
    compared = _compared(rows)
    # every non-empty part: 8 heads (1..8) and 8 tails (0..7) of the host
    assert len(compared) == 2 * N_OPS, result.describe()
    assert {(int(r["split"]), r["role"]) for r in compared} == {
        *((k, "head") for k in range(1, N_OPS + 1)),
        *((k, "tail") for k in range(N_OPS)),
    }
    flagged = _sig(rows)
    assert len(flagged) <= 0.10 * len(compared), [
        (r["label"], r["role"], r["diff_pct"], r["diff_lo_ms"], r["diff_hi_ms"]) for r in flagged
    ]
    assert f"{len(flagged)} of {len(compared)} parts differ significantly" in result.stdout
    table_a = rows_by_split(runs["a"] / "splits.csv")
    for r in compared:  # the difference is B − A of the medians written beside it
        assert math.isclose(float(r["diff_ms"]), float(r["b_ms"]) - float(r["a_ms"]))
        assert float(r["diff_lo_ms"]) <= float(r["diff_hi_ms"])
        # each run's figures are those of its own splits.csv (the same bootstrap)
        side = "client" if r["role"] == "head" else "server"
        row_a = table_a[int(r["split"])]
        for mine, theirs in (("a_ms", "ms"), ("a_lo_ms", "lo_ms"), ("a_hi_ms", "hi_ms")):
            assert math.isclose(float(r[mine]), float(row_a[f"{side}_{theirs}"]), rel_tol=1e-9)
    page = (out / "compare.html").read_text()
    assert "<script" not in page and "http://" not in page and "https://" not in page


def test_ab_a_loaded_run_is_called_slower(runs: dict[str, Path], tmp_path: Path):
    out = tmp_path / "ab"
    result = run_cli("compare", runs["base"], runs["b"], "--out", out).ok()
    rows = read_csv(out / "compare.csv")
    compared, flagged = _compared(rows), _sig(rows)
    assert len(compared) == 2 * N_OPS
    for r in flagged:  # the two conditions of the rule, from the written numbers
        diff, lo, hi = float(r["diff_ms"]), float(r["diff_lo_ms"]), float(r["diff_hi_ms"])
        assert lo > 0 or hi < 0
        assert abs(diff) > 0.03 * float(r["a_ms"])
    # B's longest parts (6-9 ms, longer than a tick) wait behind the busy processes in every run:
    # at least three of the five longest are called slower. (Not all five: a part with one bout far
    # off the others can get an interval too wide, or one that misses its own estimate, which
    # is then not judged.)
    longest = sorted(compared, key=lambda r: float(r["a_ms"]))[-5:]
    slower = [r for r in longest if r["significant"] == "True" and float(r["diff_lo_ms"]) > 0]
    assert len(slower) >= 3, result.describe()
    # the verdict per network is printed for both runs (default networks)
    for name in ("4G", "5G-IMT2020", "WiFi-broadband"):
        assert f"best split for {name}: A " in result.stdout
    page = (out / "compare.html").read_text()
    assert page.count('<tr class="sig">') == len(flagged)


def test_min_effect_decides_between_real_and_tiny(runs: dict[str, Path], tmp_path: Path):
    """A larger --min-effect only ever drops parts, and every part it keeps exceeds it."""
    counts = {}
    for pct in ("0", "3", "99"):
        out = tmp_path / f"min{pct}"
        run_cli("compare", runs["base"], runs["b"], "--out", out, "--min-effect", pct).ok()
        rows = read_csv(out / "compare.csv")
        counts[pct] = len(_sig(rows))
        for r in _sig(rows):
            assert abs(float(r["diff_ms"])) > float(pct) / 100 * float(r["a_ms"])
    assert counts["0"] >= counts["3"] >= counts["99"]


def test_default_out_is_beside_run_b_and_paths_are_escaped(runs: dict[str, Path], tmp_path: Path):
    odd = tmp_path / "run <b>&'x'"
    shutil.copytree(runs["a"], odd)
    result = run_cli("compare", odd, runs["a2"], "--statistic", "mean").ok()
    out = runs["a2"] / f"compare-vs-{odd.name}"
    assert (out / "compare.csv").is_file(), result.describe()
    page = (out / "compare.html").read_text()
    assert "run &lt;b&gt;&amp;&#x27;x&#x27;" in page and "<b>&'x'" not in page
    assert {r["statistic"] for r in read_csv(out / "compare.csv")} == {"mean"}
    shutil.rmtree(out)


# --------------------------------------------------------------------------- bad input


def _nothing_written(*dirs: Path) -> None:
    for d in dirs:
        assert not list(d.glob("compare-vs-*")), list(d.iterdir())


def test_missing_run(runs: dict[str, Path], tmp_path: Path):
    result = run_cli("compare", runs["a"], tmp_path / "nowhere", "--out", tmp_path / "o")
    assert_one_line_error(result, "nowhere", "no such run directory")
    assert not (tmp_path / "o").exists()


def test_damaged_database_is_refused_and_left_as_it_is(runs: dict[str, Path], tmp_path: Path):
    bad = tmp_path / "damaged"
    shutil.copytree(runs["a2"], bad)
    db = bad / "results.sqlite"
    data = bytearray(db.read_bytes())
    page = 4096  # keep the header page; scribble over the rest
    rng = np.random.default_rng(3)
    data[page * 2 : page * 6] = rng.integers(0, 256, page * 4, dtype=np.uint8).tobytes()
    db.write_bytes(bytes(data))
    before = db.read_bytes()
    result = run_cli("compare", runs["a"], bad)
    assert_one_line_error(result, "damaged", "splitbench doctor")
    assert db.read_bytes() == before
    _nothing_written(bad)


def test_runs_of_different_models(runs: dict[str, Path], chain_tflite: Path, tmp_path: Path):
    other = tmp_path / "chain_run"
    run_cli("sweep", chain_tflite, "--out", other, *FAST).ok()
    result = run_cli("compare", runs["a"], other)
    assert_one_line_error(result, "different models", "conv8", "chain")
    _nothing_written(other)


def test_runs_of_different_networks(runs: dict[str, Path], tmp_path: Path):
    other = tmp_path / "other_networks"
    shutil.copytree(runs["a2"], other)
    net = write_network_toml(tmp_path / "net.toml", [("lab", 10.0, 50.0, 20.0)])
    run_cli("report", other, "--network", net).ok()
    result = run_cli("compare", runs["a"], other)
    assert_one_line_error(result, "different networks", "lab")
    _nothing_written(other)


@pytest.mark.parametrize(
    ("flag", "value", "needle"),
    [("--statistic", "mode", "--statistic"), ("--min-effect", "-1", "--min-effect")],
)
def test_bad_options(runs: dict[str, Path], tmp_path: Path, flag: str, value: str, needle: str):
    result = run_cli("compare", runs["a"], runs["a2"], flag, value, "--out", tmp_path / "o")
    assert_one_line_error(result, needle)
    assert not (tmp_path / "o").exists()


# --------------------------------------------------------------------------- the rule itself


def _side(path: Path, bouts: list[list[float]]) -> RunSide:
    record = RunRecord(
        model_name="m", model_sha="0" * 64, model_path="m.tflite", clients=["host"],
        server="host", output_bytes=4, num_operators=2,
    )  # fmt: skip
    return RunSide(
        path=path, record=record, settings_hash="h", settings_text="h",
        bouts={(1, "head", "host"): bouts}, summary_only=frozenset(), networks=None,
        empty=frozenset({(0, "head"), (2, "tail")}),
    )  # fmt: skip


def _bouts(centre: float, seed: int) -> list[list[float]]:
    rng = np.random.default_rng(seed)
    return [list(centre + rng.normal(0, 0.01, 10)) for _ in range(12)]


def test_a_clear_but_small_difference_needs_the_minimum_effect(tmp_path: Path):
    """+2 % with an interval far from 0: not significant at the default 3 %, significant at
    1 %; the same centre measured twice is not significant at 0 %."""
    from splitbench.report.compare import compare_parts

    a = _side(tmp_path / "a", _bouts(10.0, 1))
    b = _side(tmp_path / "b", _bouts(10.2, 2))
    (row,) = compare_parts(a, b, "median", 3.0).to_dict("records")
    assert row["diff_lo_ms"] > 0.1 and math.isclose(row["diff_pct"], 2.0, abs_tol=0.2)
    assert bool(row["significant"]) is False  # bool(pd.NA) would raise: judged, not unknown
    (row,) = compare_parts(a, b, "median", 1.0).to_dict("records")
    assert bool(row["significant"]) is True
    same = _side(tmp_path / "a2", _bouts(10.0, 3))
    (row,) = compare_parts(a, same, "median", 0.0).to_dict("records")
    assert row["diff_lo_ms"] < 0 < row["diff_hi_ms"] and bool(row["significant"]) is False


def test_network_file_other_than_the_runs(runs: dict[str, Path], tmp_path: Path):
    net = write_network_toml(tmp_path / "net.toml", [("lab", 10.0, 50.0, 20.0)])
    result = run_cli("compare", runs["a"], runs["a2"], "--network", net, "--out", tmp_path / "o")
    assert_one_line_error(result, "4G", "--network")
    assert not (tmp_path / "o").exists()
