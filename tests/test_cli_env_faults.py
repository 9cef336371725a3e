"""Environment faults around --out give one line that names the path and what to do, with no
traceback and no partial part file left: an existing file, /proc, /sys, a read-only file system
and a file system that fills up mid-sweep (small tmpfs mounts made by the test in a user and
mount namespace, where the machine allows it)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from cli_helpers import FAST, SPLITBENCH, assert_one_line_error, cli_env, run_many

MARK = "=== after ==="


def test_out_that_is_a_file_or_a_kernel_file_system(chain_tflite: Path, tmp_path: Path) -> None:
    existing = tmp_path / "notes.txt"
    existing.write_text("not a folder\n")
    cases = {
        "file": (existing, ("notes.txt", "not a folder", "another --out")),
        "proc": (Path("/proc/splitbench-run"), ("/proc", "--out")),
        "sys": (Path("/sys/kernel/splitbench-run"), ("/sys", "--out")),
        "under a file": (existing / "run", ("notes.txt", "--out")),
    }
    results = run_many([["sweep", chain_tflite, "--out", out, *FAST] for out, _ in cases.values()])
    for (name, (_, needles)), result in zip(cases.items(), results, strict=True):
        line = assert_one_line_error(result, *needles)
        assert "Errno" not in line or "use" in line, (name, line)
    assert existing.read_text() == "not a folder\n"


def _in_namespace(script: str) -> subprocess.CompletedProcess[str]:
    if shutil.which("unshare") is None:
        pytest.skip("unshare is not installed: cannot make a private tmpfs here")
    probe = subprocess.run(
        ["unshare", "-rm", "sh", "-c", "mount -t tmpfs -o size=1m tmpfs /mnt"],
        capture_output=True,
        text=True,
    )
    if probe.returncode != 0:
        pytest.skip(f"user and mount namespaces are not allowed here: {probe.stderr.strip()}")
    return subprocess.run(
        ["unshare", "-rm", "sh", "-c", script],
        capture_output=True,
        text=True,
        env=cli_env(),
        timeout=900,
    )


def _split(proc: subprocess.CompletedProcess[str]) -> tuple[str, str]:
    before, _, after = proc.stdout.partition(MARK)
    return before, after


def test_read_only_file_system(chain_tflite: Path, tmp_path: Path) -> None:
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    script = (
        f"mount -t tmpfs -o size=4m,ro tmpfs {mnt} && "
        f"{SPLITBENCH} sweep {chain_tflite} --out {mnt}/run {' '.join(FAST)}"
    )
    proc = _in_namespace(script)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and f"{mnt}/run" in lines[0], proc.stderr
    assert "read-only" in lines[0].lower() and "--out" in lines[0], lines[0]


def test_file_system_that_fills_up_mid_sweep(tmp_path: Path) -> None:
    """PoseNet's parts kept on a 40 MB tmpfs: the first splits fit, then the disk is full."""
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    out = mnt / "run"
    script = (
        f"mount -t tmpfs -o size=40m tmpfs {mnt} && "
        f"{SPLITBENCH} sweep posenet --out {out} --keep-parts {' '.join(FAST)}; rc=$?; "
        f"echo '{MARK}'; find {mnt} -name '*.partial'; "
        f"{SPLITBENCH} report {out} >/dev/null 2>&1; echo report=$?; "
        'python -c "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); '
        "print('measured', c.execute('select count(*) from measurements').fetchone()[0])\" "
        f"{out}/results.sqlite; exit $rc"
    )
    proc = _in_namespace(script)
    _, after = _split(proc)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip() and "progress:" not in ln]
    assert len(lines) == 1, proc.stderr
    assert "No space left on device" in lines[0] and str(mnt) in lines[0], lines[0]
    assert "rerun" in lines[0], lines[0]
    assert ".partial" not in after, after  # no partial part file left behind
    measured = int(after.split("measured", 1)[1].split()[0])
    assert measured > 0, after  # what finished before the disk filled is kept


def test_full_disk_is_said_to_be_full_not_damaged(chain_tflite: Path, tmp_path: Path) -> None:
    """A sweep finished on a small tmpfs, then the disk filled up: SQLite cannot even open the
    database (no room for its -shm file: "disk I/O error"). `report` and `sweep` must say the
    disk is full, naming the folder, not that the database is damaged; `doctor` must not call
    the run healthy while nothing can be written to it."""
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    out = mnt / "run"
    logs = tmp_path / "logs"
    logs.mkdir()
    commands = {
        "report": f"report {out}",
        "sweep": f"sweep {chain_tflite} --out {out} {' '.join(FAST)}",
        "doctor": f"doctor {out}",
    }
    script = (
        f"mount -t tmpfs -o size=8m tmpfs {mnt} && "
        f"{SPLITBENCH} sweep {chain_tflite} --out {out} {' '.join(FAST)} >/dev/null 2>&1 && "
        f"{{ dd if=/dev/zero of={mnt}/fill bs=4k >/dev/null 2>&1; true; }} && "
        + " && ".join(
            f"{{ {SPLITBENCH} {args} >{logs}/{name}.out 2>{logs}/{name}.err; "
            f"echo $? >{logs}/{name}.rc; }}"
            for name, args in commands.items()
        )
    )
    proc = _in_namespace(script)
    assert proc.returncode == 0, proc.stderr
    for name in commands:
        rc = int((logs / f"{name}.rc").read_text())
        stderr = (logs / f"{name}.err").read_text()
        lines = [ln for ln in stderr.splitlines() if ln.strip() and "progress:" not in ln]
        assert rc != 0 and "Traceback" not in stderr, (name, rc, stderr)
        assert len(lines) == 1, (name, stderr)
        assert "disk is full" in lines[0] and str(out) in lines[0], (name, lines[0])
        assert "damaged" not in lines[0], (name, lines[0])
    assert "healthy" not in (logs / "doctor.out").read_text()
