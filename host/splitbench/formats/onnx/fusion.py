"""Which of the model's nodes each ONNX Runtime kernel computes.

ONNX Runtime rewrites the graph before it runs it: a Conv absorbs the activation after it, a
BatchNormalization, an Add (a residual ``Sum``); at the default level the convolutions run in a
blocked layout (NCHWc) with ``ReorderInput``/``ReorderOutput`` kernels at its edges. The profile
names the rewritten graph's kernels, so per-node times need the rewritten graph: the profiling
session writes it (``SessionOptions.optimized_model_filepath``, weights left out) and
:func:`kernel_nodes` maps every kernel back to the original nodes by tensor names.

A kernel's nodes are those on the paths from its inputs to its outputs in the original graph
whose values no other kernel computes (a branch folded into a constant at load time counts with
the kernel that reads it; a kernel computing from weights alone counts at its first reader).
Tensors the rewrite made up (``reorder_token_7``) are named back to the original tensor they
stand for: across a layout kernel (the same values in another layout), and for a blocked
kernel named ``<T>_nchwc`` ONNX Runtime's naming gives T, extended over a fused ``Sum`` (the Add
that consumes T) and an activation fused after it. Each such reading is checked: the kernel must
then cover exactly one node of its own operator type. Kernels joined by a made-up tensor that
cannot be named back (ONNX Runtime's Reshape → Gemm → Reshape for a MatMul + Add, a Split for
three Gathers) are read as one group: their work can only be placed together. What still cannot
be read back makes the whole profile unusable for prediction
(:class:`~splitbench.errors.ModelError`), never a guess.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from splitbench.errors import ModelError
from splitbench.graph import ModelGraph

LAYOUT_OPS = frozenset({"ReorderInput", "ReorderOutput", "MemcpyToHost", "MemcpyFromHost"})
if TYPE_CHECKING:
    from onnx import NodeProto

ACTIVATIONS = frozenset({"Relu", "Clip", "Sigmoid", "Tanh", "LeakyRelu", "HardSigmoid"})


@dataclass(frozen=True)
class Kernel:
    """One kernel of the optimised graph and the original nodes (positions) it computes. A
    layout change, or a kernel computing from weights alone, computes none of the model's
    nodes (``counted_at``): it is counted at ``nodes[0]``, the node whose value it moves or the
    first that reads what it computes."""

    name: str
    op_type: str
    nodes: tuple[int, ...]
    counted_at: bool = False


@dataclass(frozen=True)
class _Original:
    names: list[str]  # node names by position
    ops: list[str]
    inputs: list[list[str]]
    outputs: list[list[str]]
    producer: dict[str, int]  # tensor → position, for non-weight nodes
    consumers: dict[str, list[int]]
    constants: set[str]  # weights and values computed from weights alone
    tensors: set[str]


def _original(graph: ModelGraph, node_names: list[str]) -> _Original:
    from splitbench.cutplan import weight_only_operators

    weight_only = weight_only_operators(graph)
    names = [t.name for t in graph.tensors]
    producer: dict[str, int] = {}
    consumers: dict[str, list[int]] = {}
    constants = {t.name for t in graph.tensors if t.is_constant}
    inputs: list[list[str]] = []
    outputs: list[list[str]] = []
    for op in graph.operators:
        outputs.append([names[t] for t in op.outputs if t >= 0])
        ins = [names[t] for t in op.inputs if t >= 0]
        inputs.append(ins)
        for t in op.outputs:
            if t < 0:
                continue
            if op.index in weight_only:
                constants.add(names[t])
            else:
                producer[names[t]] = op.index
        if op.index not in weight_only:
            for name in ins:
                consumers.setdefault(name, []).append(op.index)
    return _Original(
        names=node_names,
        ops=[op.opcode for op in graph.operators],
        inputs=inputs,
        outputs=outputs,
        producer=producer,
        consumers=consumers,
        constants=constants,
        tensors=set(names),
    )


def kernel_nodes(
    graph: ModelGraph, node_names: list[str], file_index: list[int], optimized: Path
) -> dict[str, Kernel]:
    """Every kernel of the optimised model at ``optimized`` (by the name the profile gives it)
    with the positions of the original nodes of ``graph`` it computes. ``file_index``: each
    position's index among the file's nodes (ONNX Runtime's profile names an unnamed node
    ``<op type>_<that index>``). Raises :class:`ModelError` when one cannot be read back (see
    the module docstring)."""
    import onnx

    try:
        opt = onnx.load(str(optimized), load_external_data=False).graph
    except Exception as exc:  # onnx raises DecodeError and OSError subclasses
        raise ModelError(f"cannot read ONNX Runtime's optimised graph {optimized}: {exc}") from None
    orig = _original(graph, node_names)
    opt_constants = {t.name for t in opt.initializer}
    equiv = {t: t for n in opt.node for t in [*n.input, *n.output] if t in orig.tensors}
    for node in opt.node:  # a ReorderOutput's input is its (original) output in another layout
        if node.op_type in LAYOUT_OPS and node.output[0] in orig.tensors:
            equiv.setdefault(node.input[0], node.output[0])
    named: set[str] = set()  # kernels whose output was named back by their own name
    layout: set[str] = set()
    for node in opt.node:  # pass 1: what the made-up tensors stand for, where that is known
        data_in = [t for t in node.input if t and t not in opt_constants]
        if node.op_type in LAYOUT_OPS:
            known = [equiv[t] for t in (*data_in, *node.output) if t in equiv]
            if known:
                for t in (*data_in, *node.output):
                    equiv.setdefault(t, known[0])
                layout.add(node.name)
            continue
        made_up = [out for out in node.output if out and out not in equiv]
        if made_up and re.fullmatch(r".+_nchwc(_token_\d+)?", node.name):
            try:
                equiv[made_up[0]] = _named_output(node, equiv, orig)
                named.add(node.name)
            except ModelError:
                pass  # read as part of a group below
    materialized = set(equiv.values())  # values some kernel of the optimised graph computes
    groups = _groups_by_made_up_tensors(opt.node, equiv)
    kernels: dict[str, Kernel] = {}
    for members in groups:
        kernel = _read_group(members, equiv, opt_constants, materialized, orig, layout, named)
        names = [_profile_name(node, equiv, orig, file_index) for node in members]
        kernel = replace(kernel, name=" + ".join(names))
        for name in names:
            kernels[name] = kernel
    return kernels


def _profile_name(
    node: NodeProto, equiv: Mapping[str, str], orig: _Original, file_index: list[int]
) -> str:
    """The name ONNX Runtime's profile gives the kernel of ``node``: its name, or for a node
    the file left unnamed, ``<op type>_<its index in the file>``."""
    if node.name:
        return node.name
    producers = [
        orig.producer[equiv[t]] for t in node.output if t in equiv and equiv[t] in orig.producer
    ]
    if not producers:
        raise _unreadable(f"(unnamed {node.op_type})", "it produces no tensor of the model")
    return f"{node.op_type}_{file_index[producers[0]]}"


def _groups_by_made_up_tensors(nodes: Iterable[NodeProto], equiv: Mapping[str, str]) -> list[list]:
    """The optimised graph's kernels, those joined by a tensor that stands for nothing of the
    model in one group (their work can only be placed together), in graph order."""
    nodes = list(nodes)
    parent = list(range(len(nodes)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    producer = {t: i for i, n in enumerate(nodes) for t in n.output if t and t not in equiv}
    for i, node in enumerate(nodes):
        for t in node.input:
            if t in producer:
                parent[root(i)] = root(producer[t])
    groups: dict[int, list] = {}
    for i, node in enumerate(nodes):
        groups.setdefault(root(i), []).append(node)
    return list(groups.values())


def _read_group(
    members: list[NodeProto],
    equiv: Mapping[str, str],
    opt_constants: set[str],
    materialized: set[str],
    orig: _Original,
    layout: set[str],
    named: set[str],
) -> Kernel:
    """The original nodes one group of kernels computes (module docstring)."""
    name = " + ".join(n.name for n in members)
    op_type = "+".join(dict.fromkeys(n.op_type for n in members))
    own = {t for n in members for t in n.output if t}
    data_in = [t for n in members for t in n.input if t and t not in opt_constants and t not in own]
    if len(members) == 1 and members[0].name in layout:
        anchor = _anchor(equiv[members[0].output[0]], orig)
        return Kernel(name, op_type, (anchor,), counted_at=True)
    outputs = {equiv[t] for t in own if t in equiv}
    if not data_in:  # from weights alone (ONNX Runtime did not fold it)
        readers = [i for t in outputs for i in orig.consumers.get(t, [])]
        if not readers:
            raise _unreadable(name, "nothing of the model reads what it computes")
        return Kernel(name, op_type, (min(readers),), counted_at=True)
    missing = [t for t in data_in if t not in equiv]
    if missing:
        raise _unreadable(name, f"its input {missing[0]} stands for no tensor of the model")
    covered = _between({equiv[t] for t in data_in}, outputs, materialized - outputs, orig)
    if not covered:
        raise _unreadable(name, "it computes no node of the model")
    if members[0].name in named and sum(orig.ops[i] == op_type for i in covered) != 1:
        raise _unreadable(name, f"it does not cover exactly one {op_type} node")
    return Kernel(name, op_type, tuple(sorted(covered)))


def _unreadable(kernel: str, why: str) -> ModelError:
    return ModelError(
        f"cannot tell which nodes ONNX Runtime's kernel {kernel} computes ({why}), so the profile "
        "cannot be split by node"
    )


def _anchor(tensor: str, orig: _Original) -> int:
    """The node a layout change of ``tensor`` is counted at: its producer, else (a model
    input) its first consumer."""
    if tensor in orig.producer:
        return orig.producer[tensor]
    return min(orig.consumers.get(tensor, [0]))


def _named_output(node: NodeProto, equiv: Mapping[str, str], orig: _Original) -> str:
    """The original tensor a blocked kernel's made-up output stands for (module docstring)."""
    name = node.name
    found = re.fullmatch(r"(.+)_nchwc(_token_\d+)?", name)
    tensor = found.group(1) if found else None
    if tensor is None or tensor not in orig.producer:
        raise _unreadable(name, "its output is made up and its name names no tensor of the model")
    inputs = list(node.input)
    attrs = {a.name: a for a in node.attribute}
    fused_sum = len(inputs) >= 4 and inputs[3]
    if fused_sum:
        other = equiv.get(inputs[3])
        adds = [
            i
            for i in orig.consumers.get(tensor, [])
            if orig.ops[i] in ("Add", "Sum") and other in orig.inputs[i]
        ]
        if len(adds) != 1:
            raise _unreadable(name, f"no single Add of {tensor} and {other} for its fused Sum")
        tensor = _output_of(adds[0], orig)
    if "activation" in attrs and (fused_sum or orig.ops[orig.producer[tensor]] not in ACTIVATIONS):
        acts = [i for i in orig.consumers.get(tensor, []) if orig.ops[i] in ACTIVATIONS]
        if len(acts) != 1:
            raise _unreadable(name, f"no single activation after {tensor} for its fused one")
        tensor = _output_of(acts[0], orig)
    return tensor


def _output_of(position: int, orig: _Original) -> str:
    outs = orig.outputs[position]
    if len(outs) != 1:
        raise ModelError(f"node {orig.names[position]} has {len(outs)} outputs, expected one")
    return outs[0]


def _between(inputs: set[str], outputs: set[str], elsewhere: set[str], orig: _Original) -> set[int]:
    """The original nodes on the paths from ``inputs`` to ``outputs`` that no other kernel
    computes: back from the outputs, stopping at the inputs, weights and values computed
    ``elsewhere``; of those, the nodes reached forward from the inputs (a branch ONNX Runtime
    folded into a constant at load time, e.g. a shape computation, is no kernel's work)."""
    back: set[int] = set()
    stack = [t for t in outputs if t not in inputs]
    while stack:
        tensor = stack.pop()
        if tensor in inputs or tensor in orig.constants or tensor in elsewhere:
            continue
        node = orig.producer.get(tensor)
        if node is None or node in back:
            continue
        back.add(node)
        stack.extend(orig.inputs[node])
    covered: set[int] = set()
    frontier = [i for t in inputs for i in orig.consumers.get(t, []) if i in back]
    while frontier:
        node = frontier.pop()
        if node in covered:
            continue
        covered.add(node)
        for t in orig.outputs[node]:
            frontier.extend(i for i in orig.consumers.get(t, []) if i in back)
    return covered
