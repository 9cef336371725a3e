"""The emulated phone driven by the real adbutils client over a real socket."""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

import adbutils
import pytest
from emulator_helpers import client, gone, wait_until
from splitbench.emulator import DEFAULT_SERIAL as SERIAL
from splitbench.emulator import AdbEmulator, EmulatedDeviceSpec, host_abi

# the lead registers this plugin in tests/conftest.py; naming it here too keeps the file
# runnable on its own (pytest loads a plugin once)


def test_host_services(adb_emulator: AdbEmulator) -> None:
    c = client(adb_emulator)
    assert c.server_version() == 41
    assert [(d.serial, d.state) for d in c.list()] == [(SERIAL, "device")]
    (info,) = c.list(extended=True)
    assert info.tags["model"] == "splitbench_emulated_phone"
    assert info.tags["product"] == "sbemu"
    assert info.tags["transport_id"] == str(adb_emulator.device(SERIAL).transport_id)
    d = c.device(SERIAL)
    assert d.get_state() == "device"
    assert d.get_serialno() == SERIAL
    assert set(d.get_features().split(",")) == {"shell_v2", "stat_v2", "ls_v2", "fixed_push_mkdir"}


def test_shell_v1_and_v2(adb_emulator: AdbEmulator) -> None:
    d = client(adb_emulator).device(SERIAL)
    assert d.shell("echo hello; echo oops >&2") == "hello\noops"  # v1 merges stderr
    assert d.shell2("(exit 5)").returncode == 5  # v1, with adbutils' "echo $?" trick
    r = d.shell2("echo out; echo err >&2; exit 3", v2=True)
    assert (r.returncode, r.stdout, r.stderr) == (3, "out\n", "err\n")
    # the shell really is dash (POSIX sh) and runs on this host
    assert d.shell("readlink -f /bin/sh") in ("/usr/bin/dash", "/bin/dash")
    big = d.shell2("head -c 300000 /dev/zero | tr '\\0' a", v2=True, encoding=None)
    assert big.stdout == b"a" * 300000


def test_push_pull_and_shell_see_the_same_paths(adb_emulator: AdbEmulator, tmp_path: Path) -> None:
    d = client(adb_emulator).device(SERIAL)
    payload = os.urandom(200_000)
    src = tmp_path / "model.tflite"
    src.write_bytes(payload)
    assert d.sync.push(src, "/data/local/tmp/splitbench/parts/model.tflite") == len(payload)
    assert d.shell("wc -c < /data/local/tmp/splitbench/parts/model.tflite") == "200000"
    st = d.sync.stat("/data/local/tmp/splitbench/parts/model.tflite")
    assert st.size == len(payload) and stat.S_ISREG(st.mode)
    assert not d.sync.exists("/data/local/tmp/nothing-here")
    # pushing to a directory appends the file name, as adbutils expects
    d.sync.push(src, "/data/local/tmp/splitbench")
    names = {f.path for f in d.sync.list("/data/local/tmp/splitbench")}
    assert {"parts", "model.tflite"} <= names
    # a file written by a shell command is pulled back byte for byte
    d.shell("printf 'a,b\\n1,2\\n' > /data/local/tmp/splitbench/out.csv")
    assert d.sync.read_text("/data/local/tmp/splitbench/out.csv") == "a,b\n1,2\n"
    dst = tmp_path / "back.tflite"
    d.sync.pull("/data/local/tmp/splitbench/parts/model.tflite", dst)
    assert dst.read_bytes() == payload
    # /sdcard is /data/media/0, as on a phone
    d.sync.push(b"x", "/sdcard/note.txt")
    assert d.shell("cat /data/media/0/note.txt") == "x"
    # nothing of this reached the host's own root
    assert not Path("/data/local/tmp/splitbench").exists()


def test_profile_says_it_is_emulated(adb_emulator: AdbEmulator) -> None:
    d = client(adb_emulator).device(SERIAL)
    assert d.prop.model == "splitbench emulated phone"
    assert d.getprop("ro.product.manufacturer") == "splitbench-emulator"
    assert d.getprop("ro.hardware") == "emulated"
    assert d.getprop("ro.product.cpu.abi") == host_abi()
    assert d.getprop("ro.splitbench.emulated") == "1"
    assert d.getprop("ro.serialno") == SERIAL
    assert d.getprop("no.such.key") == ""
    listing = d.shell("getprop")
    assert "[ro.build.version.sdk]: [34]" in listing.splitlines()
    assert "level: 80" in d.shell("dumpsys battery")
    assert d.shell("settings get global low_power") == "0"
    assert d.shell("cat /sys/class/thermal/thermal_zone0/temp") == "35000"
    cores = int(d.shell("cat /sys/devices/system/cpu/possible").split("-")[-1]) + 1
    assert cores == os.cpu_count()
    adb_emulator.device(SERIAL).update_profile(cpu_temp_c=48.5, charging=True, battery_saver=True)
    assert d.shell("settings get global low_power") == "1"
    assert d.shell("cat /sys/class/thermal/thermal_zone0/temp") == "48500"
    assert "status: 2" in d.shell("dumpsys battery")


def test_remote_process_group_killed_when_client_leaves(adb_emulator: AdbEmulator) -> None:
    d = client(adb_emulator).device(SERIAL)
    conn = d.shell("sleep 30 & sleep 31; echo never", stream=True)
    device = adb_emulator.device(SERIAL)
    assert wait_until(lambda: bool(device.running_pids()))
    (pid,) = device.running_pids()
    assert wait_until(lambda: len(_group(pid)) == 3)  # sh + two sleeps
    members = _group(pid)
    conn.close()
    assert wait_until(lambda: not any(not gone(p) for p in members))
    assert device.running_pids() == []


def _group(pgid: int) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[-1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            pids.append(int(entry.name))
    return pids


def test_several_devices_have_separate_sandboxes(tmp_path: Path) -> None:
    specs = [EmulatedDeviceSpec("sbemu-a"), EmulatedDeviceSpec("sbemu-b")]
    with AdbEmulator(devices=specs, root=tmp_path) as emu:
        c = client(emu)
        assert sorted(d.serial for d in c.device_list()) == ["sbemu-a", "sbemu-b"]
        a, b = c.device("sbemu-a"), c.device("sbemu-b")
        a.sync.push(b"only on a", "/data/local/tmp/f")
        assert a.shell("cat /data/local/tmp/f") == "only on a"
        assert b.shell2("cat /data/local/tmp/f", v2=True).returncode == 1
        assert b.getprop("ro.serialno") == "sbemu-b"
        with (
            pytest.raises(adbutils.AdbError, match="more than one device/emulator"),
            c.make_connection() as conn,
        ):
            conn.send_command("host:transport-any")
            conn.check_okay()


def test_stop_leaves_no_threads_or_processes(tmp_path: Path) -> None:
    emu = AdbEmulator(root=tmp_path).start()
    d = client(emu).device(SERIAL)
    d.shell("echo warm")
    conn = d.shell("sleep 60", stream=True)
    device = emu.device(SERIAL)
    assert wait_until(lambda: bool(device.running_pids()))
    pids = device.running_pids()
    holder = device.sandbox.holder_pid
    emu.stop()
    conn.close()
    assert not any(not gone(p) for p in [*pids, holder])
    assert wait_until(lambda: not [t for t in threading.enumerate() if t.name.startswith("sbemu-")])
