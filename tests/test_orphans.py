"""Workers of a spawn pool die with their parent process, whichever thread spawned them — and
not before: a parent-death signal armed in a worker spawned by a short-lived thread would kill
it when that thread ends.

Real processes: a parent script that starts a pool, its spawned workers found with psutil."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil
import pytest
from cli_helpers import wait_for

PARENT = textwrap.dedent(
    """
    import multiprocessing, sys, threading, time
    from concurrent.futures import ProcessPoolExecutor
    from splitbench.orphans import Spawner, die_with_parent

    def pid():
        import os
        return os.getpid()

    if __name__ == "__main__":
        pool = ProcessPoolExecutor(
            2, mp_context=multiprocessing.get_context("spawn"),
            initializer=die_with_parent, initargs=(Spawner(),),
        )
        def start():
            print(sorted({f.result() for f in [pool.submit(pid) for _ in range(8)]}), flush=True)
        if sys.argv[1] == "thread":
            t = threading.Thread(target=start)
            t.start()
            t.join()  # the spawning thread has ended; the workers must live on
        else:
            start()
        print("ready", flush=True)
        time.sleep(600)
    """
)


@pytest.mark.parametrize("spawned_by", ["main", "thread"])
def test_workers_outlive_their_spawning_thread_but_not_their_parent(
    tmp_path: Path, spawned_by: str
) -> None:
    script = tmp_path / "parent.py"
    script.write_text(PARENT)
    proc = subprocess.Popen(
        [sys.executable, str(script), spawned_by], stdout=subprocess.PIPE, text=True
    )
    workers: list[psutil.Process] = []
    try:
        assert proc.stdout is not None
        pids = [int(p) for p in proc.stdout.readline().strip("[]\n").split(",")]
        assert proc.stdout.readline().strip() == "ready"
        workers = [psutil.Process(p) for p in pids]
        time.sleep(1.5)  # a parent-death signal tied to the ended thread would have fired
        assert all(w.is_running() and w.status() != psutil.STATUS_ZOMBIE for w in workers)
        proc.kill()
        proc.wait()
        assert wait_for(lambda: not any(w.is_running() for w in workers), timeout=5)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for worker in workers:
            if worker.is_running():
                worker.kill()
