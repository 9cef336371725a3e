"""Put the predicted timing method beside the direct one in a split table.

Direct: each head and tail file measured. Predicted: sums over one op-profiled whole-model run
per side and bout, summarised over the bouts like direct samples (the chosen statistic and its
95 % interval: :mod:`splitbench.stats.predicted`). Both columns stay, with their difference, so
a reader sees how far per-operator sums are from what the split parts really cost.

How the predictions were made is said once for the run (:func:`prediction_note`); a split
without a prediction says why on its own row (``no_prediction``: the kernel its cut runs
through), since that differs from split to split.
"""

from __future__ import annotations

import pandas as pd

from splitbench.predict import NoPrediction, Prediction
from splitbench.stats.predicted import predicted_parts

Predictions = list[Prediction] | NoPrediction


def add_predicted_columns(
    table: pd.DataFrame,
    client: Predictions,
    server: Predictions,
    num_operators: int,
    statistic: str = "median",
) -> pd.DataFrame:
    """Return ``table`` with ``client_ms_predicted`` (and ``_lo``/``_hi``: its 95 % interval
    over bouts), the same for the server, their differences to the direct columns (direct −
    predicted) and ``no_prediction``; NaN where unknown."""
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
    latest = {"client": _latest(client), "server": _latest(server)}

    def why_not(k: int) -> str:
        return "; ".join(
            f"{label}: {pred.split_notes[k]}"
            for label, pred in latest.items()
            if isinstance(pred, Prediction) and k in pred.split_notes
        )

    out["no_prediction"] = [why_not(k) for k in rows]
    return out


def _latest(preds: Predictions) -> Prediction | NoPrediction:
    return preds[-1] if isinstance(preds, list) else preds


def prediction_note(client: Predictions, server: Predictions) -> str:
    """The run-level note on the predictions: why a side has none, or how its kernels were mapped
    to operators and calibrated ('' when there is nothing to say). Said once (CLI, report,
    workbook metadata, ``run.json``), never per split."""
    said = {}
    for label, preds in (("client", client), ("server", server)):
        pred = _latest(preds)
        text = pred.reason if isinstance(pred, NoPrediction) else pred.note
        if text and isinstance(preds, list) and len(preds) > 1:
            text += f" (the latest of {len(preds)} profiled bouts)"
        if text:
            said[label] = text
    if len(said) == 2 and said["client"] == said["server"]:
        return f"client and server: {said['client']}"
    return "; ".join(f"{label}: {text}" for label, text in said.items())
