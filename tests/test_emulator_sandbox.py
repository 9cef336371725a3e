"""The emulated phone is a phone, not a shell on the host: tried from outside, as a local user
would, through `adb shell` and sync, and checked on the host.

Runs as root here and in CI, where the device has ids of its own (shell = uid 2000); the
single-id sandbox an unprivileged user gets is exercised directly at the end.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import adbutils
import pytest
from emulator_helpers import client
from splitbench.emulator import DEFAULT_SERIAL as SERIAL
from splitbench.emulator import AdbEmulator, EmulatedDeviceSpec
from splitbench.emulator.hostview import host_view
from splitbench.emulator.sandbox import DEVICE_ENV, Sandbox, ids_of_their_own
from splitbench.errors import DeviceError

MAPPED = ids_of_their_own()
#: What a write outside the device's writable paths may answer, as on a phone.
REFUSED = (
    "Read-only file system",
    "Permission denied",
    "No such file or directory",
    "Directory nonexistent",  # dash's words for a redirection into a missing directory
)
#: Host top-level directories the device must not see.
HIDDEN = ("tmp", "home", "var", "run", "opt", "mnt", "srv", "boot", "media", "work")


@pytest.fixture
def marker(tmp_path: Path) -> Iterator[Path]:
    """A host file the device must neither read nor change."""
    path = tmp_path / "host-secret.txt"
    path.write_text("host only\n")
    yield path
    assert path.read_text() == "host only\n"


def _shell(d: adbutils.AdbDevice, cmd: str) -> tuple[int, str, str]:
    r = d.shell2(cmd, v2=True)
    return r.returncode, r.stdout, r.stderr


def _host_targets(tmp_path: Path) -> list[str]:
    """Host paths a command might try to write: this test's dir, /tmp, /root, the repo, the
    interpreter's prefix, system dirs, the device root itself."""
    return [
        str(tmp_path / "written-by-device"),
        "/tmp/written-by-device",
        "/root/written-by-device",
        os.path.join(os.getcwd(), "written-by-device"),
        os.path.join(sys.prefix, "written-by-device"),
        os.path.join(os.path.dirname(os.__file__), "written-by-device"),
        "/usr/written-by-device",
        "/etc/written-by-device",
        "/written-by-device",
        "/system/written-by-device",
        "/sys/written-by-device",
        "/proc/1/root/written-by-device",
    ]


def test_shell_writes_outside_the_device_fail_and_change_nothing(
    adb_emulator: AdbEmulator, tmp_path: Path, marker: Path
) -> None:
    d = client(adb_emulator).device(SERIAL)
    for target in _host_targets(tmp_path):
        for cmd in (f"touch {target}", f"echo x > {target}", f"mkdir -p {target}"):
            code, _out, err = _shell(d, cmd)
            assert code != 0, cmd
            assert any(reason in err for reason in REFUSED), (cmd, err)
        if not target.startswith(("/proc", "/sys", "/system")):
            assert not os.path.lexists(target), target
    # a host file the device could name: neither readable nor writable
    code, out, err = _shell(d, f"cat {marker}; echo changed > {marker}")
    assert code != 0 and "host only" not in out and "No such file or directory" in err
    # a file inside the read-only view of the host (the interpreter's own) stays as it is
    cfg = Path(sys.prefix) / "pyvenv.cfg"
    if cfg.exists():
        before = cfg.read_bytes()
        code, out, err = _shell(d, f"cat {cfg} >/dev/null && echo x >> {cfg}")
        assert code != 0 and any(reason in err for reason in REFUSED), err
        assert cfg.read_bytes() == before


def test_only_what_the_device_needs_is_visible(adb_emulator: AdbEmulator) -> None:
    d = client(adb_emulator).device(SERIAL)
    top = set(d.shell("ls -a /").split())
    assert {"data", "system", "sys", "proc", "dev", "etc", "sdcard", "usr", "bin"} <= top
    # a hidden host directory appears only as the way to the interpreter or its packages
    # (a venv under /work, pyenv under /root): nothing else of it is there
    bound = host_view().binds
    for name in sorted(top & {*HIDDEN, "root"}):
        for entry in d.shell(f"find /{name} -mindepth 1 -maxdepth 4").split():
            assert any(
                b == entry or b.startswith(entry + "/") or entry.startswith(b + "/") for b in bound
            ), entry
    # the repository itself is not there: only source roots that are on sys.path
    repo = d.shell(f"ls -A {os.getcwd()} 2>/dev/null").split()
    assert ".git" not in repo and "README.md" not in repo and "pyproject.toml" not in repo
    # the host's /etc and /dev are not there: a few loader files and five device nodes
    assert "shadow" not in d.shell("ls /etc").split()
    assert sorted(d.shell("ls /dev").split()) == sorted(
        ["full", "null", "random", "urandom", "zero", "fd", "stdin", "stdout", "stderr"]
    )
    # the host's processes are out of reach: their roots, environments, signals
    for pid in (1, os.getpid()):
        for cmd in (f"ls /proc/{pid}/root/", f"cat /proc/{pid}/environ", f"kill -0 {pid}"):
            code, out, _err = _shell(d, cmd)
            assert code != 0 and not out, cmd
    # what the kit needs does run: the interpreter with its packages, the shell's tools
    py = sys.executable
    assert d.shell(f"{py} -c 'import numpy, splitbench_device; print(42)'") == "42"
    assert d.shell("echo ok | tr a-z A-Z; df /data >/dev/null && echo df") == "OK\ndf"


@pytest.mark.skipif(not MAPPED, reason="the shell user needs root on this host")
def test_commands_run_as_the_shell_user(adb_emulator: AdbEmulator, tmp_path: Path) -> None:
    d = client(adb_emulator).device(SERIAL)
    assert d.shell("id -u; id -g; id -un") == "2000\n2000\nshell"
    assert _shell(d, "su -c id")[0] != 0  # su is not faked
    # writable: /data/local/tmp and /sdcard, as for adb shell on a phone
    assert d.shell("touch /data/local/tmp/a /sdcard/b && echo ok") == "ok"
    code, _out, err = _shell(d, "touch /data/x")
    assert code != 0 and "Permission denied" in err
    # pushes belong to shell too, so shell commands can remove what the kit pushed
    d.sync.push(b"model", "/data/local/tmp/splitbench/parts/m.tflite")
    assert d.shell("stat -c %u:%g /data/local/tmp/splitbench/parts/m.tflite") == "2000:2000"
    assert d.shell("rm -r /data/local/tmp/splitbench && echo gone") == "gone"
    with pytest.raises(adbutils.AdbError):  # "Permission denied": see the adb CLI test
        d.sync.push(b"x", "/data/not-for-shell")
    assert (
        d.shell("ls /data/not-for-shell 2>&1")
        == "ls: cannot access '/data/not-for-shell': No such file or directory"
    )
    # on the host, device files belong to ids no account uses, not to the emulator's user
    sandbox = adb_emulator.device(SERIAL).sandbox
    st = sandbox.files.stat("/data/local/tmp/a")
    assert sandbox.ids is not None and sandbox.ids.base >= 2_000_000_000
    assert (st.st_uid, st.st_gid) == (sandbox.ids.base + 2000, sandbox.ids.base + 2000)


def test_root_device_cannot_reach_the_host_either(tmp_path: Path, marker: Path) -> None:
    spec = EmulatedDeviceSpec(SERIAL, root=True)
    with AdbEmulator(devices=[spec], root=tmp_path / "emu") as emu:
        d = client(emu).device(SERIAL)
        assert d.shell("id -u") == "0"
        for target in _host_targets(tmp_path):
            code, _out, err = _shell(d, f"touch {target}")
            assert code != 0 and any(reason in err for reason in REFUSED), (target, err)
            if not target.startswith(("/proc", "/sys", "/system")):
                assert not os.path.lexists(target), target
        # root of the device cannot undo the read-only view, nor climb out of it
        for cmd in (
            "mount -o remount,rw /usr",
            "mount -o remount,rw,bind /usr",
            "mount -o remount,rw /",
            "umount /usr",
            "umount -l /proc",
            f"mount --bind / /data/local/tmp && ls /data/local/tmp{marker.parent}",
            "chroot /proc/1/root touch /escaped",
        ):
            assert _shell(d, cmd)[0] != 0, cmd
        assert _shell(d, "touch /usr/after-remount")[0] != 0
        assert not Path("/usr/after-remount").exists() and not Path("/escaped").exists()
        # root's own place is writable, as after adb root on a phone
        d.sync.push(b"x", "/data/by-root")
        assert d.shell("cat /data/by-root; id -u > /data/id; cat /data/id") == "x0"


def test_sync_stays_inside_the_device(
    adb_emulator: AdbEmulator, tmp_path: Path, marker: Path
) -> None:
    d = client(adb_emulator).device(SERIAL)
    outside = tmp_path / "pushed-from-client"
    for remote in (str(outside), "/tmp/pushed-from-client", "/usr/pushed", "/system/pushed"):
        with pytest.raises(adbutils.AdbError):
            d.sync.push(b"payload", remote)
    assert not outside.exists() and not Path("/tmp/pushed-from-client").exists()
    assert not Path("/usr/pushed").exists()
    # a symlink on the device that names a host path leads to the device's own path
    d.shell(f"ln -s {tmp_path} /data/local/tmp/to-host; ln -s / /data/local/tmp/slash")
    with pytest.raises(adbutils.AdbError):
        d.sync.push(b"payload", "/data/local/tmp/to-host/via-link")
    assert not (tmp_path / "via-link").exists()
    with pytest.raises(adbutils.AdbError):
        d.sync.read_bytes(f"/data/local/tmp/slash/../../..{marker}")
    assert not d.sync.exists(str(marker))
    assert d.sync.exists("/data/local/tmp/slash/system/build.prop")  # the device's own /
    # a pushed symlink is a device symlink; pulling through it reads the device's file
    d.sync.push(b"inside", "/data/local/tmp/real.txt")
    d.shell("ln -s /data/local/tmp/real.txt /data/local/tmp/link.txt")
    assert d.sync.read_bytes("/data/local/tmp/link.txt") == b"inside"


def test_any_address_but_loopback_is_refused(tmp_path: Path) -> None:
    for address in ("0.0.0.0", "::", "192.0.2.1"):
        with pytest.raises(DeviceError, match=r"127\.0\.0\.1 only") as caught:
            AdbEmulator(root=tmp_path, host_address=address)
        assert "\n" not in str(caught.value)
    cli = str(Path(sys.executable).parent / "splitbench")  # the venv's, as CI runs it
    r = subprocess.run(
        [cli, "emulator", "start", "--port", "0", "--address", "0.0.0.0"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode != 0
    assert r.stderr.strip().count("\n") == 0 and "127.0.0.1 only" in r.stderr
    assert "Traceback" not in r.stderr


@pytest.mark.skipif(shutil.which("adb") is None, reason="Debian's adb CLI is not installed")
def test_debian_adb_shell_cannot_write_the_host(adb_emulator: AdbEmulator, tmp_path: Path) -> None:
    """The report's own steps: `adb -P P -s S shell 'touch /tmp/x'` must not create /tmp/x."""
    name = f"/tmp/sbemu-issue-{os.getpid()}"
    env = {**os.environ, "HOME": str(tmp_path)}
    r = subprocess.run(
        ["adb", "-P", str(adb_emulator.port), "-s", SERIAL, "shell", f"touch {name}"],
        capture_output=True,
        text=True,
        timeout=30,
        env=env,
    )
    assert r.returncode != 0 and any(reason in r.stderr + r.stdout for reason in REFUSED)
    assert not os.path.exists(name)
    # pushes get a phone's answers too
    src = tmp_path / "payload.bin"
    src.write_bytes(b"payload")
    for remote, reason in (
        ("/usr/pushed-by-adb", "Read-only file system"),
        (name, "Read-only file system"),  # adb makes the parents: no /tmp on the read-only /
    ) + ((("/data/pushed-by-adb", "Permission denied"),) if MAPPED else ()):
        r = subprocess.run(
            ["adb", "-P", str(adb_emulator.port), "-s", SERIAL, "push", str(src), remote],
            capture_output=True,
            text=True,
            timeout=30,
            env=env,
        )
        assert r.returncode != 0 and reason in r.stderr + r.stdout, (remote, r.stderr)
    assert not os.path.exists(name) and not os.path.exists("/usr/pushed-by-adb")


@pytest.mark.skipif(not MAPPED, reason="builds the single-id sandbox from root")
def test_single_id_sandbox_is_confined_too(tmp_path: Path, marker: Path) -> None:
    """What an unprivileged user gets (one id, mapped to the device's root): the same view."""
    device_dir = tmp_path / "dev"
    for sub in ("system", "sys"):
        (device_dir / sub).mkdir(parents=True)
    sandbox = Sandbox(device_dir, 8 * 1024 * 1024, mapped=False)
    sandbox.start()
    try:

        def run(cmd: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                sandbox.argv(["/bin/sh", "-c", cmd]),
                capture_output=True,
                text=True,
                timeout=60,
                env=DEVICE_ENV,
            )

        assert sandbox.user == 0 and run("id -u").stdout.strip() == "0"
        for target in _host_targets(tmp_path):
            done = run(f"touch {target}")
            assert done.returncode != 0, target
            assert any(reason in done.stderr for reason in REFUSED), (target, done.stderr)
        assert run("mount -o remount,rw /usr").returncode != 0
        # a PID namespace of its own: this user's host processes are not there to be reached
        pids = [p for p in run("ls /proc").stdout.split() if p.isdigit()]
        assert len(pids) < 10 and str(os.getpid()) not in pids, pids
        assert "-I" in run("tr '\\0' ' ' < /proc/1/cmdline").stdout  # PID 1: the holder
        assert run(f"cat {marker}").returncode != 0
        assert run("touch /data/local/tmp/ok && echo ok").stdout.strip() == "ok"
        sandbox.set_quota(4 * 1024 * 1024)
        assert sandbox.usage()[1] == 4 * 1024 * 1024
    finally:
        sandbox.stop()
    assert not (tmp_path / "written-by-device").exists()
