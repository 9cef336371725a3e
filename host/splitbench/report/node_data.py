"""The split table as node data for Google's Model Explorer: the costs drawn on the model graph.

Model Explorer (``ai-edge-model-explorer``) colours graph nodes from "node data" JSON files:
``{graph_id: {"results": {node_id: {"value": number, "bgColor"?: css}}, "gradient": [...]}}``
(``model_explorer.node_data_builder``'s ``ModelNodeData``/``GraphNodeData``). Each file here is
one measure per node, all read as "if the cut is placed right after this node":

* ``client_ms``: the head's measured time on the client (split k+1 for node k);
* ``server_ms``: the tail's measured time on the server;
* ``cut_bytes``: bytes crossing the network at that cut (dtype-aware, every cut tensor);
* ``e2e_ms_<network>``: end-to-end latency for that network, the best cut's node highlighted;
* ``best_split``: on the node after which the cut is best, how many networks choose it.

The graph's own input node stands for split 0 (everything on the server). Values come from the
split table only; a part that was not measured has no value (the node stays uncoloured).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from splitbench.graph import ModelGraph
from splitbench.network import NetworkConfig
from splitbench.report.split_table import best_splits, e2e_column

BEST_BG = "#1b5e20"
BEST_TEXT = "#ffffff"
# Low values green, high values red: cheap to cut after, expensive to cut after.
GRADIENT = [
    {"stop": 0, "bgColor": "#e8f5e9"},
    {"stop": 0.5, "bgColor": "#fff59d"},
    {"stop": 1, "bgColor": "#ef9a9a"},
]


def cut_keys(graph: ModelGraph) -> dict[int, str]:
    """Split k → the tensor name that identifies "the node after which split k cuts": the first
    output of operator k-1, and the (first) model input for split 0."""
    keys = {0: graph.tensors[graph.inputs[0]].name} if graph.inputs else {}
    for op in graph.operators:
        if op.outputs:
            keys[op.index + 1] = graph.tensors[op.outputs[0]].name
    return keys


def _values(table: pd.DataFrame, column: str) -> dict[int, float]:
    out: dict[int, float] = {}
    if column not in table.columns:
        return out
    for k, v in zip(table["split"], pd.to_numeric(table[column], errors="coerce"), strict=True):
        if not pd.isna(v):  # NaN, None and pd.NA (nullable columns of a --splits sweep)
            out[int(k)] = float(v)
    return out


def node_measures(
    table: pd.DataFrame, networks: Sequence[NetworkConfig]
) -> dict[str, dict[int, float]]:
    """Per measure name, split → value (only splits with a value). Ordered for Model Explorer,
    which shows the last file loaded: the first network's end-to-end latency comes last."""
    chosen: dict[int, float] = {}
    for k in best_splits(table, networks).values():
        chosen[k] = chosen.get(k, 0.0) + 1.0
    measures = {
        "client_ms": _values(table, "client_ms"),
        "server_ms": _values(table, "server_ms"),
        "cut_bytes": _values(table, "intermediate_bytes"),
        "best_split": chosen,
    }
    for cfg in reversed(networks):
        measures[e2e_column(cfg)] = _values(table, e2e_column(cfg))
    return measures


def graph_node_data(
    values: Mapping[int, float],
    node_of_split: Mapping[int, str],
    *,
    highlight: int | None = None,
) -> dict[str, Any]:
    """One ``GraphNodeData``: results keyed by node id, a green→red gradient, the ``highlight``
    split's node drawn in dark green."""
    results: dict[str, dict[str, Any]] = {}
    for k, value in values.items():
        node = node_of_split.get(k)
        if node is None:
            continue
        result: dict[str, Any] = {"value": value}
        if k == highlight:
            result.update(bgColor=BEST_BG, textColor=BEST_TEXT)
        results[node] = result
    return {"results": results, "gradient": GRADIENT}


def write_node_data(
    table: pd.DataFrame,
    networks: Sequence[NetworkConfig],
    node_of_split: Mapping[int, str],
    graph_id: str,
    out_dir: Path,
) -> list[Path]:
    """Write one Model Explorer node-data file per measure into ``out_dir``; return the paths.

    ``node_of_split`` maps split k to the Model Explorer node id after which that split cuts;
    ``graph_id`` is the id of the graph those nodes belong to (Model Explorer's key)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    best = best_splits(table, networks)
    paths = []
    for name, values in node_measures(table, networks).items():
        highlight = None
        if name.startswith("e2e_ms_"):
            highlight = best.get(name.removeprefix("e2e_ms_"))
        data = {graph_id: graph_node_data(values, node_of_split, highlight=highlight)}
        path = out_dir / f"{_safe(name)}.json"
        path.write_text(json.dumps(data, indent=1) + "\n")
        paths.append(path)
    return paths


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name)
