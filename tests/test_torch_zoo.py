"""Built-in PyTorch models: torchvision architectures without torchvision's compiled operators,
facenet's trained MTCNN weights, and the litert-torch route to a TFLite file."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest
import torch
from splitbench.errors import ModelError
from splitbench.graph import load_graph
from splitbench.intake.convert_torch import conversion_max_abs_diff
from splitbench.intake.pytorch import intake
from splitbench.measure.inputs import make_inputs
from splitbench.model_source import resolve_model
from splitbench_models.torch_zoo import ZOO, build_zoo_model, torchvision_package


def test_torchvision_architectures_build_but_compiled_operators_stay_missing() -> None:
    torchvision_package()
    mobilenet, shape = build_zoo_model("torchvision:mobilenet_v2")
    assert shape == (1, 3, 224, 224)
    assert sum(p.numel() for p in mobilenet.parameters()) == 3_504_872
    assert not mobilenet.training
    again, _ = build_zoo_model("torchvision:mobilenet_v2")  # fixed seed: same weights
    assert torch.equal(next(iter(mobilenet.parameters())), next(iter(again.parameters())))
    from torchvision.ops import nms

    with pytest.raises(RuntimeError, match="Couldn't load custom C\\+\\+ ops"):
        nms(torch.rand(3, 4), torch.rand(3), 0.5)


def test_unknown_builtin_is_one_line() -> None:
    with pytest.raises(ModelError, match="unknown built-in PyTorch model 'torchvision:nope'"):
        build_zoo_model("torchvision:nope")
    assert {
        "torchvision:retinanet_resnet50_fpn",
        "torchvision:ssd300_vgg16",
        "facenet:onet",
    } <= set(ZOO)


def test_facenet_onet_has_the_trained_weights_of_the_wheel() -> None:
    onet, _ = build_zoo_model("facenet:onet")
    spec = importlib.util.find_spec("facenet_pytorch")
    assert spec is not None and spec.origin is not None
    shipped = torch.load(os.path.join(os.path.dirname(spec.origin), "data", "onet.pt"))
    for name, value in onet.state_dict().items():
        assert torch.equal(value, shipped[name]), name


def test_facenet_onet_through_litert_torch(tmp_path: Path) -> None:
    resolved = resolve_model("facenet:onet", workdir=tmp_path)
    assert resolved.kind == "pytorch" and resolved.format == "tflite"
    assert (
        resolved.torch_export is not None and resolved.torch_export.parent == tmp_path / "pytorch"
    )
    graph = load_graph(resolved.path)
    assert graph.num_operators > 10
    assert not [op.opcode for op in graph.operators if op.opcode.startswith("CUSTOM")]
    assert {t.dtype for t in graph.tensors if not t.is_constant} == {"float32"}
    sets = make_inputs(resolved.path, inputs_dir=None, count=2, seed=0)
    export = intake("facenet:onet", workdir=tmp_path)
    diff = conversion_max_abs_diff(export.path, resolved.path, sets)
    assert 0.0 <= diff < 1e-3


def test_detectors_are_feature_extractor_plus_heads_without_nms() -> None:
    """RetinaNet: 5 FPN levels (P3-P7) x 9 anchors per location; SSD300: its 8732 default
    boxes. Both stop at the heads' outputs: no box decoding, no NMS (compiled operators)."""
    retinanet, shape = build_zoo_model("torchvision:retinanet_resnet50_fpn")
    assert shape == (1, 3, 512, 512)
    with torch.no_grad():
        cls, box = retinanet(torch.rand(1, 3, 128, 128))
    anchors = 9 * sum((128 // s) ** 2 for s in (8, 16, 32, 64, 128))
    assert cls.shape == (1, anchors, 91) and box.shape == (1, anchors, 4)
    ssd, shape = build_zoo_model("torchvision:ssd300_vgg16")
    with torch.no_grad():
        cls, box = ssd(torch.rand(*shape))
    assert cls.shape == (1, 8732, 91) and box.shape == (1, 8732, 4)
