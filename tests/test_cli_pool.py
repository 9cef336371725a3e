"""A phone pool from the command line: two adb servers (`splitbench emulator start`, real
processes on two loopback ports) reached with `--adb-server`, with `SPLITBENCH_ADB_SERVERS`
and with Debian's `adb -H 127.0.0.1 -P PORT`; a whole sweep over both, one server killed in the
middle of it, and the resume; `splitbench clean`; serials with shell characters."""

from __future__ import annotations

import csv
import json
import shutil
import signal
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cli_helpers import SPLITBENCH, cli_env, run_cli
from splitbench.emulator import AdbEmulator
from splitbench.targets.adb import AdbTarget

FAST = ("--runs", "2", "--min-secs", "0", "--warmup", "0", "--warmup-secs", "0", "--rounds", "1")


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    """`splitbench emulator start` in its own process: a real adb server on loopback."""

    port: int
    serials: tuple[str, ...]
    root: Path
    proc: subprocess.Popen[str] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> Server:
        args = [str(SPLITBENCH), "emulator", "start", "--port", str(self.port)]
        for serial in self.serials:
            args += ["--serial", serial]
        self.proc = subprocess.Popen(
            [*args, "--root", str(self.root)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=cli_env(),
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()  # printed once it listens
        assert self.address in line, line + (self.proc.stderr.read() if self.proc.poll() else "")
        return self

    def kill(self) -> None:
        """The machine goes off: no clean shutdown."""
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=30)


@pytest.fixture
def pool(tmp_path: Path) -> Iterator[tuple[Server, Server]]:
    """Server A holds emu-x; server B holds emu-b and another emu-x (two lab machines whose
    phones share a serial, as Android emulators all do)."""
    a = Server(_free_port(), ("emu-x",), tmp_path / "a").start()
    b = Server(_free_port(), ("emu-b", "emu-x"), tmp_path / "b")
    try:
        b.start()
        yield a, b
    finally:
        a.stop()
        b.stop()


def _adb(*args: str) -> subprocess.CompletedProcess[str]:
    if shutil.which("adb") is None:
        pytest.skip("Debian's adb is not installed (install.sh installs it)")
    return subprocess.run(["adb", *args], capture_output=True, text=True, timeout=60)


def _counts(db: Path) -> dict[str, int]:
    with sqlite3.connect(db) as con:
        return dict(con.execute("SELECT target, count(*) FROM measurements GROUP BY target"))


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def test_devices_lists_every_server_and_one_line_for_a_lost_one(
    pool: tuple[Server, Server],
) -> None:
    a, b = pool
    # Debian's adb reaches each server by host and port, as it would a remote one
    assert "emu-x\tdevice" in _adb("-H", "127.0.0.1", "-P", str(a.port), "devices").stdout
    listed = _adb("-H", "127.0.0.1", "-P", str(b.port), "devices").stdout
    assert "emu-b\tdevice" in listed and "emu-x\tdevice" in listed
    done = run_cli("devices", "--adb-server", a.address, "--adb-server", b.address).ok()
    for title in (f"adb:{a.address}/emu-x", f"adb:{b.address}/emu-x", f"adb:emu-b on {b.address}"):
        assert title in done.stdout
    # the same from the environment variable
    env = {**cli_env(), "SPLITBENCH_ADB_SERVERS": f"{a.address},{b.address}"}
    viaenv = subprocess.run(
        [str(SPLITBENCH), "devices"], capture_output=True, text=True, env=env, timeout=300
    )
    assert viaenv.returncode == 0 and f"adb:emu-b on {b.address}" in viaenv.stdout
    b.kill()
    done = run_cli("devices", "--adb-server", a.address, "--adb-server", b.address).ok()
    assert f"adb:emu-x on {a.address}" in done.stdout  # unique again: the short name
    assert done.stderr_lines == [
        f"unreachable: adb server {b.address} does not answer (is the machine on, `adb -a "
        'nodaemon server` running there, and the SSH tunnel up? see docs/phones.md, "Phone pool")'
    ]
    a.kill()
    done = run_cli("devices", "--adb-server", a.address, "--adb-server", b.address)
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert len(done.stderr_lines) == 1
    assert done.stderr_lines[0].startswith("splitbench: error: no adb server answered: ")


def test_sweep_over_two_servers_one_killed_mid_sweep_then_resumed(
    pool: tuple[Server, Server], chain_tflite: Path, tmp_path: Path
) -> None:
    a, b = pool
    out = tmp_path / "run"
    servers = ("--adb-server", a.address, "--adb-server", b.address)
    # a short name on two servers is refused before any work, naming both
    done = run_cli("sweep", chain_tflite, "--out", out, "--client", "adb:emu-x", *servers, *FAST)
    assert done.returncode != 0 and len(done.stderr_lines) == 1
    assert done.stderr_lines[0] == (
        f"splitbench: error: phone emu-x is on 2 adb servers: name one, adb:{a.address}/emu-x "
        f"and adb:{b.address}/emu-x"
    )
    command = [str(SPLITBENCH), "sweep", str(chain_tflite), "--out", str(out)]
    command += ["--clients", "all", *servers, *FAST]
    sweep = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=cli_env()
    )
    on_b = {"adb:emu-b", f"adb:{b.address}/emu-x"}
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and sweep.poll() is None:
        try:
            if (out / "results.sqlite").exists() and sum(
                n for t, n in _counts(out / "results.sqlite").items() if t in on_b
            ) >= 2:
                break
        except sqlite3.OperationalError:
            pass  # the database is being created

        time.sleep(0.2)
    assert sweep.poll() is None, "the sweep ended before the server could be killed"
    b.kill()  # machine B goes away in the middle of the sweep
    _stdout, stderr = sweep.communicate(timeout=600)
    assert sweep.returncode == 3, stderr
    assert "Traceback" not in stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    stopped = [line for line in lines if line.startswith("stopped: ")]
    assert sorted(line.split(": ", 2)[1] for line in stopped) == sorted(on_b)
    for line in stopped:
        assert f"adb server {b.address} stopped answering during the sweep" in line
    assert lines[-1].startswith("splitbench: error: 2 phones did not finish: ")
    assert lines[-1].endswith("— finished measurements are saved; rerun the same command to resume")
    assert all(name in lines[-1] for name in on_b) and f"{a.address}/emu-x" not in lines[-1]
    # the phone on server A finished: its table is complete
    a_rows = _rows(out / f"splits_adb_127.0.0.1_{a.port}_emu-x.csv")
    assert all(r["client_ms"] for r in a_rows[1:]) and len(a_rows) == 5
    first = _counts(out / "results.sqlite")
    assert first[f"adb:{a.address}/emu-x"] == 5  # the whole model and four heads
    assert all(first.get(name, 0) < 5 for name in on_b)
    # machine B is back (same port, same phones): the same command resumes what is missing
    b.start()
    done = run_cli(*command[1:]).ok()
    again = _counts(out / "results.sqlite")
    assert again == {**first, **dict.fromkeys(on_b, 5)}  # nothing measured twice
    assert f"adb:{a.address}/emu-x: 0 bytes pushed" in done.stdout  # its parts are cached
    for name in on_b:
        assert f"{name}: " in done.stdout and " bytes pushed" in done.stdout
    for name in (f"adb_127.0.0.1_{b.port}_emu-x", "adb_emu-b"):
        rows = _rows(out / f"splits_{name}.csv")
        assert all(r["client_ms"] for r in rows[1:])
        assert (out / "evidence" / name).is_dir()
    # every measurement says which server and which phone it came from
    with sqlite3.connect(out / "results.sqlite") as con:
        seen = {
            (t, json.loads(c).get("adb_server"), json.loads(c).get("serial"))
            for t, c in con.execute("SELECT target, conditions_json FROM measurements")
            if t != "host"
        }
        servers_of = dict(con.execute("SELECT name, extra_json FROM targets").fetchall())
    assert seen == {
        (f"adb:{a.address}/emu-x", a.address, "emu-x"),
        (f"adb:{b.address}/emu-x", b.address, "emu-x"),
        ("adb:emu-b", b.address, "emu-b"),
    }
    assert json.loads(servers_of["adb:emu-b"])["adb_server"] == b.address


def test_device_cache_bound_reaches_the_phones(
    pool: tuple[Server, Server], chain_tflite: Path, tmp_path: Path
) -> None:
    a, _b = pool
    done = run_cli(
        "sweep",
        chain_tflite,
        "--out",
        tmp_path / "tiny",
        "--client",
        "adb",
        "--adb-server",
        a.address,
        "--device-cache-mb",
        "0.001",
        *FAST,
    )
    assert done.returncode == 3 and "Traceback" not in done.stderr
    assert any(
        "is larger than the phone cache bound --device-cache-mb 0.001" in line
        for line in done.stderr_lines
    ), done.describe()
    assert done.stderr_lines[-1].startswith("splitbench: error: 1 phone did not finish: adb:emu-x")


def test_clean_removes_only_the_kits_folders(tmp_path: Path, chain_tflite: Path) -> None:
    with AdbEmulator(port=0, devices=["emu-a"], root=tmp_path / "emu") as emu:
        t = AdbTarget("emu-a", adb_port=emu.port, run_dir=tmp_path / "run")
        t.upload_part(chain_tflite)
        shell = t.phone.check_shell
        shell("mkdir -p /data/local/tmp/mine && echo keep > /data/local/tmp/mine/photo.jpg", "x")
        # a link inside the kit's folders that points outside: removed, its target kept
        shell("ln -s /data/local/tmp/mine /data/local/tmp/splitbench/parts/link", "x")
        shell("echo note > /data/local/tmp/splitbench/README.user", "x")
        port = str(emu.port)
        done = run_cli("clean", "adb:emu-a", "--adb-port", port).ok()
        assert done.stdout.strip().startswith(
            "adb:emu-a: removed 2 entries (0.0 MB) from /data/local/tmp/splitbench; "
            "the directory itself kept"
        )
        assert shell("ls /data/local/tmp/splitbench", "x").split() == ["README.user"]
        assert shell("cat /data/local/tmp/mine/photo.jpg", "x").strip() == "keep"
        shell("rm /data/local/tmp/splitbench/README.user", "x")
        done = run_cli("clean", "adb:emu-a", "--adb-port", port).ok()
        assert done.stdout.strip().endswith("the directory itself removed")
        assert shell("ls /data/local/tmp", "x").split() == ["mine"]
        for bad in ("/data/local/tmp", "/"):
            done = run_cli("clean", "adb:emu-a", "--adb-port", port, "--device-dir", bad)
            assert done.returncode != 0 and len(done.stderr_lines) == 1
            assert "must be an absolute path of its own" in done.stderr_lines[0]
        assert shell("cat /data/local/tmp/mine/photo.jpg", "x").strip() == "keep"


def test_serials_with_shell_characters_are_one_line(tmp_path: Path, chain_tflite: Path) -> None:
    marker = tmp_path / "x"
    done = run_cli("emulator", "start", "--port", "0", "--serial", f"emu;touch {marker}")
    assert done.returncode != 0 and done.stderr_lines == [
        f"splitbench: error: serial 'emu;touch {marker}' cannot be an adb serial: no spaces, "
        "'/' or control characters"
    ]
    with AdbEmulator(port=0, devices=["emu-a"], root=tmp_path / "emu") as emu:
        for command in (
            ("sweep", chain_tflite, "--out", tmp_path / "o", "--client", f"adb:emu;touch {marker}"),
            ("clean", f"adb:emu;touch {marker}"),
        ):
            done = run_cli(*command, "--adb-port", str(emu.port))
            assert done.returncode == 3 and done.stderr_lines == [
                f"splitbench: error: no phone 'emu;touch {marker}' is connected "
                "(adb sees: emu-a (device))"
            ], done.describe()
    assert not marker.exists()
