"""Batch norms folded into the convolution (or linear) before them, as XNNPACK does.

XNNPACK folds a batch norm into the convolution or linear it follows when it lowers them into
one delegate (its ``FuseBatchNormPass``, run in the backend's preprocessing). The per-operator
profiling program lowers every operator alone, so the two never meet there: each batch norm
becomes a 1x1 depthwise convolution of its own, with its own delegate call and layout changes,
that the real program never runs. The profiling program is therefore lowered from a copy of
the part with XNNPACK's own pass applied first (:func:`fold_batch_norms`), and the profile
attributes the folded call to both units (:func:`folded_batch_norms`): a split between a
convolution and its batch norm gets no prediction, as for any other fused call.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from torch.export import ExportedProgram


def folded_batch_norms(program: ExportedProgram) -> dict[str, str]:
    """Node name of each convolution or linear → the batch norm XNNPACK folds into it (the
    same test its pass makes: a single user, static weights, rank 3 or 4 for a convolution)."""
    from executorch.backends.xnnpack._passes.fuse_batch_norm import FuseBatchNormPass
    from executorch.exir.dialects._ops import ops as exir_ops

    producers = {
        exir_ops.edge.aten.convolution.default,
        exir_ops.edge.aten.linear.default,
    }
    norms = {
        exir_ops.edge.aten.native_batch_norm.default,
        exir_ops.edge.aten._native_batch_norm_legit_no_training.default,
    }
    found: dict[str, str] = {}
    for node in program.graph.nodes:
        if node.op != "call_function" or node.target not in producers or len(node.users) != 1:
            continue
        bn = next(iter(node.users))
        if bn.target in norms and FuseBatchNormPass.can_fuse(node, bn, program):
            found[node.name] = bn.name
    return found


def fold_batch_norms(program: ExportedProgram) -> ExportedProgram:
    """``program`` with its batch norms folded by XNNPACK's own pass (through its pass
    manager, as the backend runs it); the nodes left keep their names and debug handles."""
    from executorch.backends.xnnpack._passes import XNNPACKPassManager
    from executorch.backends.xnnpack._passes.fuse_batch_norm import FuseBatchNormPass

    if not folded_batch_norms(program):
        return program
    return XNNPACKPassManager(program, passes=[FuseBatchNormPass]).transform()
