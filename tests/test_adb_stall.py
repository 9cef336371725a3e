"""An adb server that lists a phone and then stalls: every command ends within its deadline with
one line, and SIGTERM ends a hung command at once with the usual line.

The stalling server is a real TCP listener on loopback speaking adb's host protocol: it answers
``host:version`` and ``host:devices`` (``-l``) and never answers anything else (a remote server
whose phone's USB link hung, or an SSH tunnel that stopped forwarding)."""

from __future__ import annotations

import signal
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_helpers import FAST, run_cli, start_cli, wait_for
from splitbench.emulator import AdbEmulator

SERIAL = "STALL01"


class StallingAdbServer:
    """Answers ``host:version`` and ``host:devices`` (one phone, ready), then stalls forever on
    any other request; counts the requests it left unanswered."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port: int = self.sock.getsockname()[1]
        self.stalled: list[tuple[float, str]] = []  # (time.monotonic(), request)
        self.conns: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def label(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    @staticmethod
    def _block(payload: str) -> bytes:
        data = payload.encode()
        return b"OKAY" + f"{len(data):04x}".encode() + data

    def _serve(self, conn: socket.socket) -> None:
        try:
            while True:
                head = conn.recv(4, socket.MSG_WAITALL)
                if len(head) < 4:
                    return
                request = conn.recv(int(head, 16), socket.MSG_WAITALL).decode()
                if request == "host:version":
                    conn.sendall(self._block(f"{41:04x}"))
                elif request in ("host:devices", "host:devices-l"):
                    conn.sendall(self._block(f"{SERIAL}\tdevice\n"))
                else:
                    self.stalled.append((time.monotonic(), request))
                    return  # the connection stays open and silent (closed by close())
        except (OSError, ValueError):
            return

    def close(self) -> None:
        self.sock.close()
        for conn in self.conns:
            conn.close()


@pytest.fixture
def stalling() -> Iterator[StallingAdbServer]:
    server = StallingAdbServer()
    try:
        yield server
    finally:
        server.close()


def _one_line(stderr: str) -> str:
    lines = [ln for ln in stderr.splitlines() if ln.strip() and not ln.startswith("progress:")]
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr, stderr
    return lines[0]


def test_devices_on_a_server_that_stalls_after_listing_ends_within_its_timeout(
    stalling: StallingAdbServer,
) -> None:
    started = time.monotonic()
    result = run_cli("devices", "--adb-server", stalling.label, "--adb-timeout", "2", timeout=60)
    elapsed = time.monotonic() - started
    assert elapsed < 2 + 6, (elapsed, result.describe())
    assert stalling.stalled, "the server was never asked past its listing"
    assert result.returncode != 0, result.describe()
    line = _one_line(result.stderr)
    assert line.startswith("splitbench: error:") and SERIAL in line, line
    assert "did not answer within 2 s" in line, line


def test_sweep_on_a_phone_whose_server_stalls_stops_it_within_its_timeout(
    stalling: StallingAdbServer, chain_tflite: Path, tmp_path: Path
) -> None:
    """The phone is stopped with one line at most 2 s (+ slack) after its server stalled; the
    sweep then finishes the server's parts, as for any phone lost, and exits non-zero."""
    err = tmp_path / "err.txt"
    out = tmp_path / "run"
    where = ("--adb-server", stalling.label, "--adb-timeout", "2")
    args = ("sweep", chain_tflite, "--out", out, "--client", f"adb:{SERIAL}", *where, *FAST)
    proc = start_cli(*args, "--splits", "1", stdout_path=tmp_path / "out.txt", stderr_path=err)
    try:

        def stopped() -> bool:
            return any(ln.startswith("stopped:") for ln in err.read_text().splitlines())

        assert wait_for(stopped, timeout=120, interval=0.05), err.read_text()
        seen = time.monotonic()
        code = proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert stalling.stalled, "the server was never asked past its listing"
    assert seen - stalling.stalled[0][0] < 2 + 3, (seen - stalling.stalled[0][0], err.read_text())
    lines = [ln for ln in err.read_text().splitlines() if ln.startswith(("stopped:", "splitbench"))]
    assert lines[0] == (
        f"stopped: adb:{SERIAL}: phone {SERIAL}: adb server {stalling.label} did not answer "
        "within 2 s while reading adb features"
    ), lines
    assert lines[1:] == [
        f"splitbench: error: 1 phone did not finish: adb:{SERIAL} — finished measurements are "
        "saved; rerun the same command to resume"
    ], lines
    assert code != 0 and "Traceback" not in err.read_text()


@pytest.mark.parametrize("command", ["devices", "sweep"])
def test_sigterm_ends_a_command_hung_on_a_stalling_server_with_the_usual_line(
    stalling: StallingAdbServer, chain_tflite: Path, tmp_path: Path, command: str
) -> None:
    """A long --adb-timeout keeps the command waiting on the silent server; SIGTERM ends it."""
    where = ("--adb-server", stalling.label, "--adb-timeout", "600")
    args: tuple[str | Path, ...] = ("devices", *where)
    if command == "sweep":
        out = tmp_path / "run"
        args = ("sweep", chain_tflite, "--out", out, "--client", f"adb:{SERIAL}", *where)
    err = tmp_path / "err.txt"
    proc = start_cli(*args, stdout_path=tmp_path / "out.txt", stderr_path=err)
    try:
        assert wait_for(lambda: bool(stalling.stalled), timeout=120), err.read_text()
        time.sleep(0.5)  # well inside the stalled request
        assert proc.poll() is None, err.read_text()
        sent = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=60)
        elapsed = time.monotonic() - sent
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert elapsed < 5, elapsed
    assert code == 128 + signal.SIGTERM, err.read_text()
    line = _one_line(err.read_text())
    assert line.startswith("splitbench: error: interrupted (SIGTERM)"), line


def test_sigterm_ends_a_sweep_whose_phone_hangs_in_a_measurement(
    chain_tflite: Path, tmp_path: Path
) -> None:
    """The measurement runs in the phone's lane thread under a deadline of minutes (--timeout);
    SIGTERM must not wait for it: the phone's requests in flight are ended at once."""
    serial = "HANG01"
    with AdbEmulator(port=0, devices=[serial], root=tmp_path / "emu") as emu:
        phone = emu.device(serial)
        phone.hang_on(r"runner\.sh -o")  # the measurement itself: a real process that never ends
        err = tmp_path / "err.txt"
        args = ("sweep", chain_tflite, "--out", tmp_path / "run", "--client", f"adb:{serial}")
        where = ("--adb-server", f"127.0.0.1:{emu.port}")
        proc = start_cli(*args, *where, *FAST, stdout_path=tmp_path / "out.txt", stderr_path=err)
        try:

            def hanging() -> bool:  # the emulator's fault was used up: the measurement hangs
                fault = phone._hang
                return fault is not None and fault.remaining == 0

            assert wait_for(hanging, timeout=300, interval=0.2), err.read_text()
            assert phone.running_pids(), err.read_text()
            time.sleep(0.5)
            assert proc.poll() is None, err.read_text()
            sent = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            code = proc.wait(timeout=120)
            elapsed = time.monotonic() - sent
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        assert elapsed < 5, (elapsed, err.read_text())
        assert code == 128 + signal.SIGTERM, err.read_text()
        line = _one_line(err.read_text())
        assert line == (
            "splitbench: error: interrupted (SIGTERM); finished measurements are saved — rerun "
            "the same command to resume"
        ), line
        assert wait_for(lambda: not phone.running_pids(), timeout=10)  # the session ended
