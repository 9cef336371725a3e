"""``anchors.csv``: the all-on-the-server anchor of seed clause 5, one row per picture codec.

The phone encodes the picture, uploads it, the server decodes it, converts it to the model's
input and runs the whole model; the result comes back:

    e2e = encode + RTT + coded bytes / uplink + (decode + whole model on the server)
          + output / downlink

computed by :func:`splitbench.network.e2e_ms` as split 0 with the coded picture as its upload,
so the anchors follow whatever network model the splits follow. Nothing is delivered to the
phone (the model stays on the server): ``delivery_ms_<network>`` is
:func:`splitbench.network.delivery_ms` of 0 bytes. The all-on-the-device anchor is split N of
``splits.csv``. Column meanings live in :data:`splitbench.report.columns.ANCHOR_COLUMNS`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from splitbench.network import NetworkConfig, delivery_ms, e2e_ms
from splitbench.report.split_table import whole_model_ms
from splitbench.results import ResultsDB
from splitbench.results.records import AnchorResult

NAN = float("nan")


def anchor_e2e_column(cfg: NetworkConfig) -> str:
    return f"e2e_ms_{cfg.name}"


def build_anchor_table(
    db: ResultsDB,
    model_sha: str,
    *,
    server: str,
    networks: Sequence[NetworkConfig],
    output_bytes: int,
    num_operators: int,
    settings: str | None = None,
    statistic: str = "median",
) -> pd.DataFrame:
    """One row per recorded anchor codec (empty frame when the run has none)."""
    anchors = db.anchor_results(model_sha).values()
    if not anchors:  # nothing to add the whole model's time to: its samples stay unread
        return pd.DataFrame()
    server_ms = whole_model_ms(db, model_sha, server, settings, statistic)
    rows = [anchor_row(a, server_ms, networks, output_bytes, num_operators) for a in anchors]
    return pd.DataFrame(rows)


def anchor_row(
    a: AnchorResult,
    server_ms: float,
    networks: Sequence[NetworkConfig],
    output_bytes: int,
    num_operators: int,
) -> dict[str, Any]:
    from splitbench.anchor.codecs import AnchorCodecSpec

    raw_bytes = a.detail.get("uncoded_input_bytes")
    row: dict[str, Any] = {
        "anchor": a.codec,
        "codec": a.name,
        "param": a.param,
        "param_name": AnchorCodecSpec(a.name, a.param).param_name,
        "coded_bytes": a.coded_bytes,
        "coded_ratio": a.coded_bytes / raw_bytes if raw_bytes else 1.0,
        "encode_ms": a.encode_ms,
        "decode_ms": a.decode_ms,
        "server_ms": server_ms,
        "output_bytes": output_bytes,
        "max_abs_diff": a.max_abs_diff,
        "metric_name": a.metric_name,
        "metric": NAN if a.metric is None else a.metric,
        "codec_timed_on": a.timed_on,
        "note": a.note,
    }
    for cfg in networks:
        row[anchor_e2e_column(cfg)] = e2e_ms(
            a.encode_ms,
            a.decode_ms + server_ms,
            a.coded_bytes,
            output_bytes,
            cfg,
            split=0,
            num_operators=num_operators,
        )
    for cfg in networks:
        row[f"delivery_ms_{cfg.name}"] = delivery_ms(0, cfg)
    return row


def best_anchors(table: pd.DataFrame, networks: Sequence[NetworkConfig]) -> dict[str, str]:
    """Per network, the anchor with the lowest end-to-end latency (ties: the first listed)."""
    best: dict[str, str] = {}
    if table.empty:
        return best
    for cfg in networks:
        col = table[anchor_e2e_column(cfg)].astype(float).dropna()
        if not col.empty:
            best[cfg.name] = str(table.loc[col.idxmin(), "anchor"])
    return best


def verdict(
    splits: pd.DataFrame, anchors: pd.DataFrame, best_split: dict[str, int], cfg: NetworkConfig
) -> dict[str, Any] | None:
    """The best split against the best anchor on one network: both latencies and who wins by
    how much (positive ``margin_ms``: the split is faster). An anchor inside the split's 95 %
    end-to-end interval is a tie (``noise``: the difference is within the measurement noise).
    None without both."""
    k = best_split.get(cfg.name)
    best = best_anchors(anchors, [cfg]).get(cfg.name)
    if k is None or best is None:
        return None
    row = splits.loc[splits["split"] == k].iloc[0]
    split_ms = float(row[f"e2e_ms_{cfg.name}"])
    anchor_ms = float(anchors.loc[anchors["anchor"] == best, anchor_e2e_column(cfg)].iloc[0])
    lo = float(row.get(f"e2e_lo_ms_{cfg.name}", NAN))
    hi = float(row.get(f"e2e_hi_ms_{cfg.name}", NAN))
    margin = anchor_ms - split_ms
    noise = bool(lo <= anchor_ms <= hi) and margin != 0
    winner = "tie" if margin == 0 or noise else ("split" if margin > 0 else "anchor")
    return {
        "split": k,
        "split_ms": split_ms,
        "anchor": best,
        "anchor_ms": anchor_ms,
        "margin_ms": margin,
        "margin_ratio": margin / anchor_ms if anchor_ms else NAN,
        "winner": winner,
        "noise": noise,
    }


def verdict_text(v: dict[str, Any], num_operators: int) -> str:
    """One clause: the best split against the best anchor, who wins and by how much."""
    k = v["split"]
    where = f"{k}:{num_operators - k}" + (" (all on the client)" if k == num_operators else "")
    split = f"the best split {where}, {v['split_ms']:.1f} ms,"
    if v["winner"] == "tie":
        if v.get("noise"):
            return (
                f"{split} ties with the {v['anchor']} anchor ({v['anchor_ms']:.1f} ms) within "
                "the measurement noise"
            )
        return f"{split} ties with the {v['anchor']} anchor"
    pct = f"{100 * abs(v['margin_ratio']):.0f} %"
    if v["winner"] == "split":
        return f"{split} beats the {v['anchor']} anchor by {v['margin_ms']:.1f} ms ({pct})"
    return f"{split} loses to the {v['anchor']} anchor by {-v['margin_ms']:.1f} ms ({pct})"
