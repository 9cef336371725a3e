"""The TFLite format: flatbuffer graph (:mod:`.graph`), flatbuffer surgery (:mod:`.splitter`),
LiteRT runners (:mod:`.runner`; phones run parts with ``benchmark_model``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from splitbench.formats.base import InputSpec, PartMaker, Session
    from splitbench.graph import ModelGraph
    from splitbench.intake.pytorch import TorchExport
    from splitbench.measure.types import PartMeasurement, RunSettings
    from splitbench.predict import NoPrediction, Prediction


class TFLiteFormat:
    name = "tflite"
    suffix = ".tflite"
    packs_in_process = True
    shown_in_model_explorer = True
    phone_runner = "benchmark_model"
    codes_head_weights = True
    input_shapes_in_file = False

    def sniff(self, path: Path, head: bytes) -> bool:
        return len(head) >= 8 and head[4:8] == b"TFL3"

    def load_graph(
        self, path: Path, input_shapes: Mapping[str, tuple[int, ...]] | None = None
    ) -> ModelGraph:
        from splitbench.formats.tflite.graph import load_graph

        return load_graph(path, input_shapes)

    def part_maker(self, graph: ModelGraph) -> PartMaker:
        from splitbench.formats.tflite.splitter import TFLitePartMaker

        return TFLitePartMaker(graph)

    def input_specs(self, path: Path) -> list[InputSpec]:
        from splitbench.formats.tflite.runner import input_specs

        return input_specs(path)

    def open_session(self, path: Path, threads: int = 1) -> Session:
        from splitbench.formats.tflite.runner import InterpreterSession

        return InterpreterSession(path, threads)

    def measure_on_host(
        self, path: Path, settings: RunSettings, *, profile_dir: Path | None = None
    ) -> PartMeasurement:
        """LiteRT's Python interpreter has no per-operator profile: ``profile_dir`` is unused
        (phones profile with benchmark_model)."""
        from splitbench.formats.tflite.litert import measure_file

        return measure_file(path, settings)

    def host_runtime(self) -> str:
        from splitbench.formats.tflite.litert import runtime_version

        return runtime_version()

    def with_input_shapes(
        self, path: Path, input_shapes: Mapping[str, tuple[int, ...]], workdir: Path
    ) -> Path | None:
        return None  # load_graph applies them

    def from_torch(self, export: TorchExport) -> Path:
        from splitbench.intake.convert_torch import to_tflite

        return to_tflite(export)

    def predict(
        self, graph: ModelGraph, whole: PartMeasurement, evidence: Sequence[Path]
    ) -> Prediction | NoPrediction | None:
        """benchmark_model's op-profiling CSV (phones): LiteRT's Python interpreter on the host
        has no per-operator profile. Calibrated to the whole model's directly measured mean."""
        from splitbench.predict import from_run_order

        return from_run_order(graph, evidence, measured_ms=whole.steady_mean_ms)


FORMAT = TFLiteFormat()
