"""Pictures drawn in forked children beside the rest of a report: real forks, real pipes, real
files; a child that fails, hangs or is left behind by an exception costs time, never a picture,
and no picture is drawn twice."""

from __future__ import annotations

import gc
import os
import threading
import time
from pathlib import Path

import psutil
import pytest
from splitbench.report.aside import Aside, workers_for


def _writer(path: Path, *, in_child: str = "", secs: float = 0.0) -> tuple[Path, object]:
    """A job appending the pid that ran it to ``path``; ``in_child``: what it does instead in a
    child (fail, hang); ``secs``: how long it takes."""
    parent = os.getpid()

    def draw() -> None:
        if os.getpid() != parent and in_child == "fail":
            raise RuntimeError("fails in the child only")
        if os.getpid() != parent and in_child == "hang":
            time.sleep(120)
        time.sleep(secs)
        with path.open("a") as f:
            f.write(f"{os.getpid()}\n")

    return path, draw


def _pids(paths: list[Path]) -> list[int]:
    """Who drew each picture; exactly once each."""
    drawn = [p.read_text().split() for p in paths]
    assert all(len(d) == 1 for d in drawn), drawn
    return [int(d[0]) for d in drawn]


def test_a_child_draws_while_the_parent_works(tmp_path: Path) -> None:
    jobs = [_writer(tmp_path / f"{i}.png") for i in range(5)]
    with Aside(jobs, workers=1) as aside:
        assert len(aside.children) == 1
        child = aside.children[0]
        time.sleep(1.0)  # the parent's own work: long enough for the child to draw them all
    assert gc.get_freeze_count() > 0  # no collection walks the pages the fork shares
    assert aside.finish() == [p for p, _ in jobs]
    assert _pids([p for p, _ in jobs]) == [child] * 5
    assert gc.get_freeze_count() == 0  # and once the children are done, all is collectable


def test_the_parent_takes_what_is_left_when_its_own_work_is_done(tmp_path: Path) -> None:
    jobs = [_writer(tmp_path / f"{i}.png", secs=0.4) for i in range(6)]
    t0 = time.monotonic()
    with Aside(jobs, workers=1) as aside:
        child = aside.children[0]  # no work of its own: the parent draws from the queue at once
    aside.finish()
    elapsed = time.monotonic() - t0
    drawers = _pids([p for p, _ in jobs])
    assert set(drawers) == {os.getpid(), child}  # both drew, none twice (_pids)
    assert elapsed < 6 * 0.4  # shared: sooner than one drawer alone


def test_a_child_that_fails_leaves_what_it_took_to_the_parent(tmp_path: Path) -> None:
    jobs = [_writer(tmp_path / f"{i}.png", in_child="fail") for i in range(3)]
    with Aside(jobs, workers=1) as aside:
        time.sleep(0.5)  # the child takes the first picture and fails on it
    aside.finish()
    assert _pids([p for p, _ in jobs]) == [os.getpid()] * 3


def test_a_child_past_the_deadline_is_killed_and_its_picture_drawn_here(tmp_path: Path) -> None:
    jobs = [_writer(tmp_path / f"{i}.png", in_child="hang") for i in range(2)]
    with Aside(jobs, workers=1, deadline_s=1.0) as aside:
        child = aside.children[0]
        time.sleep(0.3)  # the child takes picture 0 and hangs on it
    t0 = time.monotonic()
    aside.finish()
    assert time.monotonic() - t0 < 10
    assert _pids([p for p, _ in jobs]) == [os.getpid()] * 2
    assert not psutil.pid_exists(child)


def test_an_exception_in_the_parent_kills_the_children(tmp_path: Path) -> None:
    jobs = [_writer(tmp_path / f"{i}.png", in_child="hang") for i in range(2)]
    with pytest.raises(RuntimeError, match="the workbook failed"), Aside(jobs, workers=1) as aside:
        child = aside.children[0]
        raise RuntimeError("the workbook failed")
    assert not psutil.pid_exists(child)  # killed and reaped, not a zombie
    assert not any(p.exists() for p, _ in jobs)
    assert gc.get_freeze_count() == 0


def test_no_fork_beside_another_thread_on_one_core_or_for_one_picture(tmp_path: Path) -> None:
    stop = threading.Event()
    other = threading.Thread(target=stop.wait, daemon=True)
    other.start()
    try:
        assert workers_for(6) == 0  # a lock held by that thread would stay held in a child
    finally:
        stop.set()
        other.join()
    if threading.active_count() == 1:  # (pytest itself may run a thread)
        assert workers_for(6) == min(len(os.sched_getaffinity(0)) - 1, 5)
    assert workers_for(1) == 0
    jobs = [_writer(tmp_path / f"{i}.png") for i in range(3)]
    with Aside(jobs, workers=0) as aside:
        assert not aside.children
    aside.finish()
    assert _pids([p for p, _ in jobs]) == [os.getpid()] * 3
