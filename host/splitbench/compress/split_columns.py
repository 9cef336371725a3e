"""The codec columns of the split table, beside the uncoded ones (which keep their meaning).

Cut codec (``--cut-codec``): ``cut_codec``, ``cut_coded_bytes``, ``cut_encode_ms`` (client
side), ``cut_decode_ms`` (server side), ``cut_codec_timed_on``, ``cut_coded_max_abs_diff``,
``cut_coded_lossless`` (never true for a lossy codec, whatever the difference), and
``e2e_coded_ms_<network>`` = client + encode + RTT + coded bytes / uplink + decode + server +
output / downlink (at split N, all on the phone: the client time, as ``e2e_ms``).

Delivery codec (``--delivery-codec``): ``delivery_codec``, ``head_coded_bytes``,
``head_encode_ms`` (server), ``head_decode_ms`` (timed on this host: no decoder runs on a
phone here; ``head_codec_timed_on`` says so), ``head_coded_max_abs_diff`` and
``delivery_coded_ms_<network>`` = RTT + coded bytes / downlink + decode.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import pandas as pd

from splitbench.network import NetworkConfig, delivery_ms, e2e_ms
from splitbench.results.records import CodecResult

if TYPE_CHECKING:
    from splitbench.results import ResultsDB

NAN = math.nan


def e2e_coded_column(cfg: NetworkConfig) -> str:
    return f"e2e_coded_ms_{cfg.name}"


def delivery_coded_column(cfg: NetworkConfig) -> str:
    return f"delivery_coded_ms_{cfg.name}"


def _f(value: object) -> float:
    if value is None or value is pd.NA:
        return NAN
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return NAN


def add_codec_columns(
    table: pd.DataFrame,
    db: ResultsDB,
    model_sha: str,
    networks: Sequence[NetworkConfig],
    output_bytes: int,
    num_operators: int,
    *,
    client: str | None = None,
    server: str | None = None,
) -> pd.DataFrame:
    """``table`` with the codec columns of whatever codecs the run recorded (none: unchanged).

    For codecs that ran as TFLite operators on the targets (fp16, int8), encode and decode are
    the times measured on ``client`` and ``server``; otherwise the host's in-process times."""
    cut = {k: _on_targets(r, client, server) for k, r in db.codec_results(model_sha, "cut").items()}
    delivery = db.codec_results(model_sha, "delivery")
    n = num_operators
    if cut:
        codec = next(iter(cut.values())).codec
        rows = [cut.get(int(k)) for k in table["split"]]
        table["cut_codec"] = codec
        table["cut_coded_bytes"] = [r.coded_bytes if r else NAN for r in rows]
        table["cut_encode_ms"] = [r.encode_ms if r else NAN for r in rows]
        table["cut_decode_ms"] = [r.decode_ms if r else NAN for r in rows]
        table["cut_codec_timed_on"] = [r.timed_on if r else None for r in rows]
        table["cut_coded_max_abs_diff"] = [r.max_abs_diff if r else NAN for r in rows]
        table["cut_coded_lossless"] = pd.array(
            [r.lossless if r else None for r in rows], dtype="boolean"
        )
        for cfg in networks:
            values = []
            for (_, row), r in zip(table.iterrows(), rows, strict=True):
                k = int(row["split"])
                client, server = _f(row["client_ms"]), _f(row["server_ms"])
                if k == n:  # all on the phone: nothing crosses the network
                    values.append(
                        e2e_ms(client, server, 0, output_bytes, cfg, split=k, num_operators=n)
                    )
                elif r is None:
                    values.append(NAN)
                else:
                    values.append(
                        e2e_ms(
                            client + r.encode_ms,
                            server + r.decode_ms,
                            r.coded_bytes,
                            output_bytes,
                            cfg,
                            split=k,
                            num_operators=n,
                        )
                    )
            table[e2e_coded_column(cfg)] = values
    if delivery:
        codec = next(iter(delivery.values())).codec
        rows = [delivery.get(int(k)) for k in table["split"]]
        table["delivery_codec"] = codec
        table["head_coded_bytes"] = [
            0.0 if int(k) == 0 else (r.coded_bytes if r else NAN)
            for k, r in zip(table["split"], rows, strict=True)
        ]
        table["head_encode_ms"] = [r.encode_ms if r else NAN for r in rows]
        table["head_decode_ms"] = [r.decode_ms if r else NAN for r in rows]
        table["head_codec_timed_on"] = [r.timed_on if r else None for r in rows]
        table["head_coded_max_abs_diff"] = [r.max_abs_diff if r else NAN for r in rows]
        for cfg in networks:
            table[delivery_coded_column(cfg)] = [
                0.0
                if int(k) == 0
                else (delivery_ms(r.coded_bytes, cfg) + r.decode_ms if r else NAN)
                for k, r in zip(table["split"], rows, strict=True)
            ]
    return table


def _on_targets(result: CodecResult, client: str | None, server: str | None) -> CodecResult:
    from dataclasses import replace

    enc = result.detail.get("encode_ms_by_target", {}).get(client)
    dec = result.detail.get("decode_ms_by_target", {}).get(server)
    if enc is None or dec is None:
        return result
    where = f"encode on {client}, decode on {server} (TFLite operators, measured)"
    return replace(result, encode_ms=enc, decode_ms=dec, timed_on=where)


def best_coded_splits(table: pd.DataFrame, networks: Sequence[NetworkConfig]) -> dict[str, int]:
    """Per network, the split with the lowest ``e2e_coded_ms`` (empty without a cut codec)."""
    best: dict[str, int] = {}
    for cfg in networks:
        col = e2e_coded_column(cfg)
        if col not in table:
            continue
        valid = table[col].astype(float).dropna()
        if not valid.empty:
            best[cfg.name] = int(table.loc[valid.idxmin(), "split"])
    return best
