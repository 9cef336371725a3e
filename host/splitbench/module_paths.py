"""PyTorch module paths (``layer3.1.conv2``) of split units, read from what each converter
keeps of the export's module stack, so a PyTorch user can say "cut after layer2".

* ONNX (``torch.onnx.export``): each node's ``pkg.torch.onnx.name_scopes`` metadata, the module
  scopes from the root down, ending with the FX node's own name.
* TFLite (``litert-torch``): tensor names of the form
  ``pkg.Root/pkg.Class_attr/pkg.Class_attr;1`` (a fused operator joins several with ``;;``).
* ExecuTorch: the FX node's ``nn_module_stack`` (innermost module last).

A unit outside every submodule (a functional op in the root's ``forward``) has the empty path;
so does every unit of a model that did not come from PyTorch.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from splitbench.graph import ModelGraph

NAME_SCOPES = "pkg.torch.onnx.name_scopes"

# One segment of a litert-torch tensor name: a dotted class path, "_", the attribute name.
_SEGMENT = re.compile(r"^[A-Za-z_][\w]*(?:\.[A-Za-z_][\w]*)+$")


def from_name_scopes(text: str) -> str:
    """``"['', 'features', 'features.0', 'features.0.1', 'conv2d']"`` → ``features.0.1``."""
    try:
        scopes = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return ""
    if not isinstance(scopes, list) or len(scopes) < 2:
        return ""
    return str(scopes[-2])


def from_litert_name(name: str) -> str:
    """The module path in a litert-torch tensor name; empty when the name is not one, or names
    only the root. A fused operator's name joins its pieces' names with ``;;``: the first
    piece inside a submodule names it (Conv2d ``a`` fused with a functional relu is ``a``)."""
    for piece in name.split(";;"):
        path = _piece_path(piece)
        if path:
            return path
    return ""


def _is_litert_name(name: str) -> bool:
    return bool(_SEGMENT.match(re.sub(r";\d+$", "", name.split(";;", 1)[0]).split("/", 1)[0]))


def _piece_path(piece: str) -> str:
    segments = re.sub(r";\d+$", "", piece).split("/")
    if len(segments) < 2 or not _SEGMENT.match(segments[0]):
        return ""
    attrs: list[str] = []
    for segment in segments[1:]:
        head, _, cls_attr = segment.rpartition(".")
        if not head or "_" not in cls_attr:
            break
        attrs.append(cls_attr.split("_", 1)[1])
    return ".".join(attrs)


def from_module_stack(stack: Mapping[str, Any] | None) -> str:
    """The innermost module's path in an FX node's ``nn_module_stack``."""
    if not stack:
        return ""
    path = list(stack.values())[-1]
    path = path[0] if isinstance(path, tuple) else path
    return str(path).removeprefix("L['self'].").removeprefix("L__self__")


def shortened(tensor_name: str) -> str:
    """A converted tensor's name shown as its module path (``(root)`` for the root's own
    forward), with litert-torch's ``;N`` index kept so two tensors of one module stay apart;
    other names as they are."""
    if not _is_litert_name(tensor_name):
        return tensor_name
    path = from_litert_name(tensor_name) or "(root)"
    found = re.search(r";(\d+)$", tensor_name)
    return f"{path};{found[1]}" if found else path


def module_after(graph: ModelGraph, split: int) -> str:
    """Split ``k`` cuts after unit ``k - 1``: its module path ("" at split 0 and when unknown;
    ``(root)`` for a unit of the root module's own ``forward``)."""
    if split <= 0 or not any(op.module for op in graph.operators):
        return ""
    return graph.operators[split - 1].module or "(root)"
