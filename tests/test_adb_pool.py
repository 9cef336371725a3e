"""Phones over several adb servers, the library side: server and phone names, the survey of two
emulated adb servers on two loopback ports, servers that are absent, silent or speak another
protocol, and the bounded content-hash cache on the phone (least recently used out first).

Real sockets and real emulated adb servers throughout; the "wrong protocol" and "silent" servers
are real TCP listeners on loopback."""

from __future__ import annotations

import os
import posixpath
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from splitbench.emulator import AdbEmulator, EmulatedDeviceSpec
from splitbench.errors import DeviceError, SplitbenchError
from splitbench.measure.types import RunSettings
from splitbench.targets.adb import (
    AdbServer,
    AdbTarget,
    PhoneRef,
    file_label,
    parse_phone,
    parse_server,
    resolve_phones,
    survey,
)
from splitbench.targets.adb.phone import list_pool
from splitbench.targets.binaries import file_sha256

FAST = RunSettings(threads=1, warmup_runs=0, warmup_min_secs=0.0, num_runs=2, min_secs=0.0)
PARTS = "/data/local/tmp/splitbench/parts"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _server(emu: AdbEmulator) -> AdbServer:
    return AdbServer("127.0.0.1", emu.port)


@pytest.fixture
def two_servers(tmp_path: Path) -> Iterator[tuple[AdbEmulator, AdbEmulator]]:
    """Two adb servers on two loopback ports; ``emu-x`` hangs off both (as two Android
    emulators on two lab machines are both ``emulator-5554``)."""
    a = AdbEmulator(port=0, devices=["emu-a", "emu-x"], root=tmp_path / "a")
    b = AdbEmulator(
        port=0,
        devices=["emu-b", "emu-x", EmulatedDeviceSpec("emu-locked", state="unauthorized")],
        root=tmp_path / "b",
    )
    with a, b:
        yield a, b


# -- names -----------------------------------------------------------------------------------------


def test_server_and_phone_names() -> None:
    assert parse_server("10.0.0.2:5037") == AdbServer("10.0.0.2", 5037)
    assert parse_server("phones.lab:15037").label == "phones.lab:15037"
    assert parse_server("[::1]:5037") == AdbServer("::1", 5037)
    assert parse_server("[::1]:5037").label == "[::1]:5037"
    assert parse_server("local", adb_port=5099) == AdbServer("127.0.0.1", 5099, local=True)
    for bad in ("10.0.0.2", "host:port", "a b:5037", ":5037", "h:99999", "h:0"):
        with pytest.raises(SplitbenchError) as err:
            parse_server(bad)
        assert "\n" not in str(err.value)
    assert parse_phone("adb:R58M") == (None, "R58M")
    # adb over TCP: the serial itself is HOST:PORT; only HOST:PORT/ names a server
    assert parse_phone("adb:192.168.1.5:5555") == (None, "192.168.1.5:5555")
    assert parse_phone("adb:10.0.0.2:5037/192.168.1.5:5555") == (
        AdbServer("10.0.0.2", 5037),
        "192.168.1.5:5555",
    )
    ref = PhoneRef(AdbServer("10.0.0.2", 5037), "R58M", qualified=True)
    assert ref.name == "adb:10.0.0.2:5037/R58M"
    assert file_label(ref.name) == "adb_10.0.0.2_5037_R58M"
    assert file_label("adb:R58M") == "adb_R58M"


# -- two servers -----------------------------------------------------------------------------------


def test_every_phone_of_two_servers_with_its_server(
    two_servers: tuple[AdbEmulator, AdbEmulator],
) -> None:
    a, b = two_servers
    sa, sb = _server(a), _server(b)
    found = survey([sa, sb])
    assert not found.errors
    names = sorted(ref.name for ref in resolve_phones(["all"], [sa, sb], found=found))
    assert names == sorted(
        ["adb:emu-a", "adb:emu-b", f"adb:{sa.label}/emu-x", f"adb:{sb.label}/emu-x"]
    )
    # a serial on two servers: the short name is refused with one line naming both
    with pytest.raises(DeviceError) as err:
        resolve_phones(["adb:emu-x"], [sa, sb])
    assert str(err.value) == (
        f"phone emu-x is on 2 adb servers: name one, adb:{sa.label}/emu-x and adb:{sb.label}/emu-x"
    )
    (ref,) = resolve_phones([f"adb:{sb.label}/emu-x"], [sa, sb])
    assert (ref.server, ref.serial, ref.name) == (sb, "emu-x", f"adb:{sb.label}/emu-x")
    (ref,) = resolve_phones(["adb:emu-b"], [sa, sb])
    assert ref.server == sb and ref.name == "adb:emu-b"
    with pytest.raises(DeviceError, match="emu-locked is unauthorised"):
        resolve_phones(["adb:emu-locked"], [sa, sb])
    # a phone named with its server is found even when that server was not listed
    (ref,) = resolve_phones([f"adb:{sb.label}/emu-b"], [sa])
    assert ref.server == sb
    # each phone answers on its own server: the shell runs on the right emulated phone
    listing = list_pool([sa, sb])
    by_name = {r.name: facts for r, facts in listing.phones}
    assert set(by_name) == {
        "adb:emu-a",
        "adb:emu-b",
        "adb:emu-locked",
        f"adb:{sa.label}/emu-x",
        f"adb:{sb.label}/emu-x",
    }
    assert by_name["adb:emu-locked"].state == "unauthorized"
    assert by_name[f"adb:{sb.label}/emu-x"].serial == "emu-x"


def test_a_server_that_goes_away_is_one_line_and_the_other_still_answers(
    two_servers: tuple[AdbEmulator, AdbEmulator],
) -> None:
    a, b = two_servers
    sa, sb = _server(a), _server(b)
    b.stop()
    found = survey([sa, sb], timeout=5)
    assert set(found.entries) == {sa}
    line = found.errors[sb]
    assert line.startswith(f"adb server {sb.label} does not answer") and "\n" not in line
    refs = resolve_phones(["all"], [sa, sb], found=found)
    # emu-x is now only on one server, so it takes its short name again
    assert sorted(r.name for r in refs) == ["adb:emu-a", "adb:emu-x"]
    with pytest.raises(DeviceError) as err:
        resolve_phones(["adb:emu-b"], [sa, sb])
    assert "no phone emu-b is connected" in str(err.value) and sb.label in str(err.value)
    a.stop()
    with pytest.raises(DeviceError) as err:
        resolve_phones(["all"], [sa, sb], timeout=5)
    assert str(err.value).startswith("no adb server answered: ")


class _Listener:
    """A real TCP server on loopback that is not an adb server: it greets like SSH, or
    accepts and never says a word."""

    def __init__(self, greeting: bytes | None) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.greeting = greeting
        self.conns: list[socket.socket] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(conn)
            if self.greeting is not None:
                conn.sendall(self.greeting)

    def close(self) -> None:
        self.sock.close()
        for conn in self.conns:
            conn.close()


def test_another_protocol_or_a_silent_server_times_out_with_one_line(tmp_path: Path) -> None:
    ssh = _Listener(b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n")
    silent = _Listener(None)
    try:
        with AdbEmulator(port=0, devices=["emu-a"], root=tmp_path / "emu") as good:
            servers = [AdbServer("127.0.0.1", ssh.port), AdbServer("127.0.0.1", silent.port)]
            started = time.monotonic()
            found = survey([*servers, _server(good)], timeout=2)
            elapsed = time.monotonic() - started
        assert elapsed < 10  # asked in parallel, each under its own timeout
        assert [r.serial for r in found.ready()] == ["emu-a"]
        assert found.errors[servers[0]] == (
            f"127.0.0.1:{ssh.port} does not speak the adb protocol (Unknown data: b'SSH-'); "
            "is that the adb server's port?"
        )
        assert (
            found.errors[servers[1]]
            == f"adb server 127.0.0.1:{silent.port} did not answer within 2 s"
        )
    finally:
        ssh.close()
        silent.close()


def test_serial_with_shell_characters_is_one_line_and_never_run(tmp_path: Path) -> None:
    marker = tmp_path / "x"
    with (
        AdbEmulator(port=0, devices=["emu-a"], root=tmp_path / "emu") as emu,
        pytest.raises(DeviceError) as err,
    ):
        resolve_phones([f"adb:emu;touch {marker}"], [_server(emu)])
    assert str(err.value) == (
        f"no phone 'emu;touch {marker}' is connected (adb sees: emu-a (device))"
    )
    assert not marker.exists()


# -- the bounded cache on the phone ----------------------------------------------------------------


def _blob(tmp_path: Path, name: str, size: int) -> Path:
    path = tmp_path / name
    path.write_bytes(os.urandom(size))
    return path


def _cached(target: AdbTarget) -> set[str]:
    return {n for n, mode, _s, _m in target.phone.list_dir(PARTS) if n.endswith(".tflite")}


def _remote_name(part: Path) -> str:
    return f"{file_sha256(part)[:16]}.tflite"


def test_cache_is_bounded_and_drops_the_least_recently_used(tmp_path: Path) -> None:
    p1, p2, p3, p4 = (_blob(tmp_path, f"p{i}.tflite", 3000) for i in range(1, 5))
    with AdbEmulator(port=0, devices=["emu-a"], root=tmp_path / "emu") as emu:
        t = AdbTarget("emu-a", adb_port=emu.port, run_dir=tmp_path / "run", device_cache_mb=0.01)
        outside = "/data/local/tmp/users_own.bin"
        t.phone.check_shell(f"echo mine > {outside}", "writing a file of the user's")
        assert [t.upload_part(p)[1] for p in (p1, p2, p3)] == [3000, 3000, 3000]
        assert t.upload_part(p1)[1] == 0  # cached: nothing pushed twice; p1 is now recent
        assert t.upload_part(p4)[1] == 3000  # 12 kB > 10 kB: p2, the least recently used, goes
        assert _cached(t) == {_remote_name(p) for p in (p1, p3, p4)}
        assert t.bytes_pushed == 12000
        assert t.phone.check_shell(f"cat {outside}", "reading it back").strip() == "mine"
        # a rerun (a new target, the cache read back from the phone) pushes nothing it holds
        again = AdbTarget(
            "emu-a", adb_port=emu.port, run_dir=tmp_path / "run", device_cache_mb=0.01
        )
        assert [again.upload_part(p)[1] for p in (p1, p3, p4)] == [0, 0, 0]
        big = _blob(tmp_path, "big.tflite", 20000)
        with pytest.raises(DeviceError) as err:
            again.upload_part(big)
        assert str(err.value) == (
            f"{_remote_name(big)} (0.0 MB) is larger than the phone cache bound "
            "--device-cache-mb 0.01: raise --device-cache-mb"
        )


def test_measuring_a_part_marks_it_used_on_the_phone(tmp_path: Path, chain_tflite: Path) -> None:
    """The order survives between runs: a part measured last is kept over one only pushed."""
    size = chain_tflite.stat().st_size
    older = _blob(tmp_path, "older.tflite", size)
    newer = _blob(tmp_path, "newer.tflite", size)
    with AdbEmulator(port=0, devices=["emu-a"], root=tmp_path / "emu") as emu:
        t = AdbTarget("emu-a", adb_port=emu.port, run_dir=tmp_path / "run")
        t.upload_part(chain_tflite)
        time.sleep(1.1)  # mtimes have one-second resolution
        t.upload_part(older)
        time.sleep(1.1)
        assert t.measure(chain_tflite, FAST).ok  # touches the chain part on the phone
        rerun = AdbTarget("emu-a", adb_port=emu.port, run_dir=tmp_path / "run")
        rerun._ensure_dirs()
        rerun.uploads.pinned |= {r for r in rerun.uploads.index() if "/bin/" in r}
        # a bound one byte short of holding everything plus the new part: one part must go
        rerun.uploads.limit = rerun.uploads.held_bytes() + size - 1
        assert rerun.upload_part(newer)[1] == size
        kept = _cached(rerun)
        assert _remote_name(chain_tflite) in kept and _remote_name(older) not in kept


def test_full_phone_gives_back_cached_parts_then_says_what_the_kit_holds(tmp_path: Path) -> None:
    p1, p2 = _blob(tmp_path, "p1.tflite", 40000), _blob(tmp_path, "p2.tflite", 40000)
    with AdbEmulator(port=0, devices=["emu-a"], root=tmp_path / "emu") as emu:
        t = AdbTarget("emu-a", adb_port=emu.port, run_dir=tmp_path / "run")
        t.upload_part(p1)
        emu.device("emu-a").fill_storage()
        # a full phone that holds the kit's old parts resumes by itself: p1 makes room for p2
        assert t.upload_part(p2)[1] == 40000
        assert _cached(t) == {_remote_name(p2)}
        emu.device("emu-a").fill_storage()
        big = _blob(tmp_path, "big.tflite", 120000)
        with pytest.raises(DeviceError) as err:
            t.upload_part(big)
    message = str(err.value)
    assert message.startswith(f"no space left on phone emu-a: pushing {_remote_name(big)} ")
    assert message.endswith(
        "(the kit holds 0.0 MB there in /data/local/tmp/splitbench; "
        "`splitbench clean adb:emu-a` removes it)"
    )
    assert "\n" not in message
    assert posixpath.basename(PARTS) in message
