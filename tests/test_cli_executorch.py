"""ExecuTorch through the installed command, as a user runs it: a direct host sweep of a small
branchy module (every split lossless, predicted columns from the ETDump, parts lowered in
worker processes), profile-then-verify on the host, collate of the kept ETDump, the emulated
phone end to end, and the one-line refusals."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from cli_helpers import FAST, assert_one_line_error, num, rows_by_split
from cli_helpers import run_cli as _run_cli
from executorch_models import write_models


def run_cli(*args: object) -> object:
    return _run_cli(*args, timeout=1500)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def src(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_models(tmp_path_factory.mktemp("etsrc"))


@pytest.fixture(scope="module")
def direct_run(src: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("etrun") / "run"
    result = run_cli(
        "sweep", f"{src}:forked", "--format", "executorch", "--out", out, "--jobs", "2", *FAST
    )
    result.ok()  # type: ignore[attr-defined]
    return out


def test_direct_host_sweep_is_lossless_with_predictions(direct_run: Path) -> None:
    rows = rows_by_split(direct_run / "splits.csv")
    assert sorted(rows) == list(range(10))  # 9 units, splits 0..9
    assert all(row["lossless"] == "True" for row in rows.values())
    conversion = {row["conversion_max_abs_diff"] for row in rows.values()}
    assert len(conversion) == 1 and 0 <= float(conversion.pop()) < 1e-4
    assert max(len(json.loads(r["cut_tensors"])) for r in rows.values()) == 2
    for k in range(1, 9):  # every inner split measured on both sides
        assert num(rows[k]["client_ms"]) > 0 and num(rows[k]["server_ms"]) > 0
        assert int(rows[k]["head_model_bytes"]) > 0 and int(rows[k]["tail_model_bytes"]) > 0
    predicted = [k for k in range(1, 9) if not math.isnan(num(rows[k]["client_ms_predicted"]))]
    assert len(predicted) >= 4, [rows[k]["prediction_note"] for k in range(1, 9)]
    for k in predicted:
        assert not math.isnan(num(rows[k]["client_ms_diff"]))
    evidence = direct_run / "evidence" / "host"
    assert list(evidence.glob("*.etdump")) and list(evidence.glob("*.etrecord"))


def test_collate_prints_what_the_etdump_held(direct_run: Path) -> None:
    evidence = direct_run / "evidence" / "host"
    etdump = next(evidence.glob("*.etdump"))
    etrecord = next(evidence.glob("*.etrecord"))
    result = run_cli("collate", "--profile", etdump, "--etrecord", etrecord).ok()  # type: ignore[attr-defined]
    lines = result.stdout.strip().splitlines()
    assert lines[0].startswith("block,event,op_types,debug_handles")
    assert any(",DELEGATE_CALL," in line for line in lines)
    assert_one_line_error(run_cli("collate", "--profile", etdump), "--etrecord")


def test_profile_then_verify_on_the_host(src: Path, tmp_path: Path) -> None:
    out = tmp_path / "ptv"
    result = run_cli(
        "sweep",
        f"{src}:forked",
        "--format",
        "executorch",
        "--strategy",
        "profile-then-verify",
        "--out",
        out,
        *FAST,
    ).ok()  # type: ignore[attr-defined]
    assert "profile-then-verify measured directly only splits" in result.stdout
    rows = rows_by_split(out / "splits.csv")
    measured = [k for k, r in rows.items() if r["lossless"] == "True"]
    assert measured and all(not math.isnan(num(rows[k]["client_ms_predicted"])) for k in measured)


def test_emulated_phone_sweep(src: Path, tmp_path: Path, adb_emulator: object) -> None:
    out = tmp_path / "phone"
    port = adb_emulator.port  # type: ignore[attr-defined]
    run_cli(
        "sweep",
        f"{src}:weight_permute",
        "--format",
        "executorch",
        "--client",
        "adb",
        "--adb-port",
        str(port),
        "--out",
        out,
        *FAST,
    ).ok()  # type: ignore[attr-defined]
    rows = rows_by_split(out / "splits.csv")
    assert all(r["lossless"] == "True" for r in rows.values())
    assert all(num(rows[k]["client_ms"]) > 0 for k in rows if k > 0)
    evidence = list((out / "evidence").glob("adb_*/*.etdump"))
    assert evidence


def test_a_pte_as_the_model_is_one_line(direct_run: Path, tmp_path: Path) -> None:
    pte = next((direct_run / "model" / "pytorch").glob("*.pte"))
    mine = tmp_path / "mine.pte"
    mine.write_bytes(pte.read_bytes())
    result = run_cli("inspect", mine)
    assert_one_line_error(result, "cannot be split again", "give the PyTorch model")
