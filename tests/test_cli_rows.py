"""Which rows a table holds: the splits asked for, never filler — even where the host's profiler
predicts every split (an ONNX model on the host: ONNX Runtime's per-node profile)."""

from __future__ import annotations

import json
import math
from pathlib import Path

from cli_helpers import FAST, csv_header, num, rows_by_split, run_cli
from onnx_models import legacy_opset_model


def test_a_direct_sweep_with_predictions_holds_only_the_asked_splits(tmp_path: Path) -> None:
    model = legacy_opset_model(tmp_path / "m.onnx")
    out = tmp_path / "run"
    result = run_cli("sweep", model, "--out", out, "--splits", "0,3,14", *FAST).ok()
    rows = rows_by_split(out / "splits.csv")
    assert sorted(rows) == [0, 3, 14], result.describe()
    # The profile predicted the asked inner split (so it predicted the others too: not shown).
    assert not math.isnan(num(rows[3]["client_ms_predicted"]))
    assert "prediction_note" not in csv_header(out / "splits.csv")
    assert json.loads((out / "run.json").read_text())["splits"] == [0, 3, 14]
