"""Put the predicted timing method beside the direct one in a split table.

Direct: each head and tail file measured. Predicted: sums over one op-profiled whole-model run
per side and bout, summarised over the bouts like direct samples (the chosen statistic and its
95 % interval: :mod:`splitbench.stats.predicted`). Both columns stay, with their difference, so
a reader sees how far per-operator sums are from what the split parts really cost.
"""

from __future__ import annotations

import pandas as pd

from splitbench.predict import NoPrediction, Prediction
from splitbench.stats.predicted import predicted_parts


def add_predicted_columns(
    table: pd.DataFrame,
    client: list[Prediction] | NoPrediction,
    server: list[Prediction] | NoPrediction,
    num_operators: int,
    statistic: str = "median",
) -> pd.DataFrame:
    """Return ``table`` with ``client_ms_predicted`` (and ``_lo``/``_hi``: its 95 % interval
    over bouts), the same for the server, their differences to the direct columns (direct −
    predicted) and ``prediction_note``; NaN where unknown."""
    out = table.copy()
    nan = float("nan")
    rows = [int(k) for k in out["split"]]
    for label, preds in (("client", client), ("server", server)):
        parts = (
            predicted_parts(preds, label, num_operators, statistic)
            if isinstance(preds, list)
            else [None] * (num_operators + 1)
        )
        for column, value in (("", "estimate"), ("_lo", "lo"), ("_hi", "hi")):
            out[f"{label}_ms_predicted{column}"] = [
                nan if parts[k] is None else float(getattr(parts[k], value)) for k in rows
            ]
    out["client_ms_diff"] = out["client_ms"] - out["client_ms_predicted"]
    out["server_ms_diff"] = out["server_ms"] - out["server_ms_predicted"]
    latest = {
        label: preds[-1] if isinstance(preds, list) else preds
        for label, preds in (("client", client), ("server", server))
    }
    notes = []
    for label, pred in latest.items():
        if isinstance(pred, NoPrediction):
            notes.append(f"{label}: {pred.reason}")
        elif pred.note:
            bouts = len(client if label == "client" else server)  # type: ignore[arg-type]
            notes.append(f"{label}: {pred.note} (latest of {bouts} profiled bouts)")

    def row_note(k: int) -> str:
        own = [
            f"{label} split {k}: {pred.split_notes[k]}"
            for label, pred in latest.items()
            if isinstance(pred, Prediction) and k in pred.split_notes
        ]
        return "; ".join([*own, *notes])

    out["prediction_note"] = [row_note(k) for k in rows]
    return out
