"""The emulated phone driven by Debian's real ``adb`` CLI (package ``adb``), ``adb -P PORT``."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from emulator_helpers import wait_until
from splitbench.emulator import DEFAULT_SERIAL as SERIAL
from splitbench.emulator import AdbEmulator, EmulatedDeviceSpec

# the lead registers this plugin in tests/conftest.py; naming it here too keeps the file
# runnable on its own (pytest loads a plugin once)

pytestmark = pytest.mark.skipif(
    shutil.which("adb") is None, reason="Debian's adb CLI is not installed (apt-get install adb)"
)


def adb(
    emu_port: int,
    *args: str,
    input: bytes | None = None,
    timeout: float = 20,
    home: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("ANDROID_SERIAL", "ANDROID_ADB_SERVER_PORT")
    }
    if home is not None:
        env["HOME"] = str(home)  # adb may create ~/.android; keep it out of the real home
    return subprocess.run(
        ["adb", "-P", str(emu_port), *args],
        input=input.decode() if input else None,
        stdin=None if input else subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )


def test_devices_state_and_shell(adb_emulator: AdbEmulator, tmp_path: Path) -> None:
    port = adb_emulator.port
    out = adb(port, "devices", "-l", home=tmp_path).stdout
    assert re.search(
        rf"^{SERIAL} +device product:sbemu model:splitbench_emulated_phone "
        r"device:sbemu transport_id:\d+$",
        out,
        re.MULTILINE,
    )
    assert adb(port, "-s", SERIAL, "get-state", home=tmp_path).stdout.strip() == "device"
    r = adb(port, "-s", SERIAL, "shell", "echo out; echo err >&2; exit 7", home=tmp_path)
    assert (r.returncode, r.stdout, r.stderr) == (7, "out\n", "err\n")
    r = adb(port, "-s", SERIAL, "shell", "tr a-z A-Z", input=b"piped stdin\n", home=tmp_path)
    assert r.stdout == "PIPED STDIN\n"
    r = adb(port, "-s", SERIAL, "shell", "getprop", "ro.product.cpu.abi", home=tmp_path)
    assert r.stdout.strip() in ("x86_64", "arm64-v8a", "armeabi-v7a", "x86")


def test_push_pull_ls(adb_emulator: AdbEmulator, tmp_path: Path) -> None:
    port = adb_emulator.port
    src = tmp_path / "part_head.tflite"
    src.write_bytes(os.urandom(300_000))
    adb(port, "-s", SERIAL, "shell", "mkdir -p /data/local/tmp/splitbench", home=tmp_path)
    r = adb(port, "-s", SERIAL, "push", str(src), "/data/local/tmp/splitbench", home=tmp_path)
    assert r.returncode == 0, r.stderr
    remote = "/data/local/tmp/splitbench/part_head.tflite"
    r = adb(port, "-s", SERIAL, "shell", f"wc -c < {remote}", home=tmp_path)
    assert r.stdout.strip() == "300000"
    back = tmp_path / "back.tflite"
    assert adb(port, "-s", SERIAL, "pull", remote, str(back), home=tmp_path).returncode == 0
    assert back.read_bytes() == src.read_bytes()
    pulled = tmp_path / "dir"
    r = adb(port, "-s", SERIAL, "pull", "/data/local/tmp/splitbench", str(pulled), home=tmp_path)
    assert r.returncode == 0, r.stderr
    assert (pulled / "part_head.tflite").read_bytes() == src.read_bytes()
    listing = adb(port, "-s", SERIAL, "ls", "/data/local/tmp/splitbench", home=tmp_path).stdout
    assert "part_head.tflite" in listing
    # a push to "missing-dir/" fails on a phone (adbd cannot create a file named "dir/")
    r = adb(port, "-s", SERIAL, "push", str(src), "/data/local/tmp/new/", home=tmp_path)
    assert r.returncode != 0 and "Is a directory" in r.stdout + r.stderr


def test_cli_faults(tmp_path: Path) -> None:
    specs = [
        EmulatedDeviceSpec("sbemu-full", storage_bytes=256 * 1024),
        EmulatedDeviceSpec("sbemu-unauth", state="unauthorized"),
        EmulatedDeviceSpec("sbemu-off", state="offline"),
        EmulatedDeviceSpec("sbemu-crash", crash_pattern="benchmark_model"),
        EmulatedDeviceSpec("sbemu-once", fail_after=1),
    ]
    with AdbEmulator(devices=specs, root=tmp_path / "emu") as emu:
        port = emu.port
        big = tmp_path / "big.bin"
        big.write_bytes(os.urandom(512 * 1024))
        r = adb(
            port, "-s", "sbemu-full", "push", str(big), "/data/local/tmp/big.bin", home=tmp_path
        )
        assert r.returncode != 0
        assert "remote write failed: No space left on device" in r.stdout + r.stderr

        r = adb(port, "-s", "sbemu-unauth", "shell", "echo x", home=tmp_path)
        assert r.returncode != 0 and "device unauthorized." in r.stderr
        r = adb(port, "-s", "sbemu-off", "shell", "echo x", home=tmp_path)
        assert r.returncode != 0 and "device offline" in r.stderr

        r = adb(
            port, "-s", "sbemu-crash", "shell", "echo hi; benchmark_model --graph=g", home=tmp_path
        )
        assert (r.returncode, r.stdout) == (139, "hi\n")

        assert adb(port, "-s", "sbemu-once", "shell", "echo 1", home=tmp_path).returncode == 0
        r = adb(port, "-s", "sbemu-once", "shell", "echo 2", home=tmp_path)
        assert r.returncode != 0
        assert "sbemu-once" not in adb(port, "devices", home=tmp_path).stdout


def test_hang_killed_when_adb_is_killed(adb_emulator: AdbEmulator, tmp_path: Path) -> None:
    device = adb_emulator.device(SERIAL)
    device.hang_on("benchmark_model")
    with pytest.raises(subprocess.TimeoutExpired):  # subprocess kills adb on timeout
        adb(adb_emulator.port, "-s", SERIAL, "shell", "benchmark_model", timeout=1.5, home=tmp_path)
    assert wait_until(lambda: device.running_pids() == [])


def test_run_emulator_foreground(tmp_path: Path) -> None:
    code = (
        "from pathlib import Path; from splitbench.emulator import run_emulator; "
        f"run_emulator(0, ['sbemu-cli-a', 'sbemu-cli-b'], root=Path({str(tmp_path)!r}))"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        banner = proc.stdout.readline()
        port = int(re.search(r"127\.0\.0\.1:(\d+)", banner).group(1))
        out = adb(port, "devices", home=tmp_path).stdout
        assert "sbemu-cli-a\tdevice" in out and "sbemu-cli-b\tdevice" in out
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
