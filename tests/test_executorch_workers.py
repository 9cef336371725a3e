"""ExecuTorch lowering workers (about 0.5 GB each on a real model) never outlive their sweep:
a SIGKILLed sweep takes them with it, and a SIGTERMed sweep stops within seconds with the usual
line instead of waiting for the parts they were lowering.

Real processes throughout: the installed command, its spawned workers found with psutil."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from cli_helpers import FAST, start_cli, wait_for
from executorch_models import write_models


@pytest.fixture(scope="module")
def src(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_models(tmp_path_factory.mktemp("etsrc"))


def _workers(proc: subprocess.Popen) -> list[psutil.Process]:
    """The sweep's lowering workers: its children started by multiprocessing's spawn."""
    found = []
    with_gone = (psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied)
    try:
        children = psutil.Process(proc.pid).children()
    except with_gone:
        return []
    for child in children:
        try:
            if "spawn_main" in " ".join(child.cmdline()):
                found.append(child)
        except with_gone:
            continue
    return found


def _alive(processes: list[psutil.Process]) -> list[psutil.Process]:
    return [p for p in processes if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]


@pytest.fixture
def sweep(src: Path, tmp_path: Path) -> Iterator[tuple[subprocess.Popen, list[psutil.Process]]]:
    """An ExecuTorch sweep with two lowering workers, once both exist; every process it
    started is killed afterwards, whatever the test found."""
    args = ("sweep", f"{src}:forked", "--format", "executorch", "--out", tmp_path / "run")
    err = tmp_path / "err.txt"
    proc = start_cli(*args, "--jobs", "2", *FAST, stdout_path=tmp_path / "out.txt", stderr_path=err)
    workers: list[psutil.Process] = []
    try:
        assert wait_for(lambda: len(_workers(proc)) == 2, timeout=600, interval=0.1), (
            err.read_text()
        )
        workers = _workers(proc)
        yield proc, workers
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for worker in _alive(workers):  # a leak must not outlive the test either
            worker.kill()


def test_sigkill_of_a_sweep_takes_its_lowering_workers_with_it(
    sweep: tuple[subprocess.Popen, list[psutil.Process]],
) -> None:
    proc, workers = sweep
    proc.kill()
    proc.wait()
    assert wait_for(lambda: not _alive(workers), timeout=5, interval=0.1), [
        (p.pid, p.status()) for p in _alive(workers)
    ]


def test_sigterm_stops_a_sweep_and_its_workers_within_seconds(
    sweep: tuple[subprocess.Popen, list[psutil.Process]], tmp_path: Path
) -> None:
    proc, workers = sweep
    sent = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    code = proc.wait(timeout=300)
    elapsed = time.monotonic() - sent
    stderr = (tmp_path / "err.txt").read_text()
    assert elapsed < 8, (elapsed, stderr)
    assert code == 128 + signal.SIGTERM, stderr
    lines = [  # the first-use step announcements aside (export, lowering)
        ln
        for ln in stderr.splitlines()
        if ln.startswith("splitbench:") and "(first use only" not in ln
    ]
    assert lines == [
        "splitbench: error: interrupted (SIGTERM); finished measurements are saved — rerun the "
        "same command to resume"
    ], stderr
    assert "Traceback" not in stderr, stderr
    assert wait_for(lambda: not _alive(workers), timeout=5, interval=0.1)
