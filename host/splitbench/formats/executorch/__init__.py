"""The ExecuTorch format: split units of an exported program (:mod:`.units`), part programs cut
out of the edge program decomposed once (:mod:`.splitter`), lowered with XNNPACK to ``.pte``
in parallel workers with a content cache (:mod:`.lower`), run on this host with
``executorch.runtime`` (:mod:`.runner`) and profiled per operator with ETDump (:mod:`.profile`,
read into split times corrected to the real program by :mod:`.etdump_times`).
Phones run parts with ExecuTorch's ``executor_runner``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from splitbench.formats.base import InputSpec, PartMaker, Session
    from splitbench.graph import ModelGraph
    from splitbench.intake.pytorch import TorchExport
    from splitbench.measure.types import PartMeasurement, RunSettings
    from splitbench.predict import NoPrediction, Prediction

# ExecuTorch's XNNPACK backend imports torchao, which logs a warning for each of its CUDA
# extensions this CPU build cannot load, and torch's pytree warns about one of torchao's enums:
# three lines on every run that would break the one-line contract of an error.
for _noisy in ("torchao", "torch.utils._pytree"):
    logging.getLogger(_noisy).setLevel(logging.ERROR)


class ExecuTorchFormat:
    name = "executorch"
    suffix = ".pte"
    packs_in_process = False  # parts are lowered in worker processes
    shown_in_model_explorer = False
    phone_runner = "executor_runner"
    codes_head_weights = False
    input_shapes_in_file = False

    def sniff(self, path: Path, head: bytes) -> bool:
        return len(head) >= 8 and head[4:6] == b"ET"

    def load_graph(
        self, path: Path, input_shapes: Mapping[str, tuple[int, ...]] | None = None
    ) -> ModelGraph:
        from splitbench.formats.executorch.graph import load_graph

        return load_graph(path)

    def part_maker(self, graph: ModelGraph) -> PartMaker:
        from splitbench.formats.executorch.graph import ExecuTorchPartMaker

        return ExecuTorchPartMaker(graph)

    def input_specs(self, path: Path) -> list[InputSpec]:
        from splitbench.formats.executorch.session import input_specs

        return input_specs(path)

    def open_session(self, path: Path, threads: int = 1) -> Session:
        from splitbench.formats.executorch.session import PteSession

        return PteSession(path, threads)

    def measure_on_host(
        self, path: Path, settings: RunSettings, *, profile_dir: Path | None = None
    ) -> PartMeasurement:
        from splitbench.formats.executorch.profile import measure_with_profile

        return measure_with_profile(path, settings, profile_dir)

    def host_runtime(self) -> str:
        from splitbench.formats.executorch.runner import runtime_version

        return runtime_version()

    def with_input_shapes(
        self, path: Path, input_shapes: Mapping[str, tuple[int, ...]], workdir: Path
    ) -> Path | None:
        return None  # load_graph applies them

    def from_torch(self, export: TorchExport) -> Path:
        from splitbench.formats.executorch.model import whole_pte

        return whole_pte(export.path)

    def predict(
        self, graph: ModelGraph, whole: PartMeasurement, evidence: Sequence[Path]
    ) -> Prediction | NoPrediction | None:
        """ExecuTorch's ETDump of the per-operator profiling program, mapped to split units
        through the debug handles (:mod:`.profile`)."""
        from splitbench.formats.executorch.profile import predict_from_etdump

        return predict_from_etdump(graph, whole, evidence)


FORMAT = ExecuTorchFormat()
