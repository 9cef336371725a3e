"""The ExecuTorch route's graph and part maker, in the pipeline's terms.

:class:`~splitbench.graph.ModelGraph` operators are the split units of the edge program
(:mod:`.units`), its tensors the values that can cross a cut. Weights are not listed at all:
they never cross a cut, and every part carries its own copy of those it reads, so the shared
cut plan and splitter see a graph without weight-only operators.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

from splitbench.errors import ModelError
from splitbench.formats.base import PartIO, Segments
from splitbench.formats.executorch.lower import EdgeModel, LoweringError, PartCache
from splitbench.formats.executorch.model import cache_root, export_for, load_edge
from splitbench.formats.executorch.splitter import PartSpec
from splitbench.graph import ModelGraph, OperatorInfo, TensorInfo


def load_graph(path: Path) -> ModelGraph:
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"model file not found: {path}")
    export = export_for(path)
    edge = load_edge(export)
    units = edge.units
    index = {name: i for i, name in enumerate(units.values)}
    tensors = tuple(
        TensorInfo(i, v.name, v.shape, v.dtype, is_constant=False)
        for i, v in enumerate(units.values.values())
    )
    operators = tuple(
        OperatorInfo(
            u.index,
            u.op,
            tuple(index[n] for n in u.reads),
            tuple(index[n] for n in u.outputs),
            module=getattr(u, "module", ""),
        )
        for u in units.units
    )
    data = path.read_bytes()
    return ModelGraph(
        path=path,
        sha256=hashlib.sha256(data).hexdigest(),
        file_bytes=len(data),
        operators=operators,
        tensors=tensors,
        inputs=tuple(index[n] for n in units.inputs),
        outputs=tuple(index[n] for n in units.outputs if n in index),
        format="executorch",
    )


def spec_of(io: PartIO) -> PartSpec:
    ops = io.operators
    return PartSpec(min(ops), max(ops) + 1, io.input_names, io.output_names)


class ExecuTorchPartMaker:
    """Head and tail ``.pte`` bytes of any split, lowered once and cached (see :mod:`.lower`)."""

    def __init__(self, graph: ModelGraph, jobs: int = 1) -> None:
        self.graph = graph
        export = export_for(graph.path)
        self.edge: EdgeModel = load_edge(export)
        self.cache = PartCache(self.edge, cache_root(export) / "parts", jobs)
        self.last: dict[str, object] = {}  # role -> LoweredPart of the last part made

    def set_jobs(self, jobs: int) -> None:
        self.cache.jobs = max(1, jobs)

    def prefetch(self, ios: Sequence[PartIO], jobs: int) -> None:
        """Start lowering these parts in ``jobs`` worker processes; later calls of
        :meth:`head`/:meth:`tail` pick them up."""
        self.cache.jobs = max(1, jobs)
        self.cache.prefetch([spec_of(io) for io in ios])

    def _bytes(self, role: str, k: int, io: PartIO) -> Segments:
        try:
            part = self.cache.get(spec_of(io))
        except LoweringError as exc:
            raise LoweringError(f"split {k} {role}: {exc}") from None
        self.last[role] = part
        return [memoryview(part.path.read_bytes())]

    def head(self, k: int, io: PartIO) -> Segments:
        return self._bytes("head", k, io)

    def tail(self, k: int, io: PartIO) -> Segments:
        return self._bytes("tail", k, io)

    def background_pids(self) -> list[int]:
        return self.cache.worker_pids()

    def close(self) -> None:
        self.cache.close()
