"""The ONNX format: protobuf graph (:mod:`.graph`), parts assembled from pre-serialized fields
(:mod:`.splitter`), ONNX Runtime on the host (:mod:`.runner`). No ONNX Runtime binary for
Android can be had here, so ONNX parts run on the host (or a host-like server) only."""

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


class OnnxFormat:
    name = "onnx"
    suffix = ".onnx"
    packs_in_process = True
    shown_in_model_explorer = False
    phone_runner = None  # no ONNX Runtime binary for Android can be had here
    codes_head_weights = False
    input_shapes_in_file = True

    def sniff(self, path: Path, head: bytes) -> bool:
        # ModelProto starts with ir_version (field 1, varint: 0x08) in every exporter's output.
        return len(head) >= 2 and head[0] == 0x08 and 3 <= head[1] <= 20

    def load_graph(
        self, path: Path, input_shapes: Mapping[str, tuple[int, ...]] | None = None
    ) -> ModelGraph:
        from splitbench.formats.onnx.graph import load_graph

        return load_graph(path, input_shapes)

    def part_maker(self, graph: ModelGraph) -> PartMaker:
        from splitbench.formats.onnx.splitter import OnnxPartMaker

        return OnnxPartMaker(graph)

    def input_specs(self, path: Path) -> list[InputSpec]:
        from splitbench.formats.onnx.runner import input_specs

        return input_specs(path)

    def open_session(self, path: Path, threads: int = 1) -> Session:
        from splitbench.formats.onnx.runner import OrtSession

        return OrtSession(path, threads)

    def measure_on_host(
        self, path: Path, settings: RunSettings, *, profile_dir: Path | None = None
    ) -> PartMeasurement:
        from splitbench.formats.onnx.runner import measure_file

        return measure_file(path, settings, profile_dir=profile_dir)

    def host_runtime(self) -> str:
        from splitbench.formats.onnx.runner import runtime_version

        return runtime_version()

    def with_input_shapes(
        self, path: Path, input_shapes: Mapping[str, tuple[int, ...]], workdir: Path
    ) -> Path | None:
        from splitbench.formats.onnx.graph import with_static_inputs

        return with_static_inputs(path, input_shapes, workdir)

    def from_torch(self, export: TorchExport) -> Path:
        from splitbench.intake.convert_torch import to_onnx

        return to_onnx(export)

    def predict(
        self, graph: ModelGraph, whole: PartMeasurement, evidence: Sequence[Path]
    ) -> Prediction | NoPrediction | None:
        """ONNX Runtime's per-node profile (``*.ortprofile.json``) of the whole model, read with
        the profiled session's optimised graph (``*.ortgraph.onnx``)."""
        from splitbench.formats.onnx.runner import PROFILE_SUFFIX, predict_from_profile
        from splitbench.predict import NoPrediction

        if not any(p.name.endswith(PROFILE_SUFFIX) for p in evidence):
            reason = whole.meta.get("profile_error") if whole.meta else None
            return NoPrediction(reason) if reason else None
        return predict_from_profile(graph, whole, list(evidence))


FORMAT = OnnxFormat()
