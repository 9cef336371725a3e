"""Stage 2: the cut of every split point — which tensors cross from the phone to the server.

Split ``k`` (``k = 0 … N``, the seeds' "k:(N−k)") runs operators ``0..k-1`` on the client (the
head) and ``k..N-1`` on the server (the tail). Its cut is the *set* of tensors (not weights) that
are produced before ``k`` (model inputs count as produced before every operator) and either
consumed by an operator at index ``>= k`` or are model outputs. So the cut of ``k = 0`` is the
model inputs and the cut of ``k = N`` the model outputs; branchy graphs give several tensors.

Weights never cross the network, and neither does anything computed from weights alone: an
operator whose inputs are all weights (or outputs of such operators) — the DEQUANTIZE of float16
weights and the DENSIFY of sparse weights that make up more than half of the operators of the
mediapipe models — is a *weight-only* operator. It keeps its index (so ``k`` still counts every
operator, as the seeds and the op profiles do), but it runs in whichever part reads its output,
from that part's own copy of the weights, and its output is never part of a cut. Otherwise the
cut after a DEQUANTIZE would ship dequantized weights as "intermediate data", and runtimes such
as XNNPACK would see weights as dynamic inputs (or refuse a part whose output is one).

Every tensor is in the cut of a contiguous range of splits — from just after its producer to its
last consumer (or to ``N`` for a model output) — so all cuts come from one sweep over those
intervals, in time linear in operators + tensors + the size of the answer.
"""

from __future__ import annotations

from dataclasses import dataclass

from splitbench.errors import SplitPointError
from splitbench.graph import ModelGraph

_INPUT = -1  # "producer" of a model input: before every operator


@dataclass(frozen=True)
class Cut:
    """The tensors crossing split ``split``, in production order (model inputs first, in input
    order; then by producing operator and output slot), so the order is stable across runs."""

    split: int  # k: operators [0, k) on the client, [k, N) on the server
    tensors: tuple[int, ...]  # tensor indices crossing the cut
    names: tuple[str, ...]  # their names (the head's outputs map to the tail's inputs by name)
    nbytes: int  # sum of their sizes, dtype-aware (tensors of unknown size count 0)
    outputs: tuple[int, ...]  # cut tensors that are model outputs (final values, made in the head)
    from_inputs: tuple[int, ...]  # cut tensors that are model inputs (the head does not make them)
    unsized: tuple[int, ...] = ()  # cut tensors whose size is unknown (string/dynamic)

    @property
    def num_tensors(self) -> int:
        return len(self.tensors)

    @property
    def head_outputs(self) -> tuple[int, ...]:
        """Cut tensors the head computes (everything in the cut except pass-through inputs)."""
        skip = set(self.from_inputs)
        return tuple(t for t in self.tensors if t not in skip)


def weight_only_operators(graph: ModelGraph) -> frozenset[int]:
    """Operators that compute from weights alone (see the module docstring), in one pass.

    An operator qualifies when it reads at least one tensor, every tensor it reads is a weight or
    the output of a weight-only operator, and none of its outputs is a model output (a model
    output is a result, so it is produced where the split puts it). Operators without inputs
    qualify only when their outputs are marked as weights (ONNX ``Constant`` nodes); others
    (VAR_HANDLE, random generators) and anything touching a variable never do.
    """
    outputs = set(graph.outputs)
    derived: set[int] = set()
    found = set()
    for op in graph.operators:
        reads = [t for t in op.inputs if t >= 0]
        writes = [t for t in op.outputs if t >= 0]
        tensors = graph.tensors
        if not writes or any(t in outputs for t in writes):
            continue
        if not reads:  # an ONNX Constant node: weight-only when its outputs are weights
            if all(tensors[t].is_constant for t in writes):
                found.add(op.index)
                derived.update(writes)
            continue
        if any(tensors[t].is_variable for t in (*reads, *writes)):
            continue
        if all(tensors[t].is_constant or t in derived for t in reads):
            found.add(op.index)
            derived.update(writes)
    return frozenset(found)


def _intervals(graph: ModelGraph) -> tuple[dict[int, int], dict[int, int]]:
    """For each tensor that can cross a cut: the first split and the last split it is in."""
    n = graph.num_operators
    skip = {t.index for t in graph.tensors if t.is_constant or t.is_variable}
    for i in weight_only_operators(graph):
        skip.update(graph.operators[i].outputs)
    producer: dict[int, int] = {}
    for i in graph.inputs:
        if i not in skip:
            producer.setdefault(i, _INPUT)
    last_use: dict[int, int] = {}
    for op in graph.operators:
        for t in op.inputs:
            if t >= 0 and t not in skip:
                last_use[t] = op.index
        for t in op.outputs:
            if t >= 0 and t not in skip:
                producer.setdefault(t, op.index)
    outputs = set(graph.outputs)
    first: dict[int, int] = {}
    last: dict[int, int] = {}
    # Dict insertion order = production order, which is the order tensors enter the cut.
    for t, p in producer.items():
        end = n if t in outputs else last_use.get(t, -2)
        if end >= p + 1:
            first[t] = p + 1
            last[t] = end
    return first, last


def plan_cuts(graph: ModelGraph) -> list[Cut]:
    """All ``N + 1`` cuts of ``graph``, index ``k`` holding the cut of split ``k``."""
    n = graph.num_operators
    first, last = _intervals(graph)
    enter: list[list[int]] = [[] for _ in range(n + 1)]
    leave: list[list[int]] = [[] for _ in range(n + 2)]
    for t, k in first.items():
        enter[k].append(t)
        leave[last[t] + 1].append(t)
    outputs = set(graph.outputs)
    inputs = set(graph.inputs)
    active: dict[int, None] = {}  # ordered set
    cuts = []
    for k in range(n + 1):
        for t in leave[k]:
            del active[t]
        for t in enter[k]:
            active[t] = None
        cuts.append(_make_cut(graph, k, tuple(active), outputs, inputs))
    return cuts


def cut_at(graph: ModelGraph, k: int) -> Cut:
    """The cut of split ``k``; :class:`SplitPointError` when ``k`` is outside ``0..N``."""
    check_split(graph, k)
    first, last = _intervals(graph)
    tensors = tuple(t for t in first if first[t] <= k <= last[t])
    return _make_cut(graph, k, tensors, set(graph.outputs), set(graph.inputs))


def check_split(graph: ModelGraph, k: int) -> None:
    n = graph.num_operators
    if not 0 <= k <= n:
        raise SplitPointError(
            f"split {k} is out of range: this model has {n} operators, so splits are 0..{n}"
        )


def output_bytes(graph: ModelGraph) -> int:
    """Bytes of all model outputs: what the server sends back when the whole tail is remote."""
    return _sum_bytes(graph, graph.outputs)


def input_bytes(graph: ModelGraph) -> int:
    """Bytes of all model inputs: what crosses at split 0 (everything on the server)."""
    return _sum_bytes(graph, graph.inputs)


def _sum_bytes(graph: ModelGraph, indices: tuple[int, ...]) -> int:
    return sum(graph.tensors[i].nbytes or 0 for i in dict.fromkeys(indices))


def _make_cut(
    graph: ModelGraph, k: int, tensors: tuple[int, ...], outputs: set[int], inputs: set[int]
) -> Cut:
    sizes = [graph.tensors[t].nbytes for t in tensors]
    return Cut(
        split=k,
        tensors=tensors,
        names=graph.tensor_names(tensors),
        nbytes=sum(s or 0 for s in sizes),
        outputs=tuple(t for t in tensors if t in outputs),
        from_inputs=tuple(t for t in tensors if t in inputs),
        unsized=tuple(t for t, s in zip(tensors, sizes, strict=True) if s is None),
    )
