"""An emulated phone sees and reaches only itself: not this host's processes, not another
phone's. Tried from inside two phones through adb, checked on the host through its /proc.

Runs as root here and in CI, where each phone has a range of host ids of its own; the
single-id sandbox of an unprivileged user is checked in test_emulator_sandbox.py.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import adbutils
import psutil
import pytest
from emulator_helpers import client, gone, wait_until
from splitbench.emulator import DEFAULT_SERIAL, AdbEmulator, EmulatedDeviceSpec
from splitbench.emulator.device import EmulatedDevice
from splitbench.emulator.sandbox import DEVICE_ENV, Sandbox, ids_of_their_own

pytestmark = pytest.mark.skipif(
    not ids_of_their_own(), reason="ranges of host ids for the phones need root on this host"
)

#: An argument no other process on this host has: B's long-running process is found by it.
MARK = "86391"


def _start_sleeper(d: adbutils.AdbDevice) -> int:
    """A process on the phone that outlives the shell session; its pid on the phone."""
    out = d.shell(f"setsid sleep {MARK} >/dev/null 2>&1 </dev/null & echo $!")
    return int(out)


def _uid_range(device: EmulatedDevice) -> range:
    """Host uids the phone's holder maps (read from the host's /proc)."""
    lines = Path(f"/proc/{device.sandbox.holder_pid}/uid_map").read_text().splitlines()
    (line,) = lines
    _inside, outside, count = (int(x) for x in line.split())
    return range(outside, outside + count)


def _host_uid(pid: int) -> int:
    return psutil.Process(pid).uids().real


def test_two_phones_see_and_signal_only_themselves(tmp_path: Path) -> None:
    specs = [EmulatedDeviceSpec("sbemu-a"), EmulatedDeviceSpec("sbemu-b")]
    with AdbEmulator(devices=specs, root=tmp_path / "emu") as emu:
        a, b = client(emu).device("sbemu-a"), client(emu).device("sbemu-b")
        in_b = _start_sleeper(b)
        host_b = emu.device("sbemu-b").sandbox.host_pid(in_b)
        assert host_b is not None and host_b != in_b
        assert MARK in " ".join(psutil.Process(host_b).cmdline())
        assert str(in_b) in b.shell("ls /proc").split()  # B sees its own process

        # A lists its own processes only: none of B's, none of this host's
        listed = [int(p) for p in a.shell("ls /proc").split() if p.isdigit()]
        assert 1 in listed and len(listed) < 10, listed
        mine = [emu.device("sbemu-a").sandbox.host_pid(p) for p in listed]
        assert host_b not in mine and os.getpid() not in mine
        table = a.shell("ps -ef")
        assert "UID" in table and f"sleep {MARK}" not in table
        assert "pytest" not in table and len(table.splitlines()) <= 1 + len(listed), table
        assert b.shell("ps -ef | grep -c '[p]ytest'") == "0"

        # the phone's PID 1 is its own holder, pulled as adb pull would
        holder_a = emu.device("sbemu-a").sandbox.holder_pid
        pulled = a.sync.read_bytes("/proc/1/cmdline")
        assert pulled == Path(f"/proc/{holder_a}/cmdline").read_bytes()
        assert pulled != Path("/proc/1/cmdline").read_bytes() and b"unshared" in pulled

        # A cannot signal B's process, by its pid on B nor by its pid on the host
        for pid in (in_b, host_b):
            a.shell(f"kill -9 {pid}")
        assert a.shell2(f"kill -0 {host_b}", v2=True).returncode != 0
        assert not gone(host_b)
        # A cannot signal this host's processes either
        assert a.shell2(f"kill -0 {os.getpid()}", v2=True).returncode != 0

        # each phone has its own range of host ids: B's shell user is not A's
        range_a, range_b = _uid_range(emu.device("sbemu-a")), _uid_range(emu.device("sbemu-b"))
        assert not set(range_a) & set(range_b)
        assert _host_uid(host_b) == range_b[2000]
        in_a = _start_sleeper(a)
        host_a = emu.device("sbemu-a").sandbox.host_pid(in_a)
        assert host_a is not None and _host_uid(host_a) == range_a[2000]

        # B's own kill does reach it
        b.shell(f"kill -9 {in_b}")
        assert wait_until(lambda: gone(host_b))
    assert gone(host_a)  # every phone process dies with its phone


def test_concurrent_emulators_hold_distinct_id_ranges(tmp_path: Path) -> None:
    """Another emulator process (the CLI) and this one: no range is given twice, and a stopped
    emulator's range is free again."""
    cli = str(Path(sys.executable).parent / "splitbench")
    other = subprocess.Popen(
        [cli, "emulator", "start", "--port", "0", "--root", str(tmp_path / "other")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert other.stdout is not None
        assert "emulated adb server" in other.stdout.readline()
        maps = []
        for child in psutil.Process(other.pid).children(recursive=True):
            line = Path(f"/proc/{child.pid}/uid_map").read_text().split()
            if line[:2] != ["0", "0"]:
                maps.append(int(line[1]))
        (other_base,) = set(maps)
        with AdbEmulator(devices=["sbemu-c"], root=tmp_path / "emu") as emu:
            ids = emu.device("sbemu-c").sandbox.ids
            assert ids is not None and ids.base != other_base
            mine = ids.base
        with AdbEmulator(devices=["sbemu-d"], root=tmp_path / "emu2") as emu:
            ids = emu.device("sbemu-d").sandbox.ids
            assert ids is not None and ids.base == mine  # released at stop, taken again
    finally:
        other.send_signal(signal.SIGINT)
        other.wait(timeout=30)
    assert other.returncode == 0, other.stderr.read() if other.stderr else ""


def test_the_network_is_not_isolated(adb_emulator: AdbEmulator) -> None:
    """What the README says of the network: a phone reaches this host's loopback, the
    emulator's own adb port included (a host request answered from inside the phone)."""
    d = client(adb_emulator).device(DEFAULT_SERIAL)
    script = (
        f"import socket; s = socket.create_connection(('127.0.0.1', {adb_emulator.port}), 10); "
        "s.sendall(b'000chost:version'); print(s.recv(12).decode())"
    )
    done = d.shell2(f'{sys.executable} -c "{script}"', v2=True)
    assert done.stdout.strip() == "OKAY00040029", done.stderr  # version 0x29 = 41


def test_single_id_phones_cannot_see_or_signal_each_other(tmp_path: Path) -> None:
    """What a user that is not root gets: both phones are that user on the host, and their
    PID namespaces still keep each one's processes out of the other's sight and reach."""
    phones = []
    for name in ("a", "b"):
        for sub in ("system", "sys"):
            (tmp_path / name / sub).mkdir(parents=True)
        phones.append(Sandbox(tmp_path / name, 8 * 1024 * 1024, mapped=False))
    a, b = phones
    sleeper: subprocess.Popen[bytes] | None = None
    try:
        for phone in phones:
            phone.start()
        sleeper = subprocess.Popen(
            b.argv(["sleep", MARK]),
            env=DEVICE_ENV,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        assert wait_until(lambda: b.command_pid(sleeper.pid) is not None)
        host_b = b.command_pid(sleeper.pid)
        assert host_b is not None and _host_uid(host_b) == os.getuid()  # one id for both

        def run_in_a(cmd: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                a.argv(["/bin/sh", "-c", cmd]),
                capture_output=True,
                text=True,
                timeout=60,
                env=DEVICE_ENV,
            )

        assert MARK not in run_in_a("ps -ef").stdout
        in_b = [p for p in run_in_a("ls /proc").stdout.split() if p.isdigit()]
        assert str(host_b) not in in_b and len(in_b) < 10
        assert run_in_a(f"kill -9 {host_b}").returncode != 0
        assert not gone(host_b)
    finally:
        for phone in phones:
            phone.stop()
        if sleeper is not None:
            sleeper.wait(timeout=10)  # it died with its phone


@pytest.mark.skipif(shutil.which("adb") is None, reason="Debian's adb CLI is not installed")
def test_debian_adb_sees_the_phone_not_the_host(adb_emulator: AdbEmulator, tmp_path: Path) -> None:
    """The report's own steps, with Debian's adb: `adb shell ps -ef`, `adb pull /proc/1/cmdline`."""
    env = {**os.environ, "HOME": str(tmp_path)}
    base = ["adb", "-P", str(adb_emulator.port), "-s", DEFAULT_SERIAL]
    ps = subprocess.run(
        [*base, "shell", "ps -ef"], capture_output=True, text=True, timeout=60, env=env
    )
    assert ps.returncode == 0 and "UID" in ps.stdout
    assert "pytest" not in ps.stdout and len(ps.stdout.splitlines()) < 10, ps.stdout
    pulled = tmp_path / "cmdline"
    done = subprocess.run(
        [*base, "pull", "/proc/1/cmdline", str(pulled)], capture_output=True, timeout=60, env=env
    )
    assert done.returncode == 0, done.stderr
    holder = adb_emulator.device(DEFAULT_SERIAL).sandbox.holder_pid
    assert pulled.read_bytes() == Path(f"/proc/{holder}/cmdline").read_bytes()
    assert pulled.read_bytes() != Path("/proc/1/cmdline").read_bytes()
