"""From the one PyTorch export to a model file of a format: TFLite (litert-torch) or ONNX.

* ``tflite`` (the default for PyTorch): ``litert_torch.convert`` of the exported program's
  module, float32, builtin operators only. A conversion that fails, or that leaves custom
  operators (which ``benchmark_model`` and the interpreter cannot resolve), is refused in one
  line naming them.
* ``onnx``: ``torch.onnx.export`` of the exported program (the dynamo exporter, one file;
  weights over 2 GB go to external data beside it).

Converted files sit beside the export, named after it (so by content) plus the converter's
version, and are reused. :func:`conversion_max_abs_diff` runs eager PyTorch and the converted
file on the same input sets as the lossless check and gives the largest difference: the error
the conversion itself brings, the same for every split.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from splitbench.errors import ModelError
from splitbench.intake.pytorch import TorchExport, example_inputs, load_program, quiet
from splitbench.steps import announce

_ONE_FILE_LIMIT = 1_800_000_000  # weights above this go to external data beside the .onnx


def convert_export(export: TorchExport, fmt: str) -> Path:
    """The model file of format ``fmt`` for ``export``, converted once and kept beside it."""
    from splitbench.formats import FORMAT_NAMES, get_format

    if fmt not in FORMAT_NAMES:
        raise ModelError(f"--format {fmt}: a PyTorch model converts to {' or '.join(FORMAT_NAMES)}")
    return get_format(fmt).from_torch(export)


def _target(export: TorchExport, tag: str, suffix: str) -> Path:
    return export.path.with_name(f"{export.path.stem}.{tag}{suffix}")


def to_tflite(export: TorchExport) -> Path:
    from importlib.metadata import version

    out = _target(export, f"litert-torch-{version('litert-torch')}", ".tflite")
    if not out.is_file():
        announce(f"{export.name}: converting to TFLite with litert-torch (first use only)")
        with quiet():  # its import prints absl, oneDNN, torchao and pytree notices
            import litert_torch

        program = load_program(export.path)
        args = example_inputs(program)
        partial = out.with_name(out.name + ".partial")
        try:
            with quiet():
                converted = litert_torch.convert(program.module(), args)
                converted.export(str(partial))
        except Exception as exc:
            raise ModelError(f"litert-torch cannot convert {export.name}: {_reason(exc)}") from None
        os.replace(partial, out)
    _refuse_custom_operators(out, export.name)
    return out


def _refuse_custom_operators(path: Path, name: str) -> None:
    from splitbench.graph import load_graph

    graph = load_graph(path)
    custom = sorted(
        {op.opcode.split(":", 1)[1] for op in graph.operators if op.opcode.startswith("CUSTOM:")}
    )
    if custom:
        raise ModelError(
            f"litert-torch converted {name} with custom operators {', '.join(custom)}, which"
            " benchmark_model cannot run: try --format onnx"
        )


def to_onnx(export: TorchExport) -> Path:
    import torch

    out = _target(export, f"torch-{torch.__version__.split('+')[0]}", ".onnx")
    if not out.is_file():
        announce(f"{export.name}: converting to ONNX with torch.onnx (first use only)")
        program = load_program(export.path)
        args = example_inputs(program)
        partial = out.with_name(out.stem + ".partial.onnx")
        weights = sum(t.numel() * t.element_size() for t in program.state_dict.values())
        try:
            with quiet():
                torch.onnx.export(
                    program,
                    args,
                    str(partial),
                    dynamo=True,
                    verbose=False,
                    external_data=weights > _ONE_FILE_LIMIT,  # protobuf's 2 GB limit
                )
        except Exception as exc:
            raise ModelError(f"torch.onnx.export of {export.name} failed: {_reason(exc)}") from None
        _finish_onnx(partial, out)
    return out


def _finish_onnx(partial: Path, out: Path) -> None:
    """Rename the exported file; external data (models over 2 GB) is rewritten beside it."""
    data = partial.with_name(partial.name + ".data")
    if data.exists():
        import onnx

        model = onnx.load(str(partial))
        onnx.save(model, str(out), save_as_external_data=True, location=out.name + ".data")
        partial.unlink()
        data.unlink()
    else:
        os.replace(partial, out)


def conversion_max_abs_diff(
    export: Path, converted: Path, input_sets: Sequence[Mapping[str, np.ndarray]]
) -> float | None:
    """Largest |eager PyTorch − converted model| over every output element and input set; None
    when the converted model cannot run here (an operator without a kernel: the whole model's
    row says why, and the splits whose parts do not hold it are still measured).

    Inputs go to PyTorch positionally in the converted file's input order (both keep the
    module's argument order); outputs are compared in order, as both flatten them the same way.
    """
    import torch
    from torch.utils import _pytree

    from splitbench.measure.types import PartFailure
    from splitbench.verify import max_abs_diff, open_session

    program = load_program(export)
    module = program.module()
    try:
        session = open_session(converted)
    except PartFailure:
        return None
    worst = 0.0
    for inputs in input_sets:
        args = [torch.from_numpy(np.ascontiguousarray(inputs[n])) for n in session.input_names]
        with torch.no_grad():
            eager = [t.numpy() for t in _pytree.tree_leaves(module(*args))]
        try:
            got = session.run(inputs)
        except PartFailure:
            return None
        outputs = [got[n] for n in session.output_names]
        if len(outputs) != len(eager):
            raise ModelError(
                f"{converted.name} has {len(outputs)} outputs, {export.name} returns {len(eager)}"
            )
        for want, have in zip(eager, outputs, strict=True):
            if want.shape != have.shape:
                raise ModelError(
                    f"{converted.name}: an output is {list(have.shape)} but PyTorch gives"
                    f" {list(want.shape)}"
                )
            worst = max(worst, max_abs_diff(want, have))
    return worst


def _reason(exc: BaseException) -> str:
    text = str(exc)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    for line in lines:  # the operator a converter names is the useful part
        low = line.lower()
        if "not supported" in low or "unsupported" in low or "failed to legalize" in low:
            return line
    return f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__
