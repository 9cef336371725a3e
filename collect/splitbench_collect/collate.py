"""``splitbench collate``: the split table from benchmark outputs people already have.

The reference workflow asks the user to hand-copy the "Run Order" section of each
``benchmark_model`` profile before summing per-operator times. Here the client and server outputs
(stdout with op-profiling tables, or the ``--profiling_output_csv_file`` CSV) are read as they
are, operators are matched to split points by their index in the model, and the sizes come from
really splitting the model (measured file sizes, not a straight-line approximation).

These times are *predicted* from one profiled whole-model run per side: they leave out what a
split part really costs (delegate partitioning, inter-operator overhead, profiling cost). The
table says so in its ``method`` column, and where the whole model's direct average is in the same
stdout, it reports how far the per-operator sum is from it.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from splitbench.cutplan import output_bytes, plan_cuts
from splitbench.errors import SplitbenchError
from splitbench.graph import ModelGraph
from splitbench.network import NetworkConfig, delivery_ms, e2e_ms
from splitbench.splitter import ModelSplitter

from splitbench_collect.benchmark_stdout import BenchmarkOutputError, parse_benchmark_stdout
from splitbench_collect.op_profile import (
    NodeKind,
    ProfiledNode,
    SplitTime,
    attribute_to_operators,
    cumulative_by_split,
    parse_run_order,
    primary_operator_count,
    resolve_delegate_kernels,
)

METHOD = "predicted: sum of benchmark_model Run Order rows"


@dataclass(frozen=True)
class SideProfile:
    """One side's profile, mapped to split points."""

    path: Path
    by_split: list[SplitTime]
    direct_avg_ms: float | None  # the whole model's steady-state average, when in the same file
    profiled_sum_ms: float  # sum of per-operator rows that map to operators
    unattributed_ms: float


class ProfileMismatchError(SplitbenchError):
    """The op profile was made with another model than the one given (operator count or
    operator types differ): mapping it would attribute times to the wrong operators."""


def _op_type(opcode: str) -> str:
    return opcode.removeprefix("CUSTOM:")


def check_profile_matches(nodes: list[ProfiledNode], graph: ModelGraph, path: Path) -> None:
    """Refuse a profile of another model, before anything is mapped: more operators than the
    model has, another operator count told by the delegate kernels, or operator types that
    differ at the same index."""
    n = graph.num_operators
    ops = [
        node
        for node in nodes
        if node.subgraph == 0 and node.kind is NodeKind.OPERATOR and node.op_indices
    ]
    told = primary_operator_count(nodes)
    highest = max((node.op_indices[0] for node in ops), default=-1)
    if (told is not None and told != n) or highest >= n:
        count = told if told is not None else highest + 1
        raise ProfileMismatchError(
            f"{path} profiles a model with {'at least ' if told is None else ''}{count} "
            f"operators, but {graph.path.name} has {n}: give the model the profile was made with"
        )
    differ = [
        (node.op_indices[0], node.node_type)
        for node in ops
        if node.node_type != _op_type(graph.operators[node.op_indices[0]].opcode)
    ]
    if differ:
        i, seen = differ[0]
        raise ProfileMismatchError(
            f"{path} does not profile {graph.path.name}: {len(differ)} of {len(ops)} operator "
            f"types differ (operator {i} is {seen} in the profile, "
            f"{_op_type(graph.operators[i].opcode)} in the model); give the model the profile "
            "was made with"
        )


def read_side(path: Path, graph: ModelGraph) -> SideProfile:
    """Parse one benchmark output and map its Run Order rows onto the model's operators."""
    text = path.read_text(errors="replace")
    nodes = parse_run_order(text)
    check_profile_matches(nodes, graph, path)
    op_inputs = [[graph.tensors[t].name for t in op.inputs if t >= 0] for op in graph.operators]
    op_outputs = [[graph.tensors[t].name for t in op.outputs] for op in graph.operators]
    nodes = resolve_delegate_kernels(nodes, op_inputs, op_outputs)
    attr = attribute_to_operators(nodes, graph.num_operators)
    direct = None
    try:
        stdout = parse_benchmark_stdout(text)
        direct = stdout.inference_avg_ms or (
            stdout.regular.summary().avg_ms if stdout.regular and stdout.regular.summary() else None
        )
    except BenchmarkOutputError:  # a CSV profile holds no summary lines: not an error here
        direct = None
    profiled = sum(attr.per_op_ms.values()) + sum(g.per_run_ms for g in attr.groups)
    return SideProfile(
        path=path,
        by_split=cumulative_by_split(attr, graph.num_operators),
        direct_avg_ms=direct,
        profiled_sum_ms=profiled,
        unattributed_ms=attr.unattributed_ms,
    )


def collate(
    graph: ModelGraph,
    client: SideProfile,
    server: SideProfile,
    networks: list[NetworkConfig],
) -> pd.DataFrame:
    """One row per split k = 0..N with predicted times, measured sizes and e2e per network."""
    n = graph.num_operators
    out_bytes = output_bytes(graph)
    splitter = ModelSplitter(graph)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for cut in plan_cuts(graph):
            k = cut.split
            files = splitter.write_parts(k, Path(tmp))
            head = client.by_split[k]
            tail = server.by_split[k]
            client_ms = 0.0 if k == 0 else head.head_ms
            server_ms = 0.0 if k == n else tail.tail_ms
            why = sorted(set(head.undetermined_by) | set(tail.undetermined_by))
            row: dict[str, object] = {
                "split": k,
                "on_client": k,
                "on_server": n - k,
                "cut_tensors": json.dumps(list(cut.names)),
                "client_ms": client_ms,
                "server_ms": server_ms,
                "intermediate_bytes": cut.nbytes,
                "output_bytes": out_bytes,
                "head_model_bytes": files.head_bytes,
                "tail_model_bytes": files.tail_bytes,
                "max_abs_diff": float("nan"),  # collate runs nothing: no lossless check here
                "bit_exact": None,
                "lossless": None,
                "verify_error": "not checked: collate runs no model (use splitbench verify)",
                "method": METHOD,
                "undetermined_by": "; ".join(why),
            }
            for cfg in networks:
                known = client_ms is not None and server_ms is not None
                row[f"e2e_ms_{cfg.name}"] = (
                    e2e_ms(
                        client_ms,  # type: ignore[arg-type]
                        server_ms,  # type: ignore[arg-type]
                        cut.nbytes,
                        out_bytes,
                        cfg,
                        split=k,
                        num_operators=n,
                    )
                    if known
                    else float("nan")
                )
                row[f"delivery_ms_{cfg.name}"] = delivery_ms(files.head_bytes, cfg)
            rows.append(row)
            for p in (files.head_path, files.tail_path):
                if p is not None:
                    p.unlink(missing_ok=True)
    table = pd.DataFrame(rows)
    for col in ("client_ms", "server_ms"):
        table[col] = pd.to_numeric(table[col], errors="coerce")
    return table


def profile_check_lines(client: SideProfile, server: SideProfile) -> list[str]:
    """How far each side's per-operator sum is from its direct whole-model measurement."""
    lines = []
    for side, prof in (("client", client), ("server", server)):
        if prof.direct_avg_ms:
            ratio = prof.profiled_sum_ms / prof.direct_avg_ms
            lines.append(
                f"{side}: per-operator sum {prof.profiled_sum_ms:.3f} ms vs direct whole-model "
                f"average {prof.direct_avg_ms:.3f} ms ({(ratio - 1) * 100:+.1f} %)"
            )
        else:
            lines.append(f"{side}: no direct whole-model average in {prof.path.name}")
        if prof.unattributed_ms:
            lines.append(f"{side}: {prof.unattributed_ms:.3f} ms of rows map to no operator")
    return lines
