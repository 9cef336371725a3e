"""Stage 0 of ``compress``: the MODEL argument → the anchor model file and its format.

* A PyTorch model given as a module (``torchvision:NAME``, ``facenet:NAME``, ``file.py:factory``)
  is compressed as its ``state_dict()`` by default, as the seeds' framework does: the module's
  state dict is saved as ``<out>/anchor/<name>.pt`` and coded tensor by tensor
  (:mod:`splitbench.compress.torch_params`).
* Everything else — and a PyTorch model with ``--format tflite`` — goes through
  :func:`~splitbench.model_source.resolve_model` to one ``.tflite`` file (a PyTorch model: its
  litert-torch conversion), whose weight buffers are coded
  (:mod:`splitbench.compress.tflite_params`). A ``.pt2`` export has no module, so only this
  route applies to it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from splitbench.compress.params import ModelIO
from splitbench.errors import ModelError

FORMATS = ("state-dict", "tflite")


@dataclass(frozen=True)
class AnchorModel:
    path: Path  # the anchor model file
    name: str  # model_name in results.csv
    io: ModelIO  # its format


def default_format(spec: str) -> str:
    from splitbench.intake.pytorch import PT2_SUFFIX, is_pytorch_spec

    if is_pytorch_spec(spec) and not spec.lower().endswith(PT2_SUFFIX):
        return "state-dict"
    return "tflite"


def open_anchor(
    spec: str,
    out: Path,
    fmt: str | None = None,
    input_shapes: Mapping[str, tuple[int, ...]] | None = None,
) -> AnchorModel:
    """The anchor of MODEL ``spec`` in format ``fmt`` (None: :func:`default_format`).

    ``input_shapes`` (``--input-shape``) is what a PyTorch factory that returns no example
    inputs needs, and fixes dynamic input shapes of a model converted to TFLite."""
    from splitbench.intake.pytorch import is_pytorch_spec

    fmt = fmt or default_format(spec)
    if fmt not in FORMATS:
        raise ModelError(f"--format {fmt}: compress codes a 'state-dict' or a 'tflite' model")
    if fmt == "state-dict":
        if not is_pytorch_spec(spec):
            raise ModelError(
                f"--format state-dict applies to PyTorch modules (torchvision:NAME, facenet:NAME,"
                f" file.py:factory); {spec} is not one"
            )
        from splitbench.compress.torch_params import TorchStateDictIO
        from splitbench.intake.pytorch import load_module

        module = load_module(spec, input_shapes)
        io = TorchStateDictIO(module)
        stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", module.name)
        return AnchorModel(io.save_anchor(out / "anchor" / f"{stem}.pt"), module.name, io)
    from splitbench.compress.tflite_params import TFLITE
    from splitbench.model_source import resolve_model

    resolved = resolve_model(spec, workdir=out / "converted", input_shapes=input_shapes)
    return AnchorModel(resolved.path, resolved.name, TFLITE)
