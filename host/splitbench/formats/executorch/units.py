"""Split units of an exported (edge-dialect) program: the nodes that depend on the inputs.

``torch.export`` gives one FX graph whose placeholders are the weights (parameters, buffers,
lifted constants) followed by the user inputs. A split unit is a ``call_function`` node that
depends, directly or through other nodes, on a user input; the ``getitem`` nodes that unpack a
multi-output node belong to their producer's unit. Nodes that compute from weights alone (a
``permute`` of a weight feeding a matmul, a ``dequantize`` of a constant) are *weight-only*:
they are not units, never cross a cut, and are copied into every part that reads them, as the
weights themselves are. Split ``k`` puts units ``[0, k)`` on the client and ``[k, N)`` on the
server.

A *value* is a tensor a unit produces (the node itself, or each ``getitem`` of it). The cut of
split ``k`` is the set of values produced before ``k`` (user inputs count as produced before
every unit) that a unit at index ``>= k`` reads or that are model outputs — in production
order, so head outputs line up with tail inputs by position (``.pte`` programs have no tensor
names).
"""

from __future__ import annotations

import operator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch.fx
    from torch.export import ExportedProgram

_USER = -1  # "producer" index of a user input: before every unit


@dataclass(frozen=True)
class Value:
    """One tensor of the graph that can cross a cut."""

    name: str  # the FX node's name (stable across export runs of the same module)
    dtype: str  # torch dtype without the ``torch.`` prefix, e.g. "float32"
    shape: tuple[int, ...]
    nbytes: int  # dtype-aware: numel x element size
    producer: int  # unit index, or -1 for a user input


@dataclass(frozen=True)
class Unit:
    """One split unit: a node (and its getitems) that depends on the inputs."""

    index: int
    name: str  # the FX node's name
    op: str  # the operator, e.g. "aten.convolution.default"
    outputs: tuple[str, ...]  # names of the values it produces
    reads: tuple[str, ...]  # names of the values (not weights) it consumes
    module: str = ""  # the PyTorch module path it came from (its nn_module_stack), or ""


@dataclass(frozen=True)
class ProgramUnits:
    """Units, values and model inputs/outputs of one exported program."""

    units: tuple[Unit, ...]
    values: dict[str, Value]
    inputs: tuple[str, ...]  # user inputs, in signature order
    outputs: tuple[str, ...]  # model outputs, in signature order
    weight_only: tuple[str, ...]  # names of the weight-only nodes (copied, never cut)

    @property
    def num_units(self) -> int:
        return len(self.units)

    def last_use(self) -> dict[str, int]:
        """For every value, the highest unit index reading it (N for model outputs)."""
        n = self.num_units
        last: dict[str, int] = {}
        for unit in self.units:
            for name in unit.reads:
                last[name] = max(last.get(name, _USER), unit.index)
        for name in self.outputs:
            last[name] = n
        return last

    def cut(self, k: int) -> tuple[str, ...]:
        """Values crossing split ``k`` (see the module docstring)."""
        last = self.last_use()
        return tuple(
            name
            for name, value in self.values.items()
            if value.producer < k and last.get(name, _USER) >= k
        )

    def all_cuts(self) -> list[tuple[str, ...]]:
        """The cut of every split 0..N in one pass over the values' live ranges."""
        n = self.num_units
        last = self.last_use()
        cuts: list[list[str]] = [[] for _ in range(n + 1)]
        for name, value in self.values.items():  # production order, so each cut is ordered
            end = last.get(name, _USER)
            for k in range(value.producer + 1, min(end, n) + 1):
                cuts[k].append(name)
        return [tuple(c) for c in cuts]


def _node_args(node: torch.fx.Node) -> list[torch.fx.Node]:
    import torch.fx

    found: list[torch.fx.Node] = []
    torch.fx.map_arg((node.args, node.kwargs), lambda n: found.append(n) or n)
    return found


def _op_name(node: torch.fx.Node) -> str:
    target: Any = node.target
    for attr in ("_name", "__name__"):
        name = getattr(target, attr, None)
        if isinstance(name, str):
            return name.replace("::", ".")
    return str(target)


def _tensor_val(node: torch.fx.Node) -> Any:
    import torch

    val = node.meta.get("val")
    return val if isinstance(val, torch.Tensor) else None


def _value(node: torch.fx.Node, producer: int) -> Value:
    val = _tensor_val(node)
    shape = tuple(int(d) for d in val.shape)
    numel = 1
    for d in shape:
        numel *= d
    return Value(
        name=node.name,
        dtype=str(val.dtype).removeprefix("torch."),
        shape=shape,
        nbytes=numel * val.element_size(),
        producer=producer,
    )


def program_units(program: ExportedProgram) -> ProgramUnits:
    """Units of ``program`` in execution (graph) order."""
    from torch.export.graph_signature import InputKind

    from splitbench.module_paths import from_module_stack

    sig = program.graph_signature
    user_inputs = [s.arg.name for s in sig.input_specs if s.kind == InputKind.USER_INPUT]
    depends: set[str] = set(user_inputs)
    values: dict[str, Value] = {}
    units: list[Unit] = []
    weight_only: list[str] = []
    nodes = {n.name: n for n in program.graph.nodes}
    for name in user_inputs:
        values[name] = _value(nodes[name], _USER)
    unit_of: dict[str, int] = {}
    for node in program.graph.nodes:
        if node.op != "call_function":
            continue
        args = _node_args(node)
        if node.target is operator.getitem:
            producer = args[0].name
            if producer in unit_of:
                unit_of[node.name] = unit_of[producer]
                depends.add(node.name)
                values[node.name] = _value(node, unit_of[producer])
            else:
                weight_only.append(node.name)
            continue
        if not any(a.name in depends for a in args):
            weight_only.append(node.name)
            continue
        index = len(units)
        depends.add(node.name)
        unit_of[node.name] = index
        outs: tuple[str, ...] = ()
        if _tensor_val(node) is not None:
            values[node.name] = _value(node, index)
            outs = (node.name,)
        else:
            outs = tuple(
                u.name
                for u in node.users
                if u.target is operator.getitem and _tensor_val(u) is not None
            )
        reads = tuple(dict.fromkeys(a.name for a in args if a.name in depends))
        module = from_module_stack(node.meta.get("nn_module_stack"))
        units.append(Unit(index, node.name, _op_name(node), outs, reads, module))
    # getitem outputs were added after their producer's unit was appended; fix their order
    ordered = dict(sorted(values.items(), key=lambda kv: kv[1].producer))
    out_node = next(n for n in program.graph.nodes if n.op == "output")
    outputs = tuple(a.name for a in _node_args(out_node))
    units = [
        Unit(u.index, u.name, u.op, tuple(o for o in u.outputs if o in values), u.reads, u.module)
        for u in units
    ]
    return ProgramUnits(tuple(units), ordered, tuple(user_inputs), outputs, tuple(weight_only))
