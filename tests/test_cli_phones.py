"""Phones from the command line, against `splitbench emulator start` run as a real process:
devices, several phones in parallel, a phone as the server, profile-then-verify's refusal
without op profiles, and collate on outputs the emulated phone's runner printed."""

from __future__ import annotations

import csv
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

CLI = str(Path(sys.executable).parent / "splitbench")
TINY = ["--runs", "2", "--min-secs", "0", "--warmup", "0", "--warmup-secs", "0", "--rounds", "1"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """Two emulated phones served by the CLI in the foreground, as a user would start them."""
    port = _free_port()
    root = tmp_path_factory.mktemp("phones")
    proc = subprocess.Popen(
        [
            CLI,
            "emulator",
            "start",
            "--port",
            str(port),
            "--serial",
            "emu-a",
            "--serial",
            "emu-b",
            "--root",
            str(root),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()  # the server says where it listens once it does
    assert f"127.0.0.1:{port}" in line, line + (proc.stderr.read() if proc.poll() else "")
    yield port
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0  # stops cleanly on SIGTERM


def _run(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CLI, *args], capture_output=True, text=True, timeout=timeout)


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def test_emulator_is_a_real_adb_server(emulator: int) -> None:
    adb = subprocess.run(
        ["adb", "-P", str(emulator), "devices"], capture_output=True, text=True, timeout=60
    )
    if adb.returncode != 0 and "not found" in adb.stderr:
        pytest.skip("Debian's adb is not installed (install.sh installs it)")
    assert "emu-a\tdevice" in adb.stdout and "emu-b\tdevice" in adb.stdout


def test_devices_lists_both_phones_with_their_facts(emulator: int) -> None:
    done = _run("devices", "--adb-port", str(emulator))
    assert done.returncode == 0, done.stderr
    for serial in ("emu-a", "emu-b"):
        assert serial in done.stdout
    for fact in ("ABI", "Android", "cores", "governor", "battery", "thermal", "free in"):
        assert fact in done.stdout
    assert "emulated" in done.stdout


def test_two_phones_in_parallel_one_database_a_table_each(
    emulator: int, chain_tflite: Path, tmp_path: Path
) -> None:
    out = tmp_path / "two"
    done = _run(
        "sweep",
        str(chain_tflite),
        "--out",
        str(out),
        "--clients",
        "all",
        "--adb-port",
        str(emulator),
        *TINY,
    )
    assert done.returncode == 0, done.stderr
    for serial in ("emu-a", "emu-b"):
        rows = _rows(out / f"splits_adb_{serial}.csv")
        assert [int(r["split"]) for r in rows] == list(range(len(rows)))
        assert all(float(r["client_ms"]) > 0 for r in rows[1:])
        assert (out / f"splits_adb_{serial}.xlsx").is_file()
    with sqlite3.connect(out / "results.sqlite") as db:
        targets = {r[0] for r in db.execute("SELECT DISTINCT target FROM measurements")}
        kinds = dict(db.execute("SELECT name, kind FROM targets").fetchall())
    assert targets == {"adb:emu-a", "adb:emu-b", "host"}
    assert kinds["adb:emu-a"] == "adb" and kinds["host"] == "host"
    assert "bytes pushed" in done.stdout


def test_a_phone_as_the_server(emulator: int, chain_tflite: Path, tmp_path: Path) -> None:
    out = tmp_path / "server"
    done = _run(
        "sweep",
        str(chain_tflite),
        "--out",
        str(out),
        "--server",
        "adb:emu-b",
        "--adb-port",
        str(emulator),
        *TINY,
    )
    assert done.returncode == 0, done.stderr
    rows = _rows(out / "splits.csv")
    assert all(float(r["server_ms"]) > 0 for r in rows[:-1])
    with sqlite3.connect(out / "results.sqlite") as db:
        roles = set(db.execute("SELECT role, target FROM measurements WHERE role != 'whole'"))
    assert roles == {("head", "host"), ("tail", "adb:emu-b")}


def test_profile_then_verify_refuses_runners_without_op_profiles(
    emulator: int, chain_tflite: Path, tmp_path: Path
) -> None:
    done = _run(
        "sweep",
        str(chain_tflite),
        "--out",
        str(tmp_path / "ptv"),
        "--client",
        "adb:emu-a",
        "--adb-port",
        str(emulator),
        "--strategy",
        "profile-then-verify",
        *TINY,
    )
    assert done.returncode != 0
    lines = [ln for ln in done.stderr.splitlines() if ln.strip() and not ln.startswith("progress:")]
    assert len(lines) == 1 and "Traceback" not in done.stderr
    assert "cannot predict on adb:emu-a" in lines[0] and "--benchmark-binary" in lines[0]
    # the whole-model anchors it measured first are kept for the next run
    with sqlite3.connect(tmp_path / "ptv" / "results.sqlite") as db:
        assert db.execute("SELECT count(*) FROM measurements WHERE role='whole'").fetchone()[0]


def test_unknown_strategy_is_one_line(chain_tflite: Path, tmp_path: Path) -> None:
    done = _run("sweep", str(chain_tflite), "--out", str(tmp_path / "x"), "--strategy", "guess")
    assert done.returncode != 0 and "unknown --strategy 'guess'" in done.stderr


def test_collate_refuses_outputs_without_op_profiles(chain_tflite: Path, tmp_path: Path) -> None:
    """The emulated phone's runner prints benchmark_model's format without op profiles:
    collate says so in one line instead of inventing times."""
    stdout = tmp_path / "client.stdout"
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "splitbench_device.litert_benchmark_model",
            f"--graph={chain_tflite}",
            "--num_runs=3",
            "--min_secs=0",
            "--warmup_runs=1",
            "--enable_op_profiling=true",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    stdout.write_text(run.stdout)
    done = _run(
        "collate",
        "--client",
        str(stdout),
        "--server",
        str(stdout),
        "--model",
        str(chain_tflite),
        "--out",
        str(tmp_path / "collated"),
    )
    assert done.returncode != 0
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "enable_op_profiling" in lines[0]


def _measured_run_order(model: Path, tmp_path: Path) -> tuple[Path, list[float]]:
    """A Run Order CSV whose rows are real measurements: each operator of ``model`` cut out as
    a one-operator model (head of k+1, then its tail from k) and timed with the kit's runner.
    benchmark_model cannot run here; this is the honest way to get per-operator numbers of a
    model we hold, in the format collate reads."""
    from splitbench.formats.tflite.litert import measure_file
    from splitbench.graph import load_graph
    from splitbench.measure.types import RunSettings
    from splitbench.splitter import ModelSplitter

    graph = load_graph(model)
    splitter = ModelSplitter(graph)
    settings = RunSettings(warmup_runs=1, warmup_min_secs=0, num_runs=5, min_secs=0)
    lines = ["node type, first, avg_ms, %, cdf%, mem KB, times called, name"]
    times = []
    for k, op in enumerate(graph.operators):
        head = tmp_path / f"head{k + 1}.tflite"
        data = splitter.head(k + 1)
        assert data is not None
        head.write_bytes(data)
        one = ModelSplitter(head).tail(k) if k else data
        assert one is not None
        single = tmp_path / f"op{k}.tflite"
        single.write_bytes(one)
        m = measure_file(single, settings)
        assert m.ok and m.steady_mean_ms
        times.append(m.steady_mean_ms)
        outs = ", ".join(graph.tensors[t].name for t in op.outputs)
        lines.append(f"{op.opcode}, {m.first_ms}, {m.steady_mean_ms}, 0%, 0%, 0, 1, [{outs}]:{k}")
    path = tmp_path / "run_order.csv"
    path.write_text(
        "Operator-wise Profiling Info for Regular Benchmark Runs:\n"
        "============================== Run Order ==============================\n"
        + "\n".join(lines)
        + "\n"
    )
    return path, times


def test_collate_maps_a_run_order_to_every_split(chain_tflite: Path, tmp_path: Path) -> None:
    profile, per_op = _measured_run_order(chain_tflite, tmp_path)
    listed = _run("collate", "--profile", str(profile))
    assert listed.returncode == 0, listed.stderr
    assert len(listed.stdout.strip().splitlines()) == 1 + len(per_op)
    out = tmp_path / "collated"
    done = _run(
        "collate",
        "--client",
        str(profile),
        "--server",
        str(profile),
        "--model",
        str(chain_tflite),
        "--out",
        str(out),
    )
    assert done.returncode == 0, done.stderr
    rows = _rows(out / "splits.csv")
    n = len(per_op)
    assert len(rows) == n + 1
    for k, row in enumerate(rows):
        assert float(row["client_ms"]) == pytest.approx(sum(per_op[:k]), rel=1e-6)
        assert float(row["server_ms"]) == pytest.approx(sum(per_op[k:]), rel=1e-6)
        assert row["method"].startswith("predicted")
    assert int(rows[1]["head_model_bytes"]) > 0 and int(rows[-1]["tail_model_bytes"]) == 0
    assert (out / "splits.xlsx").is_file()


def test_emulator_start_reports_a_taken_port(emulator: int) -> None:
    started = time.monotonic()
    done = _run("emulator", "start", "--port", str(emulator), "--serial", "x", timeout=60)
    assert done.returncode != 0
    assert "Traceback" not in done.stderr and done.stderr.strip()
    assert time.monotonic() - started < 60
