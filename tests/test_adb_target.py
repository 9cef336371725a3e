"""The adb target against the emulated phone: real adb protocol on loopback, real adbutils
connections, real shell processes in the phone's sandbox, real model files.

No ``benchmark_model`` binary for Android can run here, so the official-binary path is driven
with a host ELF built by the C compiler that crashes on purpose (it stands in for a crashing
``benchmark_model``; nothing it prints is read as a measurement). Every measurement asserted
here comes from the kit's own runner on the emulated phone.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from emulator_helpers import gone, wait_until
from splitbench.emulator import AdbEmulator, EmulatedDeviceSpec, host_abi
from splitbench.emulator.profile import DeviceProfile
from splitbench.errors import DeviceError
from splitbench.measure.types import RunSettings
from splitbench.results.identity import settings_hash
from splitbench.targets.adb import (
    AdbTarget,
    DeviceDir,
    Phone,
    RemoteTimeout,
    resolve_serials,
)
from splitbench.targets.binaries import (
    app_start_command,
    file_sha256,
    read_elf_arch,
)

SERIAL = "emu-target"
FAST = RunSettings(threads=1, warmup_runs=1, warmup_min_secs=0.0, num_runs=5, min_secs=0.05)
DISCONNECTED = (
    f"phone {SERIAL} disconnected during the sweep; finished measurements are saved — rerun the "
    "same command to resume"
)


@pytest.fixture(scope="module")
def emu(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AdbEmulator]:
    """One emulated phone shared by the tests that do not change its state."""
    root = tmp_path_factory.mktemp("emu")
    with AdbEmulator(port=0, devices=[EmulatedDeviceSpec(SERIAL)], root=root) as server:
        yield server


def own_emulator(tmp_path: Path, **spec: object) -> AdbEmulator:
    """A phone of its own, for a test that breaks it."""
    return AdbEmulator(port=0, devices=[EmulatedDeviceSpec(SERIAL, **spec)], root=tmp_path / "emu")


def target(emu: AdbEmulator, tmp_path: Path, **kw: object) -> AdbTarget:
    kw.setdefault("timeout_s", 60)
    return AdbTarget(SERIAL, adb_port=emu.port, run_dir=tmp_path / "run", **kw)


@pytest.fixture(scope="session")
def crash_elf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A native executable for this host's ABI that prints a line and dies of SIGSEGV."""
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.skip("no C compiler to build the crashing stand-in binary")
    src = tmp_path_factory.mktemp("elf") / "crash.c"
    src.write_text(
        "#include <signal.h>\n#include <stdio.h>\n#include <sys/resource.h>\n"
        "int main(int argc, char **argv) {\n"
        "  struct rlimit none = {0, 0}; setrlimit(RLIMIT_CORE, &none);\n"
        '  printf("crashing on purpose with %d flags\\n", argc - 1); fflush(stdout);\n'
        "  raise(SIGSEGV); return 0;\n}\n"
    )
    out = src.with_name("benchmark_model_crash")
    subprocess.run([cc, "-O0", "-o", str(out), str(src)], check=True, capture_output=True)
    return out


def elf_header(machine: int, bits: int) -> bytes:
    """The 20 first bytes of a little-endian ELF executable header (ident, type, machine)."""
    ident = b"\x7fELF" + bytes([1 if bits == 32 else 2, 1, 1]) + bytes(9)
    return ident + (2).to_bytes(2, "little") + machine.to_bytes(2, "little") + bytes(44)


# -- finding the server and the phones -----------------------------------------------------------


def test_adb_port_comes_from_argument_then_environment_then_default() -> None:
    code = "from splitbench.targets.adb import adb_server_port as p;print(p(None), p(7000))"
    env = {k: v for k, v in os.environ.items() if k != "ANDROID_ADB_SERVER_PORT"}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    ).stdout.split()
    assert out == ["5037", "7000"]
    env["ANDROID_ADB_SERVER_PORT"] = "6123"
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    ).stdout.split()
    assert out == ["6123", "7000"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _adb_processes() -> set[int]:
    return {p.pid for p in psutil.process_iter(["name"]) if p.info["name"] == "adb"}


def test_no_server_is_one_line_and_no_server_is_started() -> None:
    port = _free_port()
    before = _adb_processes()
    with pytest.raises(DeviceError, match=f"no adb server answers on 127.0.0.1:{port}") as err:
        resolve_serials(["adb"], port)
    assert "\n" not in str(err.value)
    with pytest.raises(DeviceError, match="no adb server"):
        AdbTarget(SERIAL, adb_port=port, run_dir=Path("unused")).describe()
    assert _adb_processes() - before == set()  # adbutils would have run `adb start-server`
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", port)) != 0


def test_resolve_serials(tmp_path: Path) -> None:
    specs = [
        EmulatedDeviceSpec("emu-a"),
        EmulatedDeviceSpec("emu-b"),
        EmulatedDeviceSpec("emu-c", state="unauthorized"),
        EmulatedDeviceSpec("emu-d", state="offline"),
    ]
    with AdbEmulator(port=0, devices=specs, root=tmp_path / "emu") as emu:
        assert resolve_serials(["adb:emu-b", "adb:emu-a", "adb:emu-b"], emu.port) == [
            "emu-b",
            "emu-a",
        ]
        assert resolve_serials(["all"], emu.port) == ["emu-a", "emu-b"]
        with pytest.raises(
            DeviceError,
            match=r"exactly one connected phone, found 2 .*emu-c "
            r"\(unauthorized\).*emu-d \(offline\)",
        ):
            resolve_serials(["adb"], emu.port)
        with pytest.raises(DeviceError, match="emu-c is unauthorised: accept the USB debugging"):
            resolve_serials(["adb:emu-c"], emu.port)
        with pytest.raises(DeviceError, match="emu-d is offline"):
            resolve_serials(["adb:emu-d"], emu.port)
        with pytest.raises(DeviceError, match="no phone emu-z is connected"):
            resolve_serials(["adb:emu-z"], emu.port)
        emu.device("emu-b").unplug()
        assert resolve_serials(["adb"], emu.port) == ["emu-a"]
        t = AdbTarget(None, adb_port=emu.port, run_dir=tmp_path / "run")
        assert t.serial == "emu-a" and t.name == "adb:emu-a"


# -- facts and uploads -----------------------------------------------------------------------------


def test_describe_reports_the_phone_and_its_runner(emu: AdbEmulator, tmp_path: Path) -> None:
    info = target(emu, tmp_path).describe()
    assert info.name == f"adb:{SERIAL}" and info.kind == "adb"
    assert info.cores == os.cpu_count()
    assert info.extra["abi"] == host_abi()
    assert info.extra["emulated"] == "True"
    assert info.extra["runner"] == "kit"
    assert info.runtime.startswith("splitbench kit runner (")  # known before any push
    assert info.extra["model"] == "splitbench emulated phone"
    assert "warnings" not in info.extra


def test_warnings_for_charging_battery_saver_and_screen(tmp_path: Path, chain_tflite: Path) -> None:
    profile = DeviceProfile(charging=True, screen_on=True, battery_saver=True)
    with own_emulator(tmp_path, profile=profile) as emu:
        t = target(emu, tmp_path)
        info = t.describe()
        assert len(t.warnings) == 3
        assert all(SERIAL in w for w in t.warnings)
        assert "charging" in info.extra["warnings"] and "screen on" in info.extra["warnings"]
        m = t.measure(chain_tflite, FAST)
        assert m.ok and m.meta["before.battery_status"] == "Charging"


def test_uploads_are_named_by_content_and_never_repeated(
    emu: AdbEmulator, tmp_path: Path, chain_tflite: Path
) -> None:
    t = target(emu, tmp_path)
    size = chain_tflite.stat().st_size
    remote, sent = t.upload_part(chain_tflite)
    sha = file_sha256(chain_tflite)
    assert remote == f"/data/local/tmp/splitbench/parts/{sha[:16]}.tflite"
    assert t.phone.stat(remote)[1] == size
    if sent:  # a previous test of this module may have put it there already
        assert sent == size
    again, sent_again = t.upload_part(chain_tflite)
    copy = tmp_path / "same content, other name.tflite"
    copy.write_bytes(chain_tflite.read_bytes())
    third, sent_third = t.upload_part(copy)
    assert again == third == remote
    assert sent_again == 0 and sent_third == 0
    assert t.bytes_pushed == sent


# -- measuring -----------------------------------------------------------------------------------


def test_measure_through_the_kit_runner(
    emu: AdbEmulator, tmp_path: Path, chain_tflite: Path
) -> None:
    t = target(emu, tmp_path)

    def scratch() -> set[str]:
        ls = "ls /data/local/tmp/splitbench/runs 2>/dev/null || true"
        return set(t.phone.check_shell(ls, "listing").split())

    before = scratch()  # other tests' targets share this phone
    m = t.measure(chain_tflite, FAST)
    assert m.ok, m.error
    assert m.method == "benchmark_model"
    assert m.runtime.startswith("splitbench kit runner")
    assert m.settings == FAST
    assert len(m.steady_ms) >= FAST.num_runs and all(v > 0 for v in m.steady_ms)
    assert m.first_ms is not None and m.first_ms > 0
    assert m.init_ms is not None and m.init_ms > 0
    stem = f"{file_sha256(chain_tflite)[:16]}-{settings_hash(FAST)}"
    evidence = {Path(p).name: Path(p) for p in m.evidence}
    assert set(evidence) == {f"{stem}.stdout", f"{stem}.csv", f"{stem}.meta"}
    assert all(
        p.parent.parent == tmp_path / "run" / "evidence" / f"adb_{SERIAL}"
        for p in evidence.values()
    )
    assert "Inference timings in us" in evidence[f"{stem}.stdout"].read_text()
    assert m.meta["op_profile"].startswith("not available: ")  # the kit runner says so
    assert m.meta["runner"] == "kit"
    assert m.meta["before.temp_mC"] == "35000"
    assert m.meta["before.cpu0.governor"] != "unknown"
    assert m.meta["after.battery_level"] == "80"
    assert m.meta["runner_exit_status"] == "0"
    # each batch removes the one before in its own adb call; the last goes on close()
    assert len(scratch() - before) == 1
    t.measure(chain_tflite, FAST)
    assert len(scratch() - before) == 1
    t.close()
    assert scratch() == before


def test_a_batch_runs_in_one_runner_call(
    emu: AdbEmulator, tmp_path: Path, chain_tflite: Path, branchy_tflite: Path
) -> None:
    t = target(emu, tmp_path)
    t.describe()
    t.measure(chain_tflite, FAST)  # prepare (push runner, launcher) outside the count
    device = emu.device(SERIAL)
    before = device.commands
    results = t.measure_batch([chain_tflite, branchy_tflite], FAST)
    assert [m.ok for m in results] == [True, True]
    assert results[0].meta["part_sha256"] == file_sha256(chain_tflite)
    assert results[1].meta["part_sha256"] == file_sha256(branchy_tflite)
    # stat+push branchy, stat chain, push list, one runner call, pull, clean up
    assert device.commands - before <= 8


def test_odd_paths_are_passed_safely(emu: AdbEmulator, tmp_path: Path, chain_tflite: Path) -> None:
    odd_dir = tmp_path / "my models; rm -rf x"
    odd_dir.mkdir()
    part = odd_dir / "head $(touch pwned) 'k';1.tflite"
    part.write_bytes(chain_tflite.read_bytes())
    device_dir = "/data/local/tmp/split bench;touch pwned"
    t = target(emu, tmp_path, device_dir=device_dir)
    m = t.measure(part, FAST)
    assert m.ok, m.error
    assert m.meta["graph"].startswith(device_dir + "/parts/")
    assert t.phone.stat(device_dir + "/parts") is not None
    assert t.phone.stat("/data/local/tmp/split") is None
    listing = t.phone.check_shell("ls . / /data/local/tmp", "listing").splitlines()
    assert "pwned" not in listing  # no command hidden in a name ever ran
    assert not Path("pwned").exists() and not (odd_dir / "pwned").exists()


def test_device_dir_refuses_paths_outside_it() -> None:
    d = DeviceDir("/data/local/tmp/splitbench")
    assert d.path("parts", "a.tflite") == "/data/local/tmp/splitbench/parts/a.tflite"
    assert d.check("/data/local/tmp/splitbench/runs/../parts") == "/data/local/tmp/splitbench/parts"
    for bad in (
        "/data/local/tmp/splitbench/../other",
        "/data/local/tmp/splitbench-evil/x",
        "/data/local/tmp",
        "relative/splitbench",
        "/",
        "/sdcard/DCIM",
    ):
        with pytest.raises(DeviceError, match="outside the kit's directory"):
            d.check(bad)
        with pytest.raises(DeviceError):
            d.remove_command(bad)
    with pytest.raises(DeviceError):
        d.path("..", "..", "etc")
    assert d.remove_command("/data/local/tmp/splitbench/runs/x y") == (
        "rm -rf '/data/local/tmp/splitbench/runs/x y'"
    )
    for root in ("/", "/data/local/tmp", "relative", "/data/local/tmp/../../"):
        with pytest.raises(DeviceError, match="absolute path of its own"):
            DeviceDir(root)


def test_cool_down_waits_for_the_phone(tmp_path: Path, chain_tflite: Path) -> None:
    with own_emulator(tmp_path, profile=DeviceProfile(cpu_temp_c=47.0)) as emu:
        t = target(emu, tmp_path, cooldown_temp_c=40.0, cooldown_max_wait_s=30, affinity_mask="1")
        t.describe()
        timer = threading.Timer(2.5, lambda: emu.device(SERIAL).update_profile(cpu_temp_c=36.0))
        timer.start()
        try:
            m = t.measure(chain_tflite, FAST)
        finally:
            timer.cancel()
        assert m.ok, m.error
        assert 2 <= int(m.meta["cooldown_wait_s"]) <= 10
        assert m.meta["before.temp_mC"] == "36000"
        assert m.meta["affinity"] == ("1" if shutil.which("taskset") else "unavailable")


# -- faults ----------------------------------------------------------------------------------------


def test_hang_is_killed_after_the_timeout(tmp_path: Path, chain_tflite: Path) -> None:
    with own_emulator(tmp_path) as emu:
        # Preparing and the post-hang check use the default timeout: on a loaded machine the
        # runner's own start-up can take longer than the 1 s under test.
        patient = target(emu, tmp_path)
        patient.measure(chain_tflite, FAST)  # prepared and measured once
        t = target(emu, tmp_path, timeout_s=1)
        emu.device(SERIAL).hang_on(r"runner\.sh")
        started = time.monotonic()
        m = t.measure(chain_tflite, FAST)
        elapsed = time.monotonic() - started
        assert m.error is not None and m.error.startswith("timed out after")
        assert "killed" in m.error
        assert elapsed < 20
        # the emulator's session thread kills and reaps after the client has its answer
        assert wait_until(lambda: emu.device(SERIAL).running_pids() == [], timeout=10)
        again = patient.measure(chain_tflite, FAST)  # the phone is still usable
        assert again.ok, again.error


def test_timeout_kill_reaches_a_process_outside_the_session(tmp_path: Path) -> None:
    """Closing the connection ends the session's own processes; a process that left the session
    (as a runner may on a phone) is ended only by the kill the kit runs from the pid file."""
    with own_emulator(tmp_path) as emu:
        t = target(emu, tmp_path)
        out = "/data/local/tmp/splitbench/runs/k/out"
        t.phone.check_shell(f"mkdir -p {out}", "mkdir")
        start = (
            f"setsid sh -c 'echo $$ $$ > {out}/runner.pid; exec sleep 300' "
            "> /dev/null 2>&1 < /dev/null & sleep 300"
        )

        def detached_pid() -> int:
            """The phone's pid of the process the pid file names."""
            return int(t.phone.check_shell(f"cat {out}/runner.pid", "cat").split()[0])

        def alive(on_phone: int) -> bool:
            """The process still runs (the phone's pids are found on the host by NSpid)."""
            on_host = emu.device(SERIAL).sandbox.host_pid(on_phone)
            return on_host is not None and not gone(on_host)

        with pytest.raises(RemoteTimeout):
            t.phone.shell(start, timeout=1.5)
        survivor = detached_pid()
        assert alive(survivor)
        psutil.Process(emu.device(SERIAL).sandbox.host_pid(survivor)).kill()
        assert wait_until(lambda: not alive(survivor))

        with pytest.raises(RemoteTimeout):
            t.phone.shell(start, timeout=1.5, kill=t._kill_command(out))
        killed = detached_pid()
        assert killed != survivor
        assert wait_until(lambda: not alive(killed)), "the recorded process was not killed"


def test_crashing_benchmark_binary_is_a_part_failure(
    tmp_path: Path, crash_elf: Path, chain_tflite: Path, branchy_tflite: Path
) -> None:
    with own_emulator(tmp_path) as emu:
        t = target(emu, tmp_path, benchmark_binary=crash_elf)
        info = t.describe()
        assert info.extra["runner"] == "benchmark_model"
        assert info.runtime == f"benchmark_model sha256:{file_sha256(crash_elf)[:16]}"
        m = t.measure(chain_tflite, FAST)
        assert m.error == "benchmark_model crashed with signal 11 (SIGSEGV)"
        assert m.runtime == info.runtime
        stdout = next(Path(p) for p in m.evidence if p.endswith(".stdout"))
        assert "crashing on purpose with 9 flags" in stdout.read_text()
        pushed = t.bytes_pushed
        m2 = t.measure(branchy_tflite, FAST)  # the sweep goes on with the next part
        assert m2.error == m.error
        listing = f"{m2.meta['name']} {m2.meta['graph']}\n"  # the batch's parts.list
        assert t.bytes_pushed - pushed == branchy_tflite.stat().st_size + len(listing)
        binaries = t.phone.check_shell("ls /data/local/tmp/splitbench/bin", "ls").split()
        assert sum(name.endswith("-benchmark_model") for name in binaries) == 1


def test_wrong_abi_is_refused_before_pushing(tmp_path: Path, crash_elf: Path) -> None:
    other = "x86_64" if host_abi() == "arm64-v8a" else "arm64-v8a"
    with own_emulator(tmp_path, profile=DeviceProfile(abi=other)) as emu:
        t = target(emu, tmp_path, benchmark_binary=crash_elf)
        with pytest.raises(DeviceError) as err:
            t.measure(crash_elf, FAST)
        message = str(err.value)
        assert "\n" not in message
        arch = read_elf_arch(crash_elf).name  # the host's own architecture
        assert (
            f"benchmark binary {crash_elf.name} is built for {arch} but phone {SERIAL} "
            f"runs {other}" in message
        )
        assert t.bytes_pushed == 0
        assert t.phone.stat("/data/local/tmp/splitbench/bin") is None or not [
            n
            for n in t.phone.check_shell("ls /data/local/tmp/splitbench/bin", "ls").split()
            if n.endswith("benchmark_model")
        ]
    aarch64 = tmp_path / "android_aarch64_benchmark_model"
    aarch64.write_bytes(elf_header(183, 64))
    assert read_elf_arch(aarch64).name == "AArch64 64-bit"
    assert read_elf_arch(aarch64).runs_on("arm64-v8a")
    arm = tmp_path / "android_arm_benchmark_model"
    arm.write_bytes(elf_header(40, 32))
    assert read_elf_arch(arm).runs_on("armeabi-v7a") and not read_elf_arch(arm).runs_on("x86")
    if host_abi() == "x86_64":
        with own_emulator(tmp_path / "2") as emu:
            t = target(emu, tmp_path, benchmark_binary=aarch64)
            with pytest.raises(
                DeviceError,
                match=r"built for AArch64 64-bit but phone "
                rf"{SERIAL} runs x86_64",
            ):
                t.measure(aarch64, FAST)


def test_missing_or_unusable_binary(emu: AdbEmulator, tmp_path: Path) -> None:
    with pytest.raises(DeviceError, match=r"benchmark binary .*missing does not exist"):
        target(emu, tmp_path, benchmark_binary=tmp_path / "missing")
    text = tmp_path / "benchmark_model"
    text.write_text("#!/bin/sh\necho not a binary\n")
    with pytest.raises(DeviceError, match="is not an ELF executable"):
        target(emu, tmp_path, benchmark_binary=text)
    t = target(emu, tmp_path, runner="benchmark_model")
    with pytest.raises(DeviceError) as err:
        t.measure(text, FAST)
    assert "storage.googleapis.com/tensorflow-nightly-public" in str(err.value)
    assert "\n" not in str(err.value)


def test_benchmark_app_not_installed_and_its_command_line(
    emu: AdbEmulator, tmp_path: Path, chain_tflite: Path
) -> None:
    """The emulated phone has no Android app framework, so only the command and the "not
    installed" path are tested; the app's logcat output is never imitated."""
    t = target(emu, tmp_path, runner="app")
    with pytest.raises(DeviceError, match=r"org\.tensorflow\.lite\.benchmark.*is not installed"):
        t.measure(chain_tflite, FAST)
    command = app_start_command("/data/local/tmp/splitbench/parts/ab.tflite", FAST)
    words = command.split(" ", 1)
    assert words[0] == "am"
    printed = t.phone.check_shell("printf '[%s]\\n' " + words[1], "printf").splitlines()
    assert printed[:6] == [
        "[start]",
        "[-S]",
        "[-n]",
        "[org.tensorflow.lite.benchmark/.BenchmarkModelActivity]",
        "[--es]",
        "[args]",
    ]
    assert printed[6] == (
        "[--graph=/data/local/tmp/splitbench/parts/ab.tflite --num_threads=1 --warmup_runs=1 "
        "--warmup_min_secs=0 --num_runs=5 --min_secs=0.05 --max_secs=150 "
        "--enable_op_profiling=true]"
    )
    assert len(printed) == 7
    with pytest.raises(DeviceError, match="whitespace"):
        app_start_command("/data/local/tmp/a b.tflite", FAST)


def test_unplugged_mid_sweep_stops_cleanly_and_resumes(
    tmp_path: Path, chain_tflite: Path, branchy_tflite: Path
) -> None:
    with own_emulator(tmp_path) as emu:
        t = target(emu, tmp_path)
        first = t.measure(chain_tflite, FAST)
        assert first.ok
        emu.device(SERIAL).set_fail_after(1)  # the cable goes after one more command
        with pytest.raises(DeviceError) as err:
            t.measure(branchy_tflite, FAST)
        assert str(err.value) == DISCONNECTED
        assert all(Path(p).exists() for p in first.evidence)  # nothing finished is lost
        emu.device(SERIAL).replug()
        again = t.measure(branchy_tflite, FAST)
        assert again.ok, again.error


def test_unplugged_while_the_runner_runs(tmp_path: Path, chain_tflite: Path) -> None:
    with own_emulator(tmp_path) as emu:
        t = target(emu, tmp_path)
        t.measure(chain_tflite, FAST)
        timer = threading.Timer(0.8, emu.device(SERIAL).unplug)
        timer.start()
        try:
            with pytest.raises(DeviceError) as err:
                t.measure(chain_tflite, RunSettings(num_runs=5, min_secs=20.0))
        finally:
            timer.cancel()
        assert str(err.value) == DISCONNECTED
        # the emulator's session thread kills and reaps after the client has its answer
        assert wait_until(lambda: emu.device(SERIAL).running_pids() == [], timeout=10)


def test_unauthorised_and_offline_phones(tmp_path: Path, chain_tflite: Path) -> None:
    specs = [
        EmulatedDeviceSpec("emu-locked", state="unauthorized"),
        EmulatedDeviceSpec("emu-off", state="offline"),
        EmulatedDeviceSpec(SERIAL),
    ]
    with AdbEmulator(port=0, devices=specs, root=tmp_path / "emu") as emu:
        locked = AdbTarget("emu-locked", adb_port=emu.port, run_dir=tmp_path / "run")
        with pytest.raises(
            DeviceError,
            match=r"^phone emu-locked is unauthorised: accept the "
            r"USB debugging prompt on the phone",
        ):
            locked.describe()
        off = AdbTarget("emu-off", adb_port=emu.port, run_dir=tmp_path / "run")
        with pytest.raises(DeviceError, match=r"^phone emu-off is offline"):
            off.measure(chain_tflite, FAST)
        t = target(emu, tmp_path)
        assert t.measure(chain_tflite, FAST).ok
        emu.device(SERIAL).set_state("offline")
        with pytest.raises(DeviceError, match=f"^phone {SERIAL} is offline"):
            t.measure(chain_tflite, FAST)


def test_full_phone_is_one_line_with_the_free_space(
    tmp_path: Path, chain_tflite: Path, branchy_tflite: Path
) -> None:
    with own_emulator(tmp_path) as emu:
        t = target(emu, tmp_path)
        assert t.measure(chain_tflite, FAST).ok
        emu.device(SERIAL).fill_storage()
        with pytest.raises(DeviceError) as err:
            t.measure(branchy_tflite, FAST)
        message = str(err.value)
        assert message.startswith(f"no space left on phone {SERIAL}: pushing ")
        assert f"({branchy_tflite.stat().st_size} bytes) failed with " in message
        assert "bytes free in /data/local/tmp/splitbench/parts" in message
        assert "\n" not in message
        emu.device(SERIAL).clear_faults()
        assert t.measure(branchy_tflite, FAST).ok


def test_a_phone_gone_before_any_command_is_not_connected(tmp_path: Path) -> None:
    """Before a phone has answered once, its absence is "not connected", not "disconnected
    during the sweep"."""
    with own_emulator(tmp_path) as emu:
        phone = Phone(SERIAL, adb_port=emu.port)
        assert phone.check_shell("getprop ro.splitbench.emulated", "getprop").strip() == "1"
        emu.device(SERIAL).unplug()
        with pytest.raises(DeviceError, match=f"no phone {SERIAL} is connected"):
            Phone(SERIAL, adb_port=emu.port).check_shell("true", "true")


@pytest.mark.parametrize("v2", [None, False], ids=["shell_v2", "shell_v1"])
def test_shell_protocols_give_output_and_exit_status(emu: AdbEmulator, v2: bool | None) -> None:
    """Phones before Android 7 have only shell v1 (no exit status): the kit appends its own."""
    phone = Phone(SERIAL, adb_port=emu.port, shell_v2=v2)
    assert phone.shell_v2 is (v2 is None)
    done = phone.shell("echo out; echo err >&2; exit 3")
    assert done.returncode == 3
    assert "out" in done.text and "err" in (done.text + done.stderr.decode())
    assert phone.shell("kill -SEGV $$").returncode == 139
    assert phone.shell("printf 'no newline'").text == "no newline"
    with pytest.raises(RemoteTimeout):
        phone.shell("sleep 30", timeout=0.5)


def _csv_rows(path: Path) -> list[dict[str, str]]:
    import csv

    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def test_sweep_with_the_phone_as_client_gives_the_host_table(
    tmp_path: Path, chain_tflite: Path
) -> None:
    """The whole pipeline through the real CLI: the phone's table has the same splits, cuts and
    sizes as a host sweep, client times measured on the phone, its evidence, and a rerun
    measures nothing again."""
    cli = Path(sys.executable).with_name("splitbench")
    common = [
        "sweep",
        str(chain_tflite),
        "--runs",
        "5",
        "--min-secs",
        "0.05",
        "--warmup-secs",
        "0",
        "--rounds",
        "2",
    ]  # two bouts: pooled across passes
    with own_emulator(tmp_path) as emu:
        phone_run = tmp_path / "phone"
        argv = [str(cli), *common, "--out", str(phone_run), "--client", f"adb:{SERIAL}"]
        argv += ["--adb-port", str(emu.port)]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=600, check=False)
        assert done.returncode == 0, done.stderr[-2000:]
        again = subprocess.run(argv, capture_output=True, text=True, timeout=600, check=False)
        assert again.returncode == 0, again.stderr[-2000:]
        assert "measured 0 parts" in again.stdout
    host_run = tmp_path / "host"
    done = subprocess.run(
        [str(cli), *common, "--out", str(host_run)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    phone_rows = _csv_rows(phone_run / "splits.csv")
    host_rows = _csv_rows(host_run / "splits.csv")
    same = (
        "split",
        "cut_tensors",
        "intermediate_bytes",
        "head_model_bytes",
        "tail_model_bytes",
        "max_abs_diff",
        "lossless",
    )
    assert [{k: r[k] for k in same} for r in phone_rows] == [
        {k: r[k] for k in same} for r in host_rows
    ]
    for row in phone_rows[1:]:
        assert float(row["client_ms"]) > 0 and not row["client_error"]
    evidence = list((phone_run / "evidence" / f"adb_{SERIAL}").glob("*/*.stdout"))
    assert len(evidence) >= len(phone_rows) - 1  # at least one head per split k >= 1
