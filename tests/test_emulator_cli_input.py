"""``splitbench emulator start``: a setting that cannot work is one line and a non-zero exit
before anything starts, and an emulator, stopped or failed, leaves no files behind.

The emulator's temporary folder goes where ``TMPDIR`` says: each test points it at a folder
of its own and checks that folder is empty afterwards.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_helpers import SPLITBENCH, cli_env
from splitbench.emulator import AdbEmulator
from splitbench.emulator.device import EmulatorInputError
from splitbench.errors import DeviceError


def _start(tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(SPLITBENCH), "emulator", "start", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**cli_env(), "TMPDIR": str(tmp)},
    )


@pytest.fixture
def tmp(tmp_path: Path) -> Iterator[Path]:
    """The emulator's TMPDIR: empty before and after."""
    path = tmp_path / "tmpdir"
    path.mkdir()
    yield path
    assert list(path.iterdir()) == []


def test_bad_settings_are_one_line_and_start_nothing(tmp: Path, tmp_path: Path) -> None:
    a_file = tmp_path / "a-file"
    a_file.write_text("kept\n")
    etc_before = sorted(os.listdir("/etc"))
    cases = {
        ("--port", "80000"): "port 80000 is not a TCP port: give 0..65535",
        ("--port", "-1"): "port -1 is not a TCP port",
        ("--storage-bytes", "-5"): "storage of -5 bytes for the emulated phone's /data",
        ("--storage-bytes", "0"): "storage of 0 bytes",
        ("--fail-after", "-1"): "unplug after -1 commands",
        ("--root", "/etc"): "cannot keep the emulated phones' files in /etc: it is not empty",
        ("--root", str(a_file)): "it is not a folder",
    }
    for args, message in cases.items():
        done = _start(tmp, "--port", "0", *args)  # a later --port wins
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        assert done.returncode == 2, (args, done.stderr)
        assert len(lines) == 1 and lines[0].startswith("splitbench: error: "), (args, lines)
        assert message in lines[0], (args, lines)
        assert "emulated adb server" not in done.stdout
    assert sorted(os.listdir("/etc")) == etc_before
    assert a_file.read_text() == "kept\n"


def test_a_failed_start_leaves_no_folder(tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The phones are built before the port is bound: a port in use fails after the folder
    was made, which must go too (in the CLI, and in the library)."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = str(taken.getsockname()[1])
        done = _start(tmp, "--port", port)
        assert done.returncode == 3 and f"cannot listen on 127.0.0.1:{port}" in done.stderr
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr
        monkeypatch.setattr(tempfile, "tempdir", str(tmp))
        with pytest.raises(DeviceError, match="cannot listen"):
            AdbEmulator(port=int(port)).start()
        given = tmp / "given" / "nested"
        with pytest.raises(DeviceError, match="cannot listen"):
            AdbEmulator(port=int(port), root=given).start()
        assert not (tmp / "given").exists()


@pytest.mark.parametrize("how", [signal.SIGINT, signal.SIGTERM])
def test_a_stopped_emulator_leaves_its_folder_as_found(
    tmp: Path, tmp_path: Path, how: signal.Signals
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    for root in ([], ["--root", str(empty)], ["--root", str(tmp_path / "new" / "nested")]):
        proc = subprocess.Popen(
            [str(SPLITBENCH), "emulator", "start", "--port", "0", "--serial", "a", *root],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**cli_env(), "TMPDIR": str(tmp)},
        )
        try:
            assert proc.stdout is not None
            assert "emulated adb server" in proc.stdout.readline()
            made = empty / "a" if root[1:2] == [str(empty)] else None
            assert made is None or (made / "system" / "build.prop").exists()
            assert bool(list(tmp.iterdir())) == (not root)
        finally:
            proc.send_signal(how)
            proc.wait(timeout=30)
        assert proc.returncode in (0, 130), proc.stderr.read() if proc.stderr else ""
        assert list(empty.iterdir()) == []
        assert not (tmp_path / "new").exists()


def test_a_killed_emulators_folder_is_cleaned_by_the_next_and_never_shared(
    tmp: Path, tmp_path: Path
) -> None:
    """A killed emulator cannot clean up: the next one given its folder does; a folder in use
    by a running emulator, or holding anything else, is refused and left alone."""
    root = tmp_path / "phones"
    proc = subprocess.Popen(
        [str(SPLITBENCH), "emulator", "start", "--port", "0", "--serial", "a", "--root", str(root)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**cli_env(), "TMPDIR": str(tmp)},
    )
    try:
        assert proc.stdout is not None
        assert "emulated adb server" in proc.stdout.readline()
        with pytest.raises(EmulatorInputError, match="another emulator is using it"):
            AdbEmulator(devices=["a"], root=root).start()
        assert (root / "a" / "system" / "build.prop").exists()  # the running one's, untouched
    finally:
        proc.kill()
        proc.wait(timeout=30)
    assert (root / "a" / "system" / "build.prop").exists()  # left by the killed one
    with AdbEmulator(devices=["b"], root=root):
        assert sorted(os.listdir(root)) == [".splitbench-emulator", "b"]
    assert os.listdir(root) == []

    (root / "notes.txt").write_text("mine\n")
    done = _start(tmp, "--port", "0", "--root", str(root))
    assert done.returncode == 2 and "it is not empty" in done.stderr
    (root / ".splitbench-emulator").write_text("a\n")  # as a killed emulator leaves it
    with pytest.raises(EmulatorInputError, match=r"it holds notes\.txt"):
        AdbEmulator(devices=["a"], root=root).start()
    assert os.listdir(root) == ["notes.txt"] and (root / "notes.txt").read_text() == "mine\n"
