"""A ``.pte`` run by tensor name on this host (the lossless and conversion checks).

ExecuTorch programs take and return positional tensors; every ``.pte`` splitbench makes carries
its input and output names in a constant method (:data:`~.lower.IO_METHOD`), so a part is
self-describing. A ``.pte`` made elsewhere gets ``input_0``, ``output_0``, ...
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from splitbench.formats.base import InputSpec
from splitbench.measure.types import PartFailure


def _names(pte: Path, method_meta: Any) -> tuple[list[str], list[str]]:
    from splitbench.formats.executorch.model import read_meta

    meta = read_meta(pte)
    if meta:
        return list(meta["inputs"]), list(meta["outputs"])
    return (
        [f"input_{i}" for i in range(method_meta.num_inputs())],
        [f"output_{i}" for i in range(method_meta.num_outputs())],
    )


def input_specs(path: Path) -> list[InputSpec]:
    from splitbench.formats.executorch.runner import PteFailure, load_program_only
    from splitbench.formats.executorch.runner import input_specs as tensor_specs

    try:
        program = load_program_only(Path(path))
        method_meta = program.metadata("forward")
    except PteFailure as failure:
        from splitbench.errors import ModelError

        raise ModelError(f"{Path(path).name}: {failure.detail}") from None
    names, _ = _names(Path(path), method_meta)
    return [
        InputSpec(
            name=name,
            shape=spec.shape,
            dtype="float32" if spec.dtype == "bfloat16" else spec.dtype,
            layout="NCHW" if len(spec.shape) == 4 else "NHWC",
        )
        for name, spec in zip(names, tensor_specs(method_meta), strict=True)
    ]


class PteSession:
    """One loaded ``.pte`` run by tensor name."""

    def __init__(self, path: Path, threads: int = 1) -> None:
        from splitbench.formats.executorch.runner import PteFailure, load, set_threads

        set_threads(max(1, threads))
        try:
            self._program, self._method = load(Path(path))
        except PteFailure as failure:
            raise PartFailure(failure.phase, failure.detail) from None
        self._inputs, self._outputs = _names(Path(path), self._method.method_meta())

    @property
    def input_names(self) -> list[str]:
        return list(self._inputs)

    @property
    def output_names(self) -> list[str]:
        return list(self._outputs)

    def run(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        import torch

        missing = [n for n in self._inputs if n not in feeds]
        if missing:
            raise ValueError(f"no value for input(s) {missing}; the part reads {self._inputs}")
        args = [torch.from_numpy(np.ascontiguousarray(feeds[n])) for n in self._inputs]
        try:
            outs = self._method(args)
        except (RuntimeError, ValueError) as exc:
            raise PartFailure("invoke", str(exc)) from None
        return {
            name: (out.numpy() if hasattr(out, "numpy") else np.asarray(out))
            for name, out in zip(self._outputs, outs, strict=True)
        }
