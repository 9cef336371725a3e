"""``splitbench explore`` as a real process for the viewer tests: started on a run directory,
its tokened URL read from its output, stopped with Ctrl-C (SIGINT) at the end; and a plain HTTP
client that shows what any caller gets (status, body, headers)."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import Message
from pathlib import Path

from cli_helpers import FAST, SPLITBENCH, cli_env, run_cli

# The token is optional here so that a viewer without one fails the tests that ask for it.
URL_LINE = re.compile(r"open (http://127\.0\.0\.1:(\d+)/\?(?:token=([\w-]+)&)?data=\S+)")
# No proxy from the environment: these requests are for 127.0.0.1 itself.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclass
class Viewer:
    proc: subprocess.Popen[str]
    url: str = ""
    port: int = 0
    token: str = ""
    lines: list[str] = field(default_factory=list)
    accepted_at_first_sight: bool = False  # a connection to the printed port succeeded at once
    returncode: int | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def output(self) -> str:
        return "".join(self.lines)


def http(
    url: str, *, headers: dict[str, str] | None = None, data: bytes | None = None
) -> tuple[int, str, Message]:
    """Status, body and headers of one request; an HTTP error status is an answer too."""
    request = urllib.request.Request(url, data=data, headers=headers or {})
    try:
        with _OPENER.open(request, timeout=30) as resp:
            return resp.status, resp.read().decode(errors="replace"), resp.headers
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode(errors="replace"), err.headers


def sweep_some(chain: Path, out: Path) -> Path:
    """A sweep of splits 0 and 2 only: the other splits have no times (pd.NA in the table)."""
    run_cli("sweep", chain, "--out", out, "--splits", "0,2", *FAST).ok()
    return out


def _accepts(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
    except OSError:
        return False
    return True


def _wait_ready(viewer: Viewer, timeout: float) -> None:
    url = f"{viewer.base}/check_health?token={viewer.token}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert viewer.proc.poll() is None, viewer.output
        try:
            if http(url)[0] == 200:
                return
        except OSError:
            time.sleep(0.5)
    raise AssertionError(f"{url} did not answer within {timeout} s")


@contextmanager
def explore(run: Path, *args: str, timeout: float = 240) -> Iterator[Viewer]:
    """``splitbench explore RUN`` serving; on exit Ctrl-C, then ``returncode`` and the rest
    of its output are on the Viewer (killed if it does not stop within a minute)."""
    proc = subprocess.Popen(
        [str(SPLITBENCH), "explore", str(run), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=cli_env(),
    )
    viewer = Viewer(proc)
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + timeout
        while not viewer.url and time.monotonic() < deadline:
            line = proc.stdout.readline()
            assert line, "explore exited early:\n" + viewer.output
            viewer.lines.append(line)
            found = URL_LINE.search(line)
            if found:
                viewer.url, viewer.port, viewer.token = found[1], int(found[2]), found[3] or ""
                viewer.accepted_at_first_sight = _accepts(viewer.port)
        assert viewer.url, viewer.output
        _wait_ready(viewer, timeout)
        yield viewer
        proc.send_signal(signal.SIGINT)  # what Ctrl-C sends
        rest, _ = proc.communicate(timeout=60)
        viewer.lines.append(rest)
        viewer.returncode = proc.returncode
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
