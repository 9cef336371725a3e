"""What ``splitbench explore`` serves, and to whom (issue 18, item 1): a real ``explore`` on a
sweep of some splits, asked for host files by its own user with the token, by the same user
without it or under another Host name, by another local user (``nobody``) and by the emulated
phone's shell. Only the run's node-data files and model are served, only with the token."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from emulator_helpers import client
from explore_helpers import Viewer, explore, http, sweep_some
from splitbench.emulator import DEFAULT_SERIAL as SERIAL
from splitbench.emulator import AdbEmulator
from splitbench.explorer import EXPLORER_DIR

READ = "/api/v1/read_text_file?path="
CONVERT = "/apipost/v1/send_command"
#: A client for other users and the phone: one JSON line [status, body] per URL, no proxy.
CLIENT = """
import json, sys, urllib.error, urllib.request
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
for url in sys.argv[1:]:
    try:
        with opener.open(url, timeout=30) as resp:
            answer = [resp.status, resp.read().decode(errors="replace")]
    except urllib.error.HTTPError as err:
        answer = [err.code, err.read().decode(errors="replace")]
    except OSError as err:
        answer = [None, repr(err)]
    print(json.dumps(answer))
"""


@pytest.fixture(scope="module")
def secret(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A host file only its owner can read (in a 0700 directory, itself 0600)."""
    path = tmp_path_factory.mktemp("secret") / "host-only.txt"
    path.write_text(f"host only {secrets.token_hex(8)}\n")
    path.chmod(0o600)
    return path


@pytest.fixture(scope="module")
def served(
    chain_tflite: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Viewer, Path]]:
    """``explore`` on a sweep with ``--splits`` (that crashed before: item 10)."""
    run = sweep_some(chain_tflite, tmp_path_factory.mktemp("guard") / "run")
    with explore(run) as viewer:
        yield viewer, run
    assert viewer.returncode == 0, viewer.output


def _read(viewer: Viewer, path: str) -> str:
    return f"{viewer.base}{READ}{quote(path)}"


def _node_file(run: Path) -> Path:
    return (run / EXPLORER_DIR / "client_ms.json").resolve()


def _convert(viewer: Viewer, model: str, **extra: object) -> tuple[int, str]:
    body = {
        "extensionId": "builtin_tflite_flatbuffer",
        "cmdId": "convert",
        "modelPath": model,
        "settings": {},
        "deleteAfterConversion": False,
        **extra,
    }
    headers = {"Authorization": f"token {viewer.token}", "Content-Type": "application/json"}
    status, text, _ = http(
        f"{viewer.base}{CONVERT}", headers=headers, data=json.dumps(body).encode()
    )
    return status, text


def test_only_the_runs_files_are_served(served: tuple[Viewer, Path], secret: Path) -> None:
    viewer, run = served
    auth = {"Authorization": f"token {viewer.token}"}
    node = _node_file(run)
    status, body, _ = http(_read(viewer, str(node)), headers=auth)
    assert status == 200 and json.loads(body)["content"] == node.read_text()
    hidden = secret.read_text()
    for path in (
        str(secret),
        "/etc/shadow",
        "/etc/passwd",
        str(run / "run.json"),
        f"{node.parent}/../run.json",
        f"{node.parent}/../{EXPLORER_DIR}/{node.name}",
        "~/.bashrc",
        f"{node}x",
    ):
        status, body, _ = http(_read(viewer, path), headers=auth)
        assert status == 403 and hidden not in body and "root:" not in body, path
    # a node-data file swapped for a link to a host file is not followed
    kept = node.read_bytes()
    node.unlink()
    node.symlink_to(secret)
    try:
        status, body, _ = http(_read(viewer, str(node)), headers=auth)
        assert status == 403 and hidden not in body
    finally:
        node.unlink()
        node.write_bytes(kept)

    # The run's model is converted for the page; no other file, no other command.
    model = str(Path(json.loads((run / "run.json").read_text())["model_path"]).resolve())
    status, body = _convert(viewer, model)
    assert status == 200 and "graphCollections" in body, body[:300]
    for path in (str(secret), "/etc/shadow", str(node)):
        assert _convert(viewer, path)[0] == 403, path
    assert _convert(viewer, model, deleteAfterConversion=True)[0] == 403  # would delete its dir
    assert _convert(viewer, model, cmdId="__init__")[0] == 403
    # uploads, config changes and the rest of Model Explorer's API are not served
    for method_path, data in (
        ("/apipost/v1/upload", b"x"),
        ("/apipost/v1/update_config", b"{}"),
        ("/apipost/v1/refresh_page", b""),
        (f"/api/v1/send_command?json={quote(json.dumps({'cmdId': 'convert'}))}", None),
        (f"/api/v1/notify_user_provided_model_path?path={quote(str(secret))}", None),
        ("/api/v1/load_graphs_json?graph_index=0", None),
    ):
        status, _, _ = http(f"{viewer.base}{method_path}", headers=auth, data=data)
        assert status == 403, method_path
    # what the page itself needs is there
    notify = f"/api/v1/notify_user_provided_model_path?path={quote(model)}"
    for path in ("/", "/api/v1/get_extensions", notify):
        assert http(f"{viewer.base}{path}", headers=auth)[0] == 200, path
    assert Path(model).is_file()


def test_the_token_and_the_host_name_are_required(served: tuple[Viewer, Path]) -> None:
    viewer, run = served
    assert len(viewer.token) >= 32  # unguessable, in the one URL printed
    node = _node_file(run)
    url = _read(viewer, str(node))
    content = node.read_text()
    for headers, query in (
        ({}, ""),
        ({}, "&token=wrong"),
        ({"Authorization": "token wrong"}, ""),
        ({"Cookie": f"splitbench_explore_{viewer.port}=wrong"}, ""),
        ({"Authorization": viewer.token}, ""),  # without the "token " scheme
    ):
        status, body, _ = http(url + query, headers=headers)
        assert status == 403 and content not in body, (headers, query)
    assert http(f"{viewer.base}/", headers={})[0] == 403  # not even the page
    # The right token under another Host name (DNS rebinding) is refused.
    tokened = f"{url}&token={viewer.token}"
    for host in (f"evil.example:{viewer.port}", "127.0.0.1", f"127.0.0.1:{viewer.port + 1}"):
        status, body, _ = http(tokened, headers={"Host": host})
        assert status == 403 and content not in body, host
    assert http(tokened, headers={"Host": f"localhost:{viewer.port}"})[0] == 200
    # The tokened URL sets the token as a cookie the page's own requests then carry.
    status, _, headers = http(f"{viewer.base}/?token={viewer.token}")
    cookie = headers.get("Set-Cookie", "")
    assert status == 200 and f"splitbench_explore_{viewer.port}={viewer.token}" in cookie
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    jar = {"Cookie": cookie.split(";")[0]}
    assert http(url, headers=jar)[0] == 200
    # ... but not from a page of another origin.
    status, _ = http(
        f"{viewer.base}{CONVERT}",
        headers={**jar, "Origin": "http://evil.example", "Content-Type": "application/json"},
        data=b"{}",
    )[:2]
    assert status == 403


def _client_answers(output: str) -> list[tuple[int | None, str]]:
    return [tuple(json.loads(line)) for line in output.splitlines() if line.startswith("[")]  # type: ignore[misc]


@pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("setpriv") is None,
    reason="switching to another local user needs root and setpriv",
)
def test_another_local_user_gets_no_host_file(served: tuple[Viewer, Path], secret: Path) -> None:
    viewer, run = served
    as_nobody = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]
    env = {"PATH": "/usr/bin:/bin"}
    # The secret is out of nobody's reach on the file system...
    direct = subprocess.run(
        [*as_nobody, "cat", str(secret)], capture_output=True, text=True, timeout=30, env=env
    )
    assert direct.returncode != 0 and secret.read_text() not in direct.stdout
    # ... and through the viewer (the port is open to every local user).
    urls = [
        f"{viewer.base}/check_health",
        _read(viewer, str(secret)),
        _read(viewer, "/etc/shadow"),
        _read(viewer, str(_node_file(run))),
        f"{viewer.base}/",
    ]
    proc = subprocess.run(
        [*as_nobody, sys.executable, "-I", "-c", CLIENT, *urls],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    answers = _client_answers(proc.stdout)
    assert [status for status, _ in answers] == [403] * len(urls), answers
    assert all(secret.read_text() not in body and "root:" not in body for _, body in answers)


def test_the_emulated_phone_gets_no_host_file(
    served: tuple[Viewer, Path], secret: Path, adb_emulator: AdbEmulator
) -> None:
    """The phone's shell shares the host's network, so 127.0.0.1:PORT is the viewer."""
    viewer, run = served
    d = client(adb_emulator).device(SERIAL)
    d.sync.push(CLIENT.encode(), "/data/local/tmp/get.py")
    urls = [
        f"{viewer.base}/check_health",
        _read(viewer, str(secret)),
        _read(viewer, "/etc/shadow"),
        _read(viewer, str(_node_file(run))),
    ]
    quoted = " ".join(f"'{u}'" for u in urls)
    out = d.shell2(f"{sys.executable} -I /data/local/tmp/get.py {quoted}", v2=True)
    answers = _client_answers(out.stdout)
    assert [status for status, _ in answers] == [403] * len(urls), (answers, out.stderr)
    assert all(secret.read_text() not in body and "root:" not in body for _, body in answers)
