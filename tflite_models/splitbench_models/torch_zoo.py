"""Built-in PyTorch models: torchvision architectures (fixed-seed weights) and facenet's MTCNN
(real trained weights shipped in the ``facenet-pytorch==2.6.0`` wheel).

torchvision without its compiled operators
------------------------------------------
The only torchvision matching torch 2.13.0 is 0.28.0, a CUDA build. Its ``_C`` extension cannot
load against the CPU torch, and ``import torchvision`` then fails in
``torchvision/_meta_registrations.py`` ("operator torchvision::nms does not exist"), which
registers shape functions for those compiled operators. The model architectures are plain
Python and do not need them. :func:`torchvision_package` therefore registers a bare
``torchvision`` package object whose search path is the installed package, *without running
its ``__init__``* (so no meta registrations, no datasets/io imports), and imports
``torchvision.models`` through it. Nothing is faked: the compiled operators stay missing, and
calling one (``torchvision.ops.nms``, ``roi_align``, ...) raises torchvision's own
"Couldn't load custom C++ ops" error. That is why the detection models are built here as their
feature extractor plus heads only — the box decoding and NMS that follow need those operators.

No weights can be downloaded here; torchvision models get weights from a fixed seed. Weights
change neither sizes nor CPU timings, so the split table is the real one; accuracy is not
claimed. facenet-pytorch ships its P-Net, R-Net and O-Net weights inside the wheel (installed
``--no-deps``: it pins an old torch it does not need), so those are the trained networks.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from splitbench.errors import ModelError

TORCHVISION_PREFIX = "torchvision:"
FACENET_PREFIX = "facenet:"
SEED = 0


@dataclass(frozen=True)
class ZooModel:
    """One built-in model: how to build it and its default input shape (NCHW)."""

    name: str
    input_shape: tuple[int, ...]
    build: Callable[[], Any]  # -> torch.nn.Module (eval mode not yet set)
    note: str


def torchvision_package() -> types.ModuleType:
    """``torchvision`` with its Python architectures importable and its compiled operators
    absent (see the module docstring). Idempotent; a real, working ``torchvision`` already
    imported (a CPU build some day) is used as it is."""
    existing = sys.modules.get("torchvision")
    if existing is not None:
        return existing
    spec = importlib.util.find_spec("torchvision")
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(
            "torchvision is not installed: ./install.sh installs torchvision==0.28.0 --no-deps"
            " (its model architectures are used without its compiled operators)"
        )
    package = types.ModuleType("torchvision")
    package.__path__ = list(spec.submodule_search_locations)
    package.__file__ = spec.origin
    package.__spec__ = spec
    package.__package__ = "torchvision"
    sys.modules["torchvision"] = package
    try:
        version = importlib.import_module("torchvision.version")
        package.__version__ = getattr(version, "__version__", "unknown")  # type: ignore[attr-defined]
    except ImportError:
        package.__version__ = "unknown"  # type: ignore[attr-defined]
    return package


def _tv(module: str) -> Any:
    torchvision_package()
    return importlib.import_module(f"torchvision.models{module}")


def _classifier(name: str) -> Callable[[], Any]:
    def build() -> Any:
        return getattr(_tv(""), name)(weights=None)

    return build


def _detector(kind: str) -> Any:
    """Feature extractor + heads of a torchvision detector, as a module returning
    ``(cls_logits, bbox_regression)``: everything before the box decoding and NMS."""
    import torch

    detection = _tv(".detection")
    if kind == "retinanet":
        full = detection.retinanet_resnet50_fpn(weights=None, weights_backbone=None)
    else:
        full = detection.ssd300_vgg16(weights=None, weights_backbone=None)

    class DetectorFeaturesAndHeads(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.backbone = full.backbone
            self.head = full.head

        def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            features = self.backbone(images)
            levels = list(features.values()) if isinstance(features, dict) else [features]
            out = self.head(levels)
            return out["cls_logits"], out["bbox_regression"]

    DetectorFeaturesAndHeads.__name__ = f"{kind}_features_and_heads"
    return DetectorFeaturesAndHeads()


def _facenet(net: str) -> Callable[[], Any]:
    def build() -> Any:
        torchvision_package()  # facenet_pytorch imports torchvision.ops (Python) at import time
        try:
            mtcnn = importlib.import_module("facenet_pytorch.models.mtcnn")
        except ImportError:
            raise ModelError(
                "facenet-pytorch is not installed: ./install.sh installs facenet-pytorch==2.6.0"
                " --no-deps"
            ) from None
        return getattr(mtcnn, net)(pretrained=True)

    return build


ZOO: dict[str, ZooModel] = {
    m.name: m
    for m in (
        ZooModel(
            "torchvision:mobilenet_v2",
            (1, 3, 224, 224),
            _classifier("mobilenet_v2"),
            "MobileNetV2, 3.5 M parameters, fixed-seed weights",
        ),
        ZooModel(
            "torchvision:resnet18",
            (1, 3, 224, 224),
            _classifier("resnet18"),
            "ResNet-18, 11.7 M parameters, fixed-seed weights",
        ),
        ZooModel(
            "torchvision:vgg16",
            (1, 3, 224, 224),
            _classifier("vgg16"),
            "VGG-16, 138 M parameters, fixed-seed weights",
        ),
        ZooModel(
            "torchvision:retinanet_resnet50_fpn",
            (1, 3, 512, 512),
            lambda: _detector("retinanet"),
            "RetinaNet ResNet-50 FPN feature extractor + heads (no box decoding/NMS)",
        ),
        ZooModel(
            "torchvision:ssd300_vgg16",
            (1, 3, 300, 300),
            lambda: _detector("ssd"),
            "SSD300 VGG-16 feature extractor + heads (no box decoding/NMS)",
        ),
        ZooModel(
            "facenet:pnet",
            (1, 3, 96, 96),
            _facenet("PNet"),
            "MTCNN P-Net, trained weights from facenet-pytorch 2.6.0",
        ),
        ZooModel(
            "facenet:rnet",
            (1, 3, 24, 24),
            _facenet("RNet"),
            "MTCNN R-Net, trained weights from facenet-pytorch 2.6.0",
        ),
        ZooModel(
            "facenet:onet",
            (1, 3, 48, 48),
            _facenet("ONet"),
            "MTCNN O-Net, trained weights from facenet-pytorch 2.6.0",
        ),
    )
}


def is_zoo_name(spec: str) -> bool:
    return spec.startswith((TORCHVISION_PREFIX, FACENET_PREFIX))


def build_zoo_model(name: str) -> tuple[Any, tuple[int, ...]]:
    """The module (eval mode, fixed-seed weights where not trained) and its default shape."""
    import torch

    entry = ZOO.get(name)
    if entry is None:
        known = ", ".join(ZOO)
        raise ModelError(f"unknown built-in PyTorch model '{name}' (built-in: {known})")
    torch.manual_seed(SEED)
    module = entry.build()
    return module.eval(), entry.input_shape
