"""A real torchvision architecture through the ONNX route: torchvision:mobilenet_v2 exported
with torch.export and torch.onnx, every cut checked against an independent computation, parts
lossless under ONNX Runtime, and the conversion error against eager PyTorch."""

from __future__ import annotations

from pathlib import Path

import pytest
from onnx_models import independent_cuts
from splitbench.cache import cache_dir
from splitbench.cutplan import plan_cuts
from splitbench.graph import load_graph
from splitbench.intake.convert_torch import conversion_max_abs_diff
from splitbench.measure.inputs import make_inputs
from splitbench.model_source import resolve_model
from splitbench.splitter import ModelSplitter
from splitbench.verify import verify_parts

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def mobilenet() -> tuple[Path, Path]:
    # Exported once per machine into the user cache (the intake's index finds it again).
    resolved = resolve_model("torchvision:mobilenet_v2", workdir=cache_dir("tests"), fmt="onnx")
    assert resolved.torch_export is not None
    return resolved.path, resolved.torch_export


def test_every_cut_of_mobilenet_v2_matches_an_independent_computation(
    mobilenet: tuple[Path, Path],
) -> None:
    path, _ = mobilenet
    graph = load_graph(path)
    assert graph.format == "onnx" and graph.num_operators == 100
    feeds = make_inputs(path, inputs_dir=None, count=1, seed=0)[0]
    expected = independent_cuts(path, feeds)
    cuts = plan_cuts(graph)
    for cut, (names, nbytes) in zip(cuts, expected, strict=True):
        assert set(cut.names) == names and cut.nbytes == nbytes, cut.split
    two = [c for c in cuts if c.num_tensors == 2]  # inside the inverted residual blocks
    assert len(two) >= 10
    assert cuts[0].nbytes == 3 * 224 * 224 * 4 and cuts[-1].nbytes == 1000 * 4


def test_mobilenet_v2_parts_are_lossless_and_the_conversion_is_measured(
    mobilenet: tuple[Path, Path], tmp_path: Path
) -> None:
    path, export = mobilenet
    sets = make_inputs(path, inputs_dir=None, count=1, seed=0)
    splitter = ModelSplitter(path)
    residual = next(c.split for c in splitter.cuts if c.num_tensors == 2)
    for k in sorted({0, 1, residual, 50, 99, 100}):
        files = splitter.write_parts(k, tmp_path)
        result = verify_parts(path, files.head_path, files.tail_path, sets)
        assert result.error is None and result.passed, (k, result)
    assert 0 <= conversion_max_abs_diff(export, path, sets) < 1e-3
