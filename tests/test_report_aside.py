"""Pictures drawn in forked children beside the rest of a report: real forks, real files; a
child that fails, hangs or is left behind by an exception costs time, never a picture."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import psutil
import pytest
from splitbench.report.aside import Aside, workers_for


def _writer(path: Path, *, in_child: str = "") -> tuple[Path, object]:
    """A job writing the pid that ran it; ``in_child``: what it does instead in a child."""
    parent = os.getpid()

    def draw() -> None:
        if os.getpid() != parent and in_child == "fail":
            raise RuntimeError("fails in the child only")
        if os.getpid() != parent and in_child == "hang":
            time.sleep(120)
        path.write_text(str(os.getpid()))

    return path, draw


def _pids(paths: list[Path]) -> list[int]:
    return [int(p.read_text()) for p in paths]


def test_children_draw_the_pictures_while_the_parent_works(tmp_path: Path) -> None:
    jobs = [_writer(tmp_path / f"{i}.png") for i in range(5)]
    with Aside(jobs, workers=2) as aside:
        assert len(aside._children) == 2
        (tmp_path / "table.csv").write_text("the parent's own work")
    assert aside.finish() == [p for p, _ in jobs]
    pids = _pids([p for p, _ in jobs])
    assert os.getpid() not in pids and len(set(pids)) == 2  # dealt to both children
    assert pids[0] == pids[2] == pids[4] != pids[1] == pids[3]


def test_a_child_that_fails_leaves_its_pictures_to_the_parent(tmp_path: Path) -> None:
    jobs = [_writer(tmp_path / "a.png", in_child="fail"), _writer(tmp_path / "b.png")]
    with Aside(jobs, workers=2) as aside:
        pass
    aside.finish()
    a, b = _pids([p for p, _ in jobs])
    assert a == os.getpid() and b != os.getpid()


def test_a_child_past_the_deadline_is_killed_and_its_pictures_drawn_here(tmp_path: Path) -> None:
    jobs = [_writer(tmp_path / "a.png", in_child="hang")]
    with Aside(jobs, workers=1, deadline_s=1.0) as aside:
        child = next(iter(aside._children))
    t0 = time.monotonic()
    aside.finish()
    assert time.monotonic() - t0 < 10
    assert _pids([tmp_path / "a.png"]) == [os.getpid()]
    assert not psutil.pid_exists(child)


def test_an_exception_in_the_parent_kills_the_children(tmp_path: Path) -> None:
    jobs = [_writer(tmp_path / "a.png", in_child="hang")]
    with pytest.raises(RuntimeError, match="the workbook failed"), Aside(jobs, workers=1) as aside:
        child = next(iter(aside._children))
        raise RuntimeError("the workbook failed")
    assert not psutil.pid_exists(child)  # killed and reaped, not a zombie
    assert not (tmp_path / "a.png").exists()


def test_no_fork_beside_another_thread_or_on_one_core(tmp_path: Path) -> None:
    stop = threading.Event()
    other = threading.Thread(target=stop.wait, daemon=True)
    other.start()
    try:
        assert workers_for(6) == 0  # a lock held by that thread would stay held in a child
    finally:
        stop.set()
        other.join()
    if threading.active_count() == 1:  # (pytest itself may run a thread)
        assert workers_for(6) == min(len(os.sched_getaffinity(0)) - 1, 6)
    assert workers_for(1) == 0
    jobs = [_writer(tmp_path / f"{i}.png") for i in range(3)]
    with Aside(jobs, workers=0) as aside:
        assert not aside._children
    aside.finish()
    assert _pids([p for p, _ in jobs]) == [os.getpid()] * 3
