"""Every fault of the emulated phone, seen through the real adbutils client."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import adbutils
import pytest
from emulator_helpers import client, gone, wait_until
from splitbench.emulator import DEFAULT_SERIAL as SERIAL
from splitbench.emulator import AdbEmulator, EmulatedDeviceSpec

# the lead registers this plugin in tests/conftest.py; naming it here too keeps the file
# runnable on its own (pytest loads a plugin once)

MiB = 1024 * 1024


def test_disconnect_after_n_commands(tmp_path: Path) -> None:
    spec = EmulatedDeviceSpec(SERIAL, fail_after=3)
    with AdbEmulator(devices=[spec], root=tmp_path) as emu:
        c = client(emu)
        d = c.device(SERIAL)
        for n in range(3):
            assert d.shell(f"echo {n}") == str(n)
        assert emu.device(SERIAL).commands == 3
        with pytest.raises(adbutils.AdbError):
            d.shell("echo 3")  # the 4th command: the cable is pulled
        assert c.list() == []
        with pytest.raises(adbutils.AdbError, match=f"device '{SERIAL}' not found"):
            d.shell("echo 4")
        emu.device(SERIAL).replug()
        assert d.shell("echo back") == "back"


def test_unplug_closes_open_connections_and_kills_commands(adb_emulator: AdbEmulator) -> None:
    d = client(adb_emulator).device(SERIAL)
    device = adb_emulator.device(SERIAL)
    conn = d.shell("echo started; sleep 30", stream=True)
    assert wait_until(lambda: bool(device.running_pids()))
    (pid,) = device.running_pids()
    conn.conn.settimeout(5)
    assert conn.read_exact(8) == b"started\n"
    device.unplug()
    assert conn.read_until_close() == ""  # the stream ends, as when the cable is pulled
    conn.close()
    assert wait_until(lambda: gone(pid))
    assert client(adb_emulator).list() == []


def test_full_storage_on_push_and_shell(tmp_path: Path) -> None:
    spec = EmulatedDeviceSpec(SERIAL, storage_bytes=MiB)
    with AdbEmulator(devices=[spec], root=tmp_path) as emu:
        d = client(emu).device(SERIAL)
        df = d.shell("df -B1 /data").splitlines()[-1].split()
        assert int(df[1]) == MiB
        assert d.sync.push(os.urandom(MiB // 2), "/data/local/tmp/half") == MiB // 2
        with pytest.raises(adbutils.AdbError):
            d.sync.push(os.urandom(MiB), "/data/local/tmp/too-big")
        assert not d.sync.exists("/data/local/tmp/too-big")  # no partial file left behind
        r = d.shell2("head -c 2000000 /dev/zero > /data/local/tmp/dd", v2=True)
        assert r.returncode != 0 and "No space left on device" in r.stderr
        # the raw sync reply carries the real phone's message
        assert "write failed: No space left on device" in _raw_push_failure(emu.port, MiB)


def test_full_storage_at_run_time_and_lifted(adb_emulator: AdbEmulator) -> None:
    d = client(adb_emulator).device(SERIAL)
    device = adb_emulator.device(SERIAL)
    d.sync.push(b"before", "/data/local/tmp/a")
    device.fill_storage()
    used, total = device.storage()
    assert used == total
    with pytest.raises(adbutils.AdbError):
        d.sync.push(os.urandom(64 * 1024), "/data/local/tmp/b")
    assert d.sync.read_text("/data/local/tmp/a") == "before"  # nothing lost
    device.clear_faults()
    assert d.sync.push(os.urandom(64 * 1024), "/data/local/tmp/b") == 64 * 1024


def _raw_push_failure(port: int, size: int) -> str:
    """Push by hand to read the FAIL message adbutils does not show."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:

        def request(text: str) -> None:
            data = text.encode()
            s.sendall(f"{len(data):04x}".encode() + data)
            assert s.recv(4) == b"OKAY"

        request(f"host:transport:{SERIAL}")
        request("sync:")
        path = b"/data/local/tmp/raw,33188"
        s.sendall(b"SEND" + len(path).to_bytes(4, "little") + path)
        chunk = os.urandom(64 * 1024)
        for _ in range(size // len(chunk)):
            s.sendall(b"DATA" + len(chunk).to_bytes(4, "little") + chunk)
        s.sendall(b"DONE" + (0).to_bytes(4, "little"))
        reply = b""
        while chunk := s.recv(4096):
            reply += chunk
        assert reply[:4] == b"FAIL"
        return reply[8:].decode()


def test_crash_gives_exit_139_once(adb_emulator: AdbEmulator) -> None:
    d = client(adb_emulator).device(SERIAL)
    adb_emulator.device(SERIAL).crash_on(r"benchmark_model", times=1)
    r = d.shell2("echo loading; /data/local/tmp/benchmark_model --graph=x", v2=True)
    assert r.returncode == 139
    assert r.stdout.startswith("loading")  # the command ran before the crash
    assert d.shell2("echo benchmark_model ok", v2=True).returncode == 0  # one shot


def test_hang_is_killed_when_the_client_times_out(adb_emulator: AdbEmulator) -> None:
    d = client(adb_emulator).device(SERIAL)
    device = adb_emulator.device(SERIAL)
    device.hang_on(r"benchmark_model", times=None)
    with pytest.raises(adbutils.AdbTimeout):
        d.shell("/data/local/tmp/benchmark_model --graph=x", timeout=1)
    # adbutils closed the connection: the hung process must be gone on the "phone"
    assert wait_until(lambda: device.running_pids() == [])
    conn = d.shell("benchmark_model again", stream=True)
    assert wait_until(lambda: bool(device.running_pids()))
    (pid,) = device.running_pids()
    assert not gone(pid)
    conn.close()
    assert wait_until(lambda: gone(pid))
    assert d.shell("echo other commands still run") == "other commands still run"


def test_unauthorized(tmp_path: Path) -> None:
    spec = EmulatedDeviceSpec(SERIAL, state="unauthorized")
    with AdbEmulator(devices=[spec], root=tmp_path) as emu:
        c = client(emu)
        assert [(i.serial, i.state) for i in c.list()] == [(SERIAL, "unauthorized")]
        d = c.device(SERIAL)
        with pytest.raises(adbutils.AdbError, match=r"device unauthorized\.\nThis adb server"):
            d.shell("echo x")
        emu.device(SERIAL).set_state("device")  # the user accepted the dialog
        assert d.shell("echo x") == "x"


def test_offline(adb_emulator: AdbEmulator) -> None:
    c = client(adb_emulator)
    adb_emulator.device(SERIAL).set_state("offline")
    assert [(i.serial, i.state) for i in c.list()] == [(SERIAL, "offline")]
    d = c.device(SERIAL)
    assert d.get_state() == "offline"
    with pytest.raises(adbutils.AdbError, match="device offline"):
        d.shell("echo x")
    with pytest.raises(adbutils.AdbError, match="device offline"):
        d.sync.push(b"x", "/data/local/tmp/x")
