"""Part programs of an exported program: units ``[a, b)`` as an ExportedProgram of their own.

The part is built from the whole program's FX graph by copying nodes, not by exporting again:
decompositions (the expensive part of ``to_edge``) ran once, on the whole model, and every
part reuses their result. Weights (parameters, buffers, lifted constants) and the weight-only
nodes computed from them are copied into each part that reads them, as weights of that part:
a weight never crosses the cut (cutting right after a weight's ``permute`` must not turn the
permuted weight into intermediate data).

The head of split ``k`` takes the user inputs it reads and returns the cut values it produced;
the tail takes the whole cut, in cut order, and returns the model outputs in order (a model
output produced in the head passes through the tail unchanged).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from splitbench.formats.executorch.units import ProgramUnits

if TYPE_CHECKING:
    import torch.fx
    from torch.export import ExportedProgram


@dataclass(frozen=True)
class PartSpec:
    """Units ``[start, stop)`` of the program, with the values it takes and returns."""

    start: int
    stop: int
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]

    @property
    def empty(self) -> bool:
        return self.start >= self.stop


def head_spec(units: ProgramUnits, k: int, cut: tuple[str, ...]) -> PartSpec:
    """Units ``[0, k)``: the user inputs they read, the cut values they make."""
    read = {name for u in units.units[:k] for name in u.reads}
    inputs = tuple(name for name in units.inputs if name in read)
    outputs = tuple(name for name in cut if units.values[name].producer >= 0)
    return PartSpec(0, k, inputs, outputs)


def tail_spec(units: ProgramUnits, k: int, cut: tuple[str, ...]) -> PartSpec:
    """Units ``[k, N)``: the whole cut in, the model outputs out."""
    return PartSpec(k, units.num_units, cut, units.outputs)


def whole_spec(units: ProgramUnits) -> PartSpec:
    return PartSpec(0, units.num_units, units.inputs, units.outputs)


def part_program(
    program: ExportedProgram, units: ProgramUnits, spec: PartSpec, verifier: Any = None
) -> ExportedProgram:
    """A new ExportedProgram computing ``spec`` with its own copy of the weights it uses.

    ``verifier``: the edge-dialect verifier class to attach (default: the program's own; a
    program read back from disk needs one that knows the operators kept for XNNPACK)."""
    import torch
    import torch.fx
    from torch.export import ExportedProgram
    from torch.export.exported_program import ModuleCallEntry, ModuleCallSignature
    from torch.export.graph_signature import (
        ExportGraphSignature,
        InputKind,
        InputSpec,
        OutputKind,
        OutputSpec,
        TensorArgument,
    )
    from torch.utils import _pytree as pytree

    nodes = {n.name: n for n in program.graph.nodes}
    in_part = {u.name for u in units.units[spec.start : spec.stop]}
    weight_specs = {
        s.arg.name: s for s in program.graph_signature.input_specs if s.kind != InputKind.USER_INPUT
    }
    weight_only = set(units.weight_only)

    # Which nodes the part copies: its units, their getitems, and every weight-only node and
    # weight placeholder they read, transitively.
    keep: set[str] = set()
    stack: list[torch.fx.Node] = []
    for node in program.graph.nodes:
        if node.op != "call_function":
            continue
        if node.name in in_part or (
            node.target is __import__("operator").getitem and node.args[0].name in in_part
        ):
            keep.add(node.name)
            stack.append(node)
    while stack:
        node = stack.pop()
        for arg in node.all_input_nodes:
            if arg.name in keep:
                continue
            if arg.name in weight_only or arg.name in weight_specs:
                keep.add(arg.name)
                stack.append(arg)

    graph = torch.fx.Graph()
    env: dict[str, torch.fx.Node] = {}
    input_specs: list[InputSpec] = []
    state_dict: dict[str, torch.Tensor] = {}
    constants: dict[str, object] = {}
    for node in program.graph.nodes:  # weights first, in the whole program's order
        if node.op == "placeholder" and node.name in keep:
            new = graph.node_copy(node)
            env[node.name] = new
            old = weight_specs[node.name]
            input_specs.append(
                InputSpec(old.kind, TensorArgument(new.name), old.target, old.persistent)
            )
            if old.target in program.state_dict:
                state_dict[old.target] = program.state_dict[old.target]
            else:
                constants[old.target] = program.constants[old.target]
    for name in spec.inputs:
        src = nodes[name]
        new = graph.placeholder(name)
        new.meta = {k: v for k, v in src.meta.items() if k in ("val", "tensor_meta")}
        env[name] = new
        input_specs.append(InputSpec(InputKind.USER_INPUT, TensorArgument(new.name), None))
    for node in program.graph.nodes:
        if node.op == "call_function" and node.name in keep and node.name not in env:
            env[node.name] = graph.node_copy(node, lambda n: env[n.name])
    outs = [env[name] for name in spec.outputs]
    graph.output(tuple(outs))
    graph.eliminate_dead_code()
    output_specs = [OutputSpec(OutputKind.USER_OUTPUT, TensorArgument(n.name), None) for n in outs]
    signature = ExportGraphSignature(input_specs=input_specs, output_specs=output_specs)
    module = torch.fx.GraphModule(torch.nn.Module(), graph)
    in_spec = pytree.tree_flatten((tuple(object() for _ in spec.inputs), {}))[1]
    out_spec = pytree.tree_flatten(tuple(object() for _ in outs))[1]
    return ExportedProgram(
        root=module,
        graph=module.graph,
        graph_signature=signature,
        state_dict=state_dict,
        range_constraints={},
        module_call_graph=[
            ModuleCallEntry("", ModuleCallSignature([], [], in_spec=in_spec, out_spec=out_spec))
        ],
        constants=constants,
        verifiers=[verifier or program.verifier],
    )
