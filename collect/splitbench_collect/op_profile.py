"""Read the per-operator profile TensorFlow Lite's ``benchmark_model`` prints (or writes with
``--profiling_output_csv_file``) and map it onto operator indices and split points.

How the rows are formed, from TensorFlow's ``tflite/profiling/profile_summarizer.cc`` (same in
LiteRT) and ``tensorflow/core/util/stats_calculator.cc``:

* an operator invocation (``OPERATOR_INVOKE_EVENT``) is named ``[out_1, out_2, ...]:N``: the names
  of the node's *output tensors* joined by ``", "``, then ``:`` and the node index ``N``;
* a plain builtin/custom operator keeps its index in the subgraph, which is its operator index in
  execution order -- exactly the ``k`` of the seeds' "k:(N-k)" splits;
* a delegate kernel (``TfLiteXNNPackDelegate``, ``TfLiteGpuDelegateV2``, ``TfLiteNnapiDelegate``...)
  is a *new* node that TFLite appends after the original ones when it replaces a partition, so its
  ``N`` is >= the number of operators and is *not* an operator index; its name lists the output
  tensors of the whole partition. Which operators it covers is not printed: it is the operators
  missing from the plain rows, and with several partitions only the model graph can tell them
  apart (:func:`resolve_delegate_kernels`);
* ops profiled inside a delegate (XNNPACK's ``DELEGATE_PROFILED_OPERATOR_INVOKE_EVENT``, and the
  "Delegate internal:" table) are named ``Delegate/<xnnpack op>:M`` where ``M`` is the delegate's
  own operator index, unrelated to TFLite's operator indices;
* other events (``AllocateTensors/0``, ``ModifyGraphWithDelegate/0``) are ``<tag>/<subgraph>``.

Only the "Run Order" table of the regular benchmark runs is read: "Top by Computation Time" lists
the same nodes sorted by time, the summaries aggregate by type, and the initialisation profile
times ``AllocateTensors`` and delegate preparation, not inference.

``avg ms`` is an average *per call* (``rel_end_us.avg()``) and ``times called`` is calls per run, so
the time one run spends in a node is ``avg_ms * times_called`` (:attr:`ProfiledNode.per_run_ms`).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path

from splitbench.errors import MeasurementError

__all__ = [
    "Attribution",
    "DelegateGroup",
    "NodeKind",
    "ProfileFormatError",
    "ProfiledNode",
    "SplitTime",
    "attribute_to_operators",
    "clean_line",
    "cumulative_by_split",
    "infer_delegate_coverage",
    "parse_run_order",
    "primary_operator_count",
    "read_run_order",
    "resolve_delegate_kernels",
    "run_order_to_csv",
]


class ProfileFormatError(MeasurementError):
    """The text is not a ``benchmark_model`` op profile, or a Run Order row cannot be read."""


class NodeKind(StrEnum):
    OPERATOR = "operator"  # a TFLite operator; ``node_index`` is its operator index
    DELEGATE_KERNEL = "delegate_kernel"  # a fused partition; ``node_index`` is not an op index
    DELEGATE_OP = "delegate_op"  # ``Delegate/...:M``: an op inside a delegate, M is its own index
    OTHER = "other"  # ``AllocateTensors/0`` and other non-operator events


@dataclass(frozen=True)
class ProfiledNode:
    """One row of a Run Order table, as printed, plus what its name says."""

    node_type: str
    name: str
    first_ms: float
    avg_ms: float  # average per call
    percent: float
    cdf_percent: float
    mem_kb: float
    times_called: int  # calls per run
    start_ms: float | None = None  # only in the older layout with a [start] column
    node_index: int | None = None  # the ``:N`` suffix
    outputs: tuple[str, ...] = ()  # tensor names inside ``[...]``
    kind: NodeKind = NodeKind.OTHER
    subgraph: int | None = 0  # None for the "Delegate internal:" table
    op_indices: tuple[int, ...] = ()  # TFLite operator indices this row's time covers

    @property
    def per_run_ms(self) -> float:
        """Time one inference spends in this node (all its calls)."""
        return self.avg_ms * self.times_called


@dataclass(frozen=True)
class DelegateGroup:
    """A delegate kernel whose covered operators are known but whose time cannot be split
    between them: it only counts towards a split point that does not cut through it."""

    name: str
    op_indices: tuple[int, ...]
    per_run_ms: float


@dataclass
class Attribution:
    """Per-operator times read from one profile, and what could not be attributed."""

    num_ops: int | None
    per_op_ms: dict[int, float] = field(default_factory=dict)
    groups: list[DelegateGroup] = field(default_factory=list)
    unattributed: list[ProfiledNode] = field(default_factory=list)

    @property
    def unattributed_ms(self) -> float:
        """Per-run time of rows that map to no operator. Rows of the "Delegate internal:" table
        are left out: their time is already inside a delegate kernel's row."""
        return sum(n.per_run_ms for n in self.unattributed if n.subgraph is not None)


@dataclass(frozen=True)
class SplitTime:
    """Profiled time of the head (operators < k) and tail (operators >= k) of split ``k``.

    Both are None when a delegate partition straddles ``k`` or an operator has no row: the profile
    cannot say how that time divides, and a guessed number would look measured.
    """

    k: int
    head_ms: float | None
    tail_ms: float | None
    undetermined_by: tuple[str, ...] = ()


_NUM = r"[-+]?(?:\d+\.?\d*(?:[eE][-+]?\d+)?|\.\d+|nan|-?inf)"
_TEXT_ROW = re.compile(
    rf"^(?P<type>\S.*?)\s+(?:(?P<start>{_NUM})\s+)?(?P<first>{_NUM})\s+(?P<avg>{_NUM})\s+"
    rf"(?P<pct>{_NUM})%\s+(?P<cdf>{_NUM})%\s+(?P<mem>{_NUM})\s+(?P<times>\d+)\s+(?P<name>\S.*)$"
)
_CSV_ROW = re.compile(
    rf"^(?P<type>\S.*?),\s*(?:(?P<start>{_NUM}),\s*)?(?P<first>{_NUM}),\s*(?P<avg>{_NUM}),\s*"
    rf"(?P<pct>{_NUM})%,\s*(?P<cdf>{_NUM})%,\s*(?P<mem>{_NUM}),\s*(?P<times>\d+),\s*(?P<name>.*)$"
)
_OP_NAME = re.compile(r"^\[(?P<outs>.*)\]:(?P<idx>\d+)$")
_DELEGATE_OP_NAME = re.compile(r"^Delegate/.*:(?P<idx>\d+)$")
_LOGCAT = re.compile(
    r"^\d\d-\d\d \d\d:\d\d:\d\d\.\d+\s+"
    r"(?:\d+\s+\d+\s+[VDIWEF]\s+\S+\s*:|[VDIWEF]/\S+\s*\(\s*\d+\):)"
)
_LEVEL = re.compile(r"^(?:INFO|WARNING|ERROR|VERBOSE): ")
_TABLE = re.compile(r"^=+ (?P<title>.+?) =+$")
_SUBGRAPH = re.compile(r"^Subgraph \(index: (?P<idx>\d+)[^)]*\) profile:$")
_SECTION = re.compile(r"^(?P<title>.*Profiling Info for (?P<what>.+)):$")


def clean_line(raw: str) -> str:
    """Strip what wraps ``benchmark_model``'s own text: logcat prefixes (the Android benchmark app
    logs through logcat), log-level tags and indentation (documents often indent pasted output)."""
    line = _LOGCAT.sub("", raw.rstrip("\r\n")).strip()
    return _LEVEL.sub("", line).strip()


def _is_header(line: str) -> bool:
    return line.startswith("[node type]") or line.lower().startswith("node type,")


def _classify(node_type: str, name: str) -> tuple[NodeKind, int | None, tuple[str, ...]]:
    """Kind, ``:N`` suffix and output tensor names, from the name the summarizer built."""
    m = _OP_NAME.match(name)
    if m:
        outs = tuple(s for s in m.group("outs").split(", ") if s)
        is_delegate = "delegate" in node_type.lower()
        return (
            (NodeKind.DELEGATE_KERNEL if is_delegate else NodeKind.OPERATOR),
            int(m.group("idx")),
            outs,
        )
    m = _DELEGATE_OP_NAME.match(name)
    if m:
        return NodeKind.DELEGATE_OP, int(m.group("idx")), ()
    return NodeKind.OTHER, None, ()


def _parse_row(line: str, subgraph: int | None, lineno: int) -> ProfiledNode:
    m = _CSV_ROW.match(line) or _TEXT_ROW.match(line)
    if not m:
        raise ProfileFormatError(f"line {lineno}: cannot read this Run Order row: {line[:120]!r}")
    name = m.group("name").strip()
    node_type = m.group("type").strip()
    kind, idx, outs = _classify(node_type, name)
    if subgraph is None and kind is not NodeKind.OTHER:
        kind = NodeKind.DELEGATE_OP
    start = m.group("start")
    return ProfiledNode(
        node_type=node_type,
        name=name,
        first_ms=float(m.group("first")),
        avg_ms=float(m.group("avg")),
        percent=float(m.group("pct")),
        cdf_percent=float(m.group("cdf")),
        mem_kb=float(m.group("mem")),
        times_called=int(m.group("times")),
        start_ms=float(start) if start is not None else None,
        node_index=idx,
        outputs=outs,
        kind=kind,
        subgraph=subgraph,
        op_indices=(idx,)
        if kind is NodeKind.OPERATOR and subgraph == 0 and idx is not None
        else (),
    )


def parse_run_order(text: str) -> list[ProfiledNode]:
    """Rows of every "Run Order" table of the regular benchmark runs, in run order.

    Works on ``benchmark_model`` stdout (tab-aligned tables, old layout with ``[start]`` or new
    without, with or without ``INFO:``/logcat prefixes) and on ``--profiling_output_csv_file``
    files. Rows of non-primary subgraphs keep their subgraph index; rows of the
    "Delegate internal:" table get ``subgraph=None``. Raises :class:`ProfileFormatError` when there
    is no regular-run profile or a row cannot be read.
    """
    nodes: list[ProfiledNode] = []
    in_regular = in_run_order = found = False
    subgraph: int | None = 0
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = clean_line(raw)
        section = _SECTION.match(line)
        if section:
            in_regular = section.group("what").startswith("Regular Benchmark Runs")
            found = found or in_regular
            in_run_order, subgraph = False, 0
            continue
        if not in_regular:
            continue
        if line.startswith("Primary graph"):
            subgraph = 0
        elif line.startswith("Delegate internal:"):
            subgraph = None
        elif sub := _SUBGRAPH.match(line):
            subgraph = int(sub.group("idx"))
        elif table := _TABLE.match(line):
            in_run_order = table.group("title") == "Run Order"
        elif not line:
            in_run_order = False
        elif in_run_order and not _is_header(line):
            nodes.append(_parse_row(line, subgraph, lineno))
    if not found:
        raise ProfileFormatError(
            "no 'Operator-wise Profiling Info for Regular Benchmark Runs' section: "
            "was benchmark_model run with --enable_op_profiling=true?"
        )
    return nodes


def read_run_order(path: str | Path) -> list[ProfiledNode]:
    """:func:`parse_run_order` on a file (stdout capture or profiling CSV)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise ProfileFormatError(f"cannot read profile {p}: {exc.strerror}") from exc
    try:
        return parse_run_order(text)
    except ProfileFormatError as exc:
        raise ProfileFormatError(f"{p}: {exc}") from exc


def primary_operator_count(nodes: Sequence[ProfiledNode]) -> int | None:
    """Number of operators of the primary subgraph when the profile itself tells it.

    TFLite appends delegate kernels after the original nodes, so the smallest delegate-kernel
    index is the operator count. Without a delegate the profile cannot tell whether the last
    operators are missing, so None is returned and the caller must pass the model's count.
    """
    kernels = [
        n.node_index
        for n in nodes
        if n.kind is NodeKind.DELEGATE_KERNEL and n.subgraph == 0 and n.node_index is not None
    ]
    return min(kernels) if kernels else None


def _delegated_ops(nodes: Sequence[ProfiledNode], num_ops: int) -> set[int]:
    plain = {i for n in nodes if n.subgraph == 0 for i in n.op_indices}
    return set(range(num_ops)) - plain


def resolve_delegate_kernels(
    nodes: Sequence[ProfiledNode],
    op_inputs: Sequence[Sequence[str]],
    op_outputs: Sequence[Sequence[str]],
) -> list[ProfiledNode]:
    """Fill ``op_indices`` of delegate kernels from the model graph.

    ``op_inputs[i]`` / ``op_outputs[i]`` are the tensor names of operator ``i`` of the primary
    subgraph (execution order), as read from the same model file. A partition is found by walking
    back from the kernel's output tensors through delegated operators, stopping at tensors that
    another kernel or a plain operator produces -- partition boundaries are always node outputs.
    Delegated operators reached by no kernel stay unattributed.
    """
    num_ops = len(op_outputs)
    delegated = _delegated_ops(nodes, num_ops)
    producer = {t: i for i, outs in enumerate(op_outputs) for t in outs}
    kernel_outputs = {
        t
        for n in nodes
        if n.kind is NodeKind.DELEGATE_KERNEL and n.subgraph == 0
        for t in n.outputs
    }
    claimed: set[int] = set()
    resolved: list[ProfiledNode] = []
    for node in nodes:
        if node.kind is not NodeKind.DELEGATE_KERNEL or node.subgraph != 0:
            resolved.append(node)
            continue
        covered = _walk_partition(
            node.outputs, delegated - claimed, producer, op_inputs, kernel_outputs
        )
        claimed |= covered
        resolved.append(replace(node, op_indices=tuple(sorted(covered))))
    return resolved


def _walk_partition(
    outputs: Iterable[str],
    candidates: set[int],
    producer: dict[str, int],
    op_inputs: Sequence[Sequence[str]],
    kernel_outputs: set[str],
) -> set[int]:
    covered: set[int] = set()
    stack = [producer[t] for t in outputs if t in producer and producer[t] in candidates]
    while stack:
        op = stack.pop()
        if op in covered:
            continue
        covered.add(op)
        for t in op_inputs[op]:
            src = producer.get(t)
            if src is not None and src in candidates and t not in kernel_outputs:
                stack.append(src)
    return covered


def infer_delegate_coverage(
    nodes: Sequence[ProfiledNode], num_ops: int | None = None
) -> list[ProfiledNode]:
    """Fill ``op_indices`` of a delegate kernel when the profile alone determines them: the
    primary subgraph has exactly one kernel, so it covers every operator without a row of its own
    (e.g. a model fully delegated to the GPU). With several kernels nothing is filled: use
    :func:`resolve_delegate_kernels` with the model graph."""
    num_ops = num_ops if num_ops is not None else primary_operator_count(nodes)
    kernels = [n for n in nodes if n.kind is NodeKind.DELEGATE_KERNEL and n.subgraph == 0]
    if len(kernels) != 1 or num_ops is None or kernels[0].op_indices:
        return list(nodes)
    covered = tuple(sorted(_delegated_ops(nodes, num_ops)))
    return [replace(n, op_indices=covered) if n is kernels[0] else n for n in nodes]


def attribute_to_operators(
    nodes: Sequence[ProfiledNode], num_ops: int | None = None
) -> Attribution:
    """Per-operator per-run times of the primary subgraph, from Run Order rows.

    Plain operator rows give one operator's time. A delegate kernel becomes a
    :class:`DelegateGroup` when its operators are known: from :func:`resolve_delegate_kernels`, or
    -- without the model -- when it is the only kernel, since then it covers every operator
    without a row of its own. Everything else (unresolved kernels, delegate-internal rows,
    other subgraphs, non-operator events) is returned in ``unattributed``; nothing is spread or
    estimated.
    """
    num_ops = num_ops if num_ops is not None else primary_operator_count(nodes)
    attr = Attribution(num_ops=num_ops)
    for node in infer_delegate_coverage(nodes, num_ops):
        if node.subgraph == 0 and node.kind is NodeKind.OPERATOR and node.op_indices:
            idx = node.op_indices[0]
            attr.per_op_ms[idx] = attr.per_op_ms.get(idx, 0.0) + node.per_run_ms
        elif node.subgraph == 0 and node.kind is NodeKind.DELEGATE_KERNEL and node.op_indices:
            attr.groups.append(DelegateGroup(node.name, node.op_indices, node.per_run_ms))
        else:
            attr.unattributed.append(node)
    return attr


def cumulative_by_split(attr: Attribution, num_ops: int | None = None) -> list[SplitTime]:
    """Head (ops < k) and tail (ops >= k) profiled time for every split ``k = 0..N``."""
    n = num_ops if num_ops is not None else attr.num_ops
    if n is None:
        raise ProfileFormatError(
            "the number of operators is unknown: pass the model's operator count"
        )
    missing = [
        i
        for i in range(n)
        if i not in attr.per_op_ms and not any(i in g.op_indices for g in attr.groups)
    ]
    total = sum(attr.per_op_ms.values()) + sum(g.per_run_ms for g in attr.groups)
    return [_split_time(attr, k, missing, total) for k in range(n + 1)]


def _split_time(attr: Attribution, k: int, missing: Sequence[int], total: float) -> SplitTime:
    straddling = tuple(g.name for g in attr.groups if min(g.op_indices) < k <= max(g.op_indices))
    if straddling:
        return SplitTime(k, None, None, straddling)
    head_gap = [i for i in missing if i < k]
    tail_gap = [i for i in missing if i >= k]
    reasons = (f"operators {_ranges(missing)} have no row of their own",) if missing else ()
    head = 0.0 + sum(t for i, t in attr.per_op_ms.items() if i < k)
    head += sum(g.per_run_ms for g in attr.groups if max(g.op_indices) < k)
    tail = total - head
    return SplitTime(
        k,
        None if head_gap else head,
        None if tail_gap else tail,
        reasons,
    )


def _ranges(indices: Sequence[int]) -> str:
    """``0-60,62,64-67``: a compact list for one-line messages."""
    parts: list[str] = []
    start = prev = None
    for i in sorted(indices):
        if prev is not None and i == prev + 1:
            prev = i
            continue
        if start is not None:
            parts.append(str(start) if start == prev else f"{start}-{prev}")
        start = prev = i
    if start is not None:
        parts.append(str(start) if start == prev else f"{start}-{prev}")
    return ",".join(parts)


def run_order_to_csv(nodes: Sequence[ProfiledNode]) -> str:
    """The Run Order as CSV for ``splitbench collate --profile FILE``, so a user can check what
    was read. ``op_indices`` is ``;``-separated and empty when the row maps to no operator or to
    operators the profile alone cannot name (see :func:`infer_delegate_coverage`)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["node_type", "name", "first_ms", "avg_ms", "op_indices"])
    for n in infer_delegate_coverage(nodes):
        writer.writerow(
            [
                n.node_type,
                n.name,
                f"{n.first_ms:g}",
                f"{n.avg_ms:g}",
                ";".join(str(i) for i in n.op_indices),
            ]
        )
    return buf.getvalue()
