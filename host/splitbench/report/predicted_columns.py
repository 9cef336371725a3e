"""Put the predicted timing method beside the direct one in a split table.

Direct: each head and tail file measured. Predicted: sums of one op-profiled whole-model run per
side. Both columns stay, with their difference, so a reader sees how far per-operator sums are
from what the split parts really cost.
"""

from __future__ import annotations

import pandas as pd

from splitbench.predict import NoPrediction, Prediction


def add_predicted_columns(
    table: pd.DataFrame,
    client: Prediction | NoPrediction,
    server: Prediction | NoPrediction,
    num_operators: int,
) -> pd.DataFrame:
    """Return ``table`` with ``client_ms_predicted``, ``server_ms_predicted`` and their
    differences to the direct columns (direct − predicted); NaN where unknown. Why a prediction
    is missing is said once for the run (:func:`prediction_note`), not on every row."""
    out = table.copy()
    nan = float("nan")

    def side(pred: Prediction | NoPrediction, attr: str, empty_at: int) -> list[float]:
        values = []
        for k in out["split"]:
            if int(k) == empty_at:
                values.append(0.0)  # an empty part costs nothing by either method
            elif isinstance(pred, Prediction):
                v = getattr(pred, attr)[int(k)]
                values.append(nan if v is None else float(v))
            else:
                values.append(nan)
        return values

    out["client_ms_predicted"] = side(client, "head_ms", 0)
    out["server_ms_predicted"] = side(server, "tail_ms", num_operators)
    out["client_ms_diff"] = out["client_ms"] - out["client_ms_predicted"]
    out["server_ms_diff"] = out["server_ms"] - out["server_ms_predicted"]
    return out


def prediction_note(client: Prediction | NoPrediction, server: Prediction | NoPrediction) -> str:
    """The run-level note on the predictions: why a side has none, or how its kernels were mapped
    to operators ('' when there is nothing to say). Said once (CLI, report, workbook metadata,
    ``run.json``), never per split."""
    said = {}
    for label, pred in (("client", client), ("server", server)):
        text = pred.reason if isinstance(pred, NoPrediction) else pred.note
        if text:
            said[label] = text
    if len(said) == 2 and said["client"] == said["server"]:
        return f"client and server: {said['client']}"
    return "; ".join(f"{label}: {text}" for label, text in said.items())
