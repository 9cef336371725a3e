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
from executorch_models import SORT_UNIT, write_bad_models, write_models


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
    assert len(predicted) >= 4, (direct_run / "run.json").read_text()
    for k in predicted:
        assert not math.isnan(num(rows[k]["client_ms_diff"]))
    # both sides corrected to the real program and calibrated: said once for the run
    note = json.loads((direct_run / "run.json").read_text())["notes"]["prediction_note"]
    assert note.count("per-operator ETDump corrected") in (1, 2), note  # "client and server: …"
    assert "to the directly measured whole model" in note, note
    evidence = direct_run / "evidence" / "host"
    assert list(evidence.glob("*/*.etdump")) and list(evidence.glob("*/*.etrecord"))


def test_collate_prints_what_the_etdump_held(direct_run: Path) -> None:
    evidence = direct_run / "evidence" / "host"
    etdump = next(evidence.glob("*/*.etdump"))
    etrecord = etdump.with_name(next(etdump.parent.glob("*.etrecord")).name)
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
        "--jobs",  # in-process lowering: worker processes are the direct sweep's (and cost
        "1",  # about 12 CPU-s each to start)
        *FAST,
    ).ok()  # type: ignore[attr-defined]
    assert "profile-then-verify measured directly only splits" in result.stdout
    rows = rows_by_split(out / "splits.csv")
    measured = [k for k, r in rows.items() if r["lossless"] == "True"]
    assert measured and all(not math.isnan(num(rows[k]["client_ms_predicted"])) for k in measured)
    # The predicted splits stay in the table (not filler): every row has a time of some kind.
    assert len(rows) > len(measured)
    for k, r in rows.items():
        times = [num(r[c]) for c in ("client_ms", "client_ms_predicted", "server_ms_predicted")]
        assert not all(math.isnan(t) for t in times), (k, r)


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
        "--jobs",
        "1",
        *FAST,
    ).ok()  # type: ignore[attr-defined]
    rows = rows_by_split(out / "splits.csv")
    assert all(r["lossless"] == "True" for r in rows.values())
    assert all(num(rows[k]["client_ms"]) > 0 for k in rows if k > 0)
    evidence = list((out / "evidence").glob("adb_*/*/*.etdump"))
    assert evidence


def test_a_pte_as_the_model_is_one_line(direct_run: Path, tmp_path: Path) -> None:
    pte = next((direct_run / "model" / "pytorch").glob("*.pte"))
    mine = tmp_path / "mine.pte"
    mine.write_bytes(pte.read_bytes())
    result = run_cli("inspect", mine)
    assert_one_line_error(result, "cannot be split again", "give the PyTorch model")


@pytest.fixture(scope="module")
def bad_src(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_bad_models(tmp_path_factory.mktemp("etbad"))


def test_an_operator_without_a_kernel_fails_only_the_parts_holding_it(
    bad_src: Path, tmp_path: Path
) -> None:
    out = tmp_path / "sorted"
    result = run_cli(
        "sweep",
        f"{bad_src}:sorted_values",
        "--format",
        "executorch",
        "--out",
        out,
        "--jobs",
        "1",
        *FAST,
    )
    # The other parts are measured and the table written; the exit is not 0 over the holes,
    # and the last line names the operator.
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.describe()  # type: ignore[attr-defined]
    last = result.stderr_lines[-1]  # type: ignore[attr-defined]
    assert last.startswith("splitbench: error:") and "parts not measured" in last, last
    assert "aten::sort.values" in last, last
    assert f"not measured: split {SORT_UNIT + 1} head on host: " in result.stderr  # type: ignore[attr-defined]
    rows = rows_by_split(out / "splits.csv")
    n = 4
    assert sorted(rows) == list(range(n + 1))
    for k, row in rows.items():
        for side, has_it, empty in (
            ("client", k > SORT_UNIT, k == 0),
            ("server", k <= SORT_UNIT, k == n),
        ):
            error, ms = row[f"{side}_error"], num(row[f"{side}_ms"])
            if has_it:
                assert "aten::sort.values" in error and "no kernel" in error, (k, side, error)
                assert math.isnan(ms), (k, side, ms)
            else:
                assert error == "", (k, side, error)
                assert ms == 0 if empty else ms > 0, (k, side, ms)
        assert int(row["head_model_bytes"]) > 0 or k == 0


def test_an_operator_that_cannot_be_lowered_is_one_line(bad_src: Path, tmp_path: Path) -> None:
    custom = run_cli(
        "sweep", f"{bad_src}:custom_op", "--format", "executorch", "--out", tmp_path / "c", *FAST
    )
    assert_one_line_error(custom, "cannot lower", "sbtest::twist")  # type: ignore[arg-type]
    # Again into the same run directory: the export is read from its cache, which works only
    # once the file that registers the custom operator has been imported.
    again = run_cli(
        "sweep", f"{bad_src}:custom_op", "--format", "executorch", "--out", tmp_path / "c", *FAST
    )
    assert_one_line_error(again, "cannot lower", "sbtest::twist")  # type: ignore[arg-type]
    complex_abs = run_cli(
        "sweep", f"{bad_src}:complex_abs", "--format", "executorch", "--out", tmp_path / "z", *FAST
    )
    assert_one_line_error(complex_abs, "edge dialect", "aten.abs")  # type: ignore[arg-type]
