"""The parameters of a PyTorch model: its ``state_dict()``, as the seeds' framework codes it.

The :class:`~splitbench.compress.params.ModelIO` of state dict files (``torch.save`` of
``module.state_dict()``, ``.pt``):

* the parameters are the state dict's floating-point tensors (float32 — the zoo's and most
  modules' — or float16/float64, coded as float32 and written back in their stored dtype),
  keyed by their state-dict names (``features.0.weight``, ``bn1.running_mean``, ...): weights,
  biases and float buffers such as BatchNorm's running statistics. Integer buffers (BatchNorm's
  ``num_batches_tracked``) are structure, like a TFLite file's shape operands: neither coded
  nor counted in ``anc_size``, and written back unchanged;
* a decoded model is a state dict file again, the anchor's with the coded tensors replaced,
  that loads with ``module.load_state_dict(torch.load(path), strict=True)`` into the module the
  factory builds (``int8-weights`` writes its dequantised float32 values: a float module cannot
  hold int8 weights);
* a model file runs in eager PyTorch: the factory's module, built once, gets the file's state
  dict loaded strictly, in eval mode under ``torch.no_grad()``, on one thread (as a ``.tflite``
  file runs in compress; on this shared 2-core host two threads made O-Net 4–7× slower). Its
  inputs are the module's NCHW inputs; its outputs are named ``output0``, ``output1``, ... in
  the order ``forward`` returns them (nested tuples and lists flattened, dicts by key).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from splitbench.compress.params import ModelParams
from splitbench.errors import ModelError
from splitbench.intake.pytorch import TorchModule

_CODED = ("float32", "float16", "float64")  # torch dtype names whose tensors are parameters


def _is_coded(value: Any) -> bool:
    import torch

    return isinstance(value, torch.Tensor) and str(value.dtype).removeprefix("torch.") in _CODED


def load_state(path: Path) -> dict[str, Any]:
    """The state dict in ``path`` (tensors only, as ``torch.load(weights_only=True)`` reads)."""
    import torch

    try:
        state = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a bad file
        raise ModelError(f"{Path(path).name} is not a readable state dict file ({exc})") from None
    if not isinstance(state, Mapping):
        raise ModelError(f"{Path(path).name} holds a {type(state).__name__}, not a state dict")
    return dict(state)


def _outputs(value: Any, named: dict[str, np.ndarray]) -> None:
    import torch

    if isinstance(value, torch.Tensor):
        named[f"output{len(named)}"] = value.detach().cpu().numpy()
    elif isinstance(value, (tuple, list)):
        for item in value:
            _outputs(item, named)
    elif isinstance(value, Mapping):
        for item in value.values():
            _outputs(item, named)


class TorchStateDictIO:
    """State dict files of one module (see the module docstring)."""

    kind = "pytorch-state-dict"
    suffix = ".pt"

    def __init__(self, model: TorchModule) -> None:
        self.model = model

    def save_anchor(self, out: Path) -> Path:
        """The module's own state dict, written to ``out``: the anchor."""
        import torch

        out.parent.mkdir(parents=True, exist_ok=True)
        torch.save(self.model.module.state_dict(), str(out))
        return out

    def digest(self, path: Path) -> str:
        """A digest of the state dict's contents (``torch.save`` bytes differ between saves)."""
        import torch

        h = hashlib.sha256()
        for key, value in sorted(load_state(path).items()):
            if not isinstance(value, torch.Tensor):
                h.update(f"{key}={value!r};".encode())
                continue
            h.update(f"{key}:{value.dtype}:{tuple(value.shape)}:".encode())
            raw = value.detach().cpu().contiguous().reshape(-1).view(torch.uint8)
            h.update(raw.numpy().tobytes())
        return h.hexdigest()

    def load_params(self, path: Path) -> ModelParams:
        state = load_state(path)
        arrays = {
            key: value.detach().cpu().numpy().copy()
            for key, value in state.items()
            if _is_coded(value)
        }
        if not arrays:
            raise ModelError(
                f"the state dict of {self.model.name} has no float tensors to code (only "
                f"{', '.join(sorted({str(v.dtype) for v in state.values()})) or 'nothing'})"
            )
        return ModelParams(Path(path), arrays, self)

    def write_params(self, template: Path, arrays: Mapping[str, np.ndarray], out: Path) -> Path:
        import torch

        state = load_state(template)
        for key, values in arrays.items():
            old = state.get(key)
            if old is None or not _is_coded(old):
                raise ModelError(
                    f"decoded parameter {key} is not a float tensor of {template.name}"
                )
            new = np.asarray(values).astype(old.numpy().dtype, copy=False).reshape(old.shape)
            state[key] = torch.from_numpy(np.ascontiguousarray(new).copy())
        out.parent.mkdir(parents=True, exist_ok=True)
        torch.save(state, str(out))
        return out

    def write_int8(
        self,
        template: Path,
        quantized: Mapping[str, tuple[np.ndarray, np.ndarray, int]],
        arrays: Mapping[str, np.ndarray],
        out: Path,
    ) -> Path:
        return self.write_params(template, arrays, out)  # dequantised: see the module docstring

    def input_specs(self, path: Path) -> list[dict]:
        import torch

        return [
            {
                "name": name,
                "shape": shape,
                "dtype": np.dtype(torch.empty((), dtype=dtype).numpy().dtype),
                "layout": "NCHW" if len(shape) == 4 else None,
            }
            for name, shape, dtype in zip(
                self.model.input_names,
                self.model.input_shapes,
                self.model.input_dtypes,
                strict=True,
            )
        ]

    def run(
        self, path: Path, feeds: Sequence[Mapping[str, np.ndarray]]
    ) -> list[dict[str, np.ndarray]]:
        import torch

        module = self.model.module
        try:
            module.load_state_dict(load_state(path), strict=True)
        except RuntimeError as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ModelError(
                f"{Path(path).name} does not load into {self.model.name}: {first}"
            ) from None
        module.eval()
        results = []
        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # as compress runs a .tflite file (runner.py: one thread)
        try:
            with torch.no_grad():
                for feed in feeds:
                    args = [torch.from_numpy(np.asarray(feed[n])) for n in self.model.input_names]
                    named: dict[str, np.ndarray] = {}
                    _outputs(module(*args), named)
                    results.append(named)
        finally:
            torch.set_num_threads(threads)
        return results
