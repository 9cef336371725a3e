"""The phone-side runner, run directly by dash (/bin/sh here) and, when installed, by mksh (the
shell of Android) and busybox sh, on a local directory standing in for the device directory.

The "benchmark" commands are small shell scripts that print their arguments, crash with a real
SIGSEGV or sleep: the runner's job is to run a command per part, time it out, cool down, and
record; what the command measures is tested through the adb target with the kit's runner.
A fake sysfs tree (SPLITBENCH_SYSFS) gives the temperature readings the cool-down waits on.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
from pathlib import Path

import pytest

RUNNER = Path(__file__).resolve().parents[1] / "android_app" / "splitbench_device" / "runner.sh"


def _shells() -> list[pytest.param]:
    shells = [pytest.param(["/bin/sh"], id="sh")]
    if shutil.which("mksh"):
        shells.append(pytest.param([shutil.which("mksh")], id="mksh"))
    else:
        shells.append(pytest.param(None, id="mksh", marks=pytest.mark.skip("mksh not installed")))
    if shutil.which("busybox"):
        shells.append(pytest.param([shutil.which("busybox"), "sh"], id="busybox"))
    else:
        shells.append(
            pytest.param(None, id="busybox", marks=pytest.mark.skip("busybox not installed"))
        )
    return shells


@pytest.fixture(params=_shells())
def shell(request: pytest.FixtureRequest) -> list[str]:
    return request.param


ECHO_ARGS = """#!/bin/sh
for a in "$@"; do printf '[%s]\\n' "$a"; done
"""
CRASH = """#!/bin/sh
ulimit -c 0
echo "about to crash"
kill -SEGV $$
"""
SLEEPER = """#!/bin/sh
echo $$ > "$SLEEPER_PID"
exec sleep 60
"""


def script(tmp: Path, name: str, text: str) -> Path:
    path = tmp / name
    path.write_text(text)
    path.chmod(0o755)
    return path


def sysfs(tmp: Path, temp_mc: int | None = 35000) -> Path:
    """A small sysfs tree: two cores, one thermal zone, a battery."""
    root = tmp / "sys"
    for n, khz in ((0, 1800000), (1, 2400000)):
        freq = root / "devices" / "system" / "cpu" / f"cpu{n}" / "cpufreq"
        freq.mkdir(parents=True)
        (freq / "scaling_cur_freq").write_text(f"{khz // 2}\n")
        (freq / "cpuinfo_max_freq").write_text(f"{khz}\n")
        (freq / "scaling_governor").write_text("schedutil\n")
    zone = root / "class" / "thermal" / "thermal_zone0"
    zone.mkdir(parents=True)
    if temp_mc is not None:
        (zone / "temp").write_text(f"{temp_mc}\n")
    battery = root / "class" / "power_supply" / "battery"
    battery.mkdir(parents=True)
    (battery / "capacity").write_text("64\n")
    (battery / "status").write_text("Discharging\n")
    (battery / "temp").write_text("291\n")
    return root


def run(
    shell: list[str],
    args: list[str],
    sys_root: Path | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 60,
) -> subprocess.CompletedProcess:
    full_env = dict(os.environ, **(env or {}))
    if sys_root is not None:
        full_env["SPLITBENCH_SYSFS"] = str(sys_root)
    return subprocess.run(
        [*shell, str(RUNNER), *args],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=timeout,
        check=False,
    )


def meta(path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)


def test_batch_runs_each_part_with_its_graph_and_records_state(tmp_path: Path, shell) -> None:
    bench = script(tmp_path, "bench.sh", ECHO_ARGS)
    odd = tmp_path / "dir with space" / "a;b $(touch pwned) 'q'.tflite"
    listing = tmp_path / "parts.list"
    listing.write_text(f"p1 {odd}\np2 /x/plain.tflite\n\n# comment\n")
    out = tmp_path / "out"
    done = run(
        shell,
        [
            "-o",
            str(out),
            "-l",
            str(listing),
            "-P",
            "--",
            str(bench),
            "--num_threads=2",
            "two words",
        ],
        sysfs(tmp_path),
    )
    assert done.returncode == 0, done.stderr
    assert (out / "p1.stdout").read_text().splitlines() == [
        "[--num_threads=2]",
        "[two words]",
        f"[--graph={odd}]",
        f"[--profiling_output_csv_file={out}/p1.csv]",
    ]
    assert "[--graph=/x/plain.tflite]" in (out / "p2.stdout").read_text()
    assert not (tmp_path / "pwned").exists() and not Path("pwned").exists()
    assert (out / "p1.rc").read_text().strip() == "0"
    assert (out / "p2.rc").read_text().strip() == "0"
    m = meta(out / "p1.meta")
    assert m["graph"] == str(odd)
    assert m["before.temp_mC"] == "35000"
    assert m["before.temp_source"].endswith("thermal_zone0/temp")
    assert m["before.cpu1.max_khz"] == "2400000"
    assert m["before.cpu0.cur_khz"] == "900000"
    assert m["after.cpu0.governor"] == "schedutil"
    assert m["before.battery_level"] == "64"
    assert m["before.battery_status"] == "Discharging"
    assert m["cooldown_wait_s"] == "0"
    assert m["affinity"] == "none"
    assert m["rc"] == "0"
    assert int(m["after.epoch_s"]) >= int(m["before.epoch_s"])
    pid, pgid = (out / "runner.pid").read_text().split()
    assert int(pid) > 1 and int(pgid) > 1
    assert (out / "runner.done").exists()


def test_crash_is_recorded_as_128_plus_signal(tmp_path: Path, shell) -> None:
    crash = script(tmp_path, "crash.sh", CRASH)
    listing = tmp_path / "parts.list"
    listing.write_text("c /x/model.tflite\nd /x/other.tflite\n")
    out = tmp_path / "out"
    done = run(shell, ["-o", str(out), "-l", str(listing), "--", str(crash)], sysfs(tmp_path))
    assert done.returncode == 0
    assert (out / "c.rc").read_text().strip() == "139"  # SIGSEGV = 11
    assert (out / "d.rc").read_text().strip() == "139"  # the batch went on after the crash
    assert "about to crash" in (out / "c.stdout").read_text()


def test_watchdog_kills_a_hanging_part_and_goes_on(tmp_path: Path, shell) -> None:
    sleeper = script(tmp_path, "sleeper.sh", SLEEPER)
    bench = script(tmp_path, "bench.sh", ECHO_ARGS)
    listing = tmp_path / "parts.list"
    listing.write_text("h /x/hang.tflite\n")
    out = tmp_path / "out"
    pid_file = tmp_path / "sleeper.pid"
    started = time.monotonic()
    root = sysfs(tmp_path)
    done = run(
        shell,
        ["-o", str(out), "-l", str(listing), "-x", "1", "--", str(sleeper)],
        root,
        env={"SLEEPER_PID": str(pid_file)},
    )
    elapsed = time.monotonic() - started
    assert done.returncode == 0
    assert elapsed < 10, elapsed
    assert (out / "h.timeout").read_text().strip() == "1"
    assert (out / "h.rc").read_text().strip() == "137"  # SIGKILL = 9
    assert not Path(f"/proc/{pid_file.read_text().strip()}").exists() or _zombie(
        int(pid_file.read_text())
    )
    # a part that ends in time leaves no .timeout
    listing.write_text("ok /x/fine.tflite\n")
    done = run(shell, ["-o", str(out), "-l", str(listing), "-x", "5", "--", str(bench)], root)
    assert (out / "ok.rc").read_text().strip() == "0"
    assert not (out / "ok.timeout").exists()


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def _cool_later(zone_temp: Path, after_s: float, value: int) -> threading.Timer:
    timer = threading.Timer(after_s, lambda: zone_temp.write_text(f"{value}\n"))
    timer.start()
    return timer


def test_cool_down_waits_until_below_threshold(tmp_path: Path, shell) -> None:
    bench = script(tmp_path, "bench.sh", ECHO_ARGS)
    root = sysfs(tmp_path, temp_mc=52000)
    listing = tmp_path / "parts.list"
    listing.write_text("a /x/a.tflite\n")
    out = tmp_path / "out"
    timer = _cool_later(root / "class/thermal/thermal_zone0/temp", 2.2, 39000)
    try:
        done = run(
            shell,
            [
                "-o",
                str(out),
                "-l",
                str(listing),
                "-c",
                "40000",
                "-w",
                "30",
                "-s",
                "1",
                "--",
                str(bench),
            ],
            root,
        )
    finally:
        timer.cancel()
    assert done.returncode == 0
    m = meta(out / "a.meta")
    assert 2 <= int(m["cooldown_wait_s"]) <= 6
    assert m["before.temp_mC"] == "39000"  # the reading the run started at


def test_cool_down_gives_up_after_max_wait(tmp_path: Path, shell) -> None:
    bench = script(tmp_path, "bench.sh", ECHO_ARGS)
    root = sysfs(tmp_path, temp_mc=80000)
    listing = tmp_path / "parts.list"
    listing.write_text("a /x/a.tflite\n")
    out = tmp_path / "out"
    done = run(
        shell,
        ["-o", str(out), "-l", str(listing), "-c", "40000", "-w", "2", "-s", "1", "--", str(bench)],
        root,
    )
    assert done.returncode == 0
    m = meta(out / "a.meta")
    assert m["cooldown_wait_s"] == "2"
    assert m["before.temp_mC"] == "80000"
    assert (out / "a.rc").read_text().strip() == "0"  # it still ran, and said how hot it was


def test_temperature_falls_back_to_battery_and_skips_dead_sensors(tmp_path: Path, shell) -> None:
    root = sysfs(tmp_path, temp_mc=None)
    dead = root / "class" / "thermal" / "thermal_zone1"
    dead.mkdir()
    (dead / "temp").write_text("-40000\n")  # a disabled sensor
    done = run(shell, ["-m", "now"], root)
    m = dict(line.split("=", 1) for line in done.stdout.splitlines())
    assert m["now.temp_mC"] == "29100"  # battery temp 291 tenths of a degree
    assert m["now.temp_source"].endswith("power_supply/battery/temp")


def test_unreadable_facts_are_unknown(tmp_path: Path, shell) -> None:
    empty = tmp_path / "nosys"
    empty.mkdir()
    done = run(shell, ["-m", "now"], empty)
    assert done.returncode == 0
    m = dict(line.split("=", 1) for line in done.stdout.splitlines())
    assert m["now.temp_mC"] == "unknown"
    assert m["now.battery_level"] == "unknown"
    assert not any(k.startswith("now.cpu") for k in m)


def test_affinity_with_taskset_and_without(tmp_path: Path, shell) -> None:
    if not shutil.which("taskset"):
        pytest.skip("taskset not installed")
    show = script(tmp_path, "show.sh", "#!/bin/sh\ngrep Cpus_allowed_list /proc/self/status\n")
    listing = tmp_path / "parts.list"
    listing.write_text("a /x/a.tflite\n")
    out = tmp_path / "out"
    root = sysfs(tmp_path)
    done = run(shell, ["-o", str(out), "-l", str(listing), "-a", "1", "--", str(show)], root)
    assert done.returncode == 0
    assert (out / "a.stdout").read_text().split() == ["Cpus_allowed_list:", "0"]
    assert meta(out / "a.meta")["affinity"] == "1"
    # a phone without taskset: the mask is recorded as unavailable and the part still runs
    bindir = tmp_path / "bin"
    bindir.mkdir()
    for tool in ("cat", "date", "mkdir", "rm", "mv", "sleep", "grep"):
        (bindir / tool).symlink_to(shutil.which(tool))
    done = run(
        shell,
        ["-o", str(out), "-l", str(listing), "-a", "1", "--", str(show)],
        root,
        env={"PATH": str(bindir)},
    )
    assert done.returncode == 0, done.stderr
    assert meta(out / "a.meta")["affinity"] == "unavailable"
    assert (out / "a.rc").read_text().strip() == "0"


def test_bad_arguments_and_bad_names(tmp_path: Path, shell) -> None:
    assert run(shell, ["-o", str(tmp_path / "o")]).returncode == 2
    assert run(shell, ["-o", "o", "-l", "l", "-x", "soon", "--", "true"]).returncode == 2
    bench = script(tmp_path, "bench.sh", ECHO_ARGS)
    listing = tmp_path / "parts.list"
    listing.write_text("../escape /x/a.tflite\nok /x/b.tflite\n")
    out = tmp_path / "out"
    done = run(shell, ["-o", str(out), "-l", str(listing), "--", str(bench)], sysfs(tmp_path))
    assert done.returncode == 0
    assert "bad part name" in done.stderr
    assert sorted(p.name for p in out.glob("*.rc")) == ["ok.rc"]
    assert not (tmp_path / "escape.rc").exists()
