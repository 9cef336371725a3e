"""The built-in LiteRT runtime: a ``.tflite`` part loaded and run with ``ai_edge_litert``.

The timing, memory and failure record are :mod:`splitbench.measure.loop`'s, shared with every
runtime; this module supplies what is LiteRT's own, mirroring ``benchmark_model``:

* **init** = interpreter construction (maps the file, resolves operators, applies the default
  XNNPACK delegate unless ``use_xnnpack=False``) + ``allocate_tensors()``;
* each run is one ``invoke()``; inputs are set once with ``set_tensor``.

A part the runtime cannot load or run (an unresolved custom operator such as mediapipe's
``Convolution2DTransposeBias``, a corrupt file) comes back with ``error`` naming the operator.

No TensorFlow here: ``ai_edge_litert`` only, so the runner starts in a fraction of a second
(the on-device runner, :mod:`splitbench_device.litert_benchmark_model`, uses it too).
"""

from __future__ import annotations

import re
from collections.abc import Hashable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from splitbench.measure import loop, types
from splitbench.measure.inputs import random_inputs
from splitbench.measure.quiet import native_stderr_silenced
from splitbench.measure.types import PartMeasurement, RunSettings

if TYPE_CHECKING:
    from ai_edge_litert.interpreter import Interpreter

METHOD = "litert-interpreter"
RANDOM_INPUT_SEED = 0


def runtime_version() -> str:
    """``ai-edge-litert <version>``: what produced the numbers, recorded with every sample."""
    import ai_edge_litert

    return f"ai-edge-litert {ai_edge_litert.__version__}"


class PartFailure(types.PartFailure):
    """LiteRT could not load, allocate or run a part; ``reason`` names the operator."""

    @property
    def reason(self) -> str:
        """One line for a results row, naming the operator when one is to blame."""
        reason = describe_runtime_error(self.detail)
        if self.phase == "load" and not reason.startswith(("unresolved", "unsupported")):
            reason = f"cannot load model: {reason}"
        return reason


def describe_runtime_error(message: str) -> str:
    """One line naming what the runtime could not do, e.g.
    ``unresolved custom operator Convolution2DTransposeBias``."""
    custom = re.search(r"unresolved custom op: (.+?)\.?\s*(?:\n|See instructions|$)", message)
    if custom:
        return f"unresolved custom operator {custom.group(1).strip()}"
    builtin = re.search(r"Didn't find op for builtin opcode '([^']+)' version '(\d+)'", message)
    if builtin:
        return f"unsupported builtin operator {builtin.group(1)} version {builtin.group(2)}"
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    return lines[0] if lines else "unknown runtime error"


def load_interpreter(path: Path, threads: int, *, use_xnnpack: bool = True) -> Interpreter:
    """Build and allocate an interpreter; failures raise :class:`PartFailure` with their phase.

    ``use_xnnpack=False`` skips the default XNNPACK delegate, like the binary's
    ``--use_xnnpack=false`` (``BuiltinOpResolverWithoutDefaultDelegates``).
    """
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    resolver = (
        OpResolverType.AUTO if use_xnnpack else OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    )
    with native_stderr_silenced():
        try:
            interpreter = Interpreter(
                model_path=str(path), num_threads=threads, experimental_op_resolver_type=resolver
            )
        except (ValueError, RuntimeError) as exc:
            raise PartFailure("load", str(exc)) from None
        try:
            interpreter.allocate_tensors()
        except (ValueError, RuntimeError) as exc:
            raise PartFailure("allocate", str(exc)) from None
    return interpreter


def set_inputs(
    interpreter: Interpreter, details: list[dict[str, Any]], inputs: dict[str, np.ndarray]
) -> None:
    """Set every input tensor by name; ``ValueError`` for a missing name or another shape."""
    names = [d["name"] for d in details]
    missing = [n for n in names if n not in inputs]
    if missing:
        raise ValueError(f"no value for input tensor(s) {missing}; the part's inputs are {names}")
    for d in details:
        value = np.asarray(inputs[d["name"]], dtype=d["dtype"])
        if tuple(value.shape) != tuple(int(x) for x in d["shape"]):
            raise ValueError(
                f"input {d['name']} has shape {value.shape}, the model expects {tuple(d['shape'])}"
            )
        interpreter.set_tensor(d["index"], value)


class _LoadedInterpreter:
    def __init__(self, interpreter: Interpreter) -> None:
        self._interpreter = interpreter

    def set_inputs(self, inputs: dict[str, np.ndarray] | None) -> None:
        details = self._interpreter.get_input_details()
        if inputs is None:
            inputs = random_inputs(details, np.random.default_rng(RANDOM_INPUT_SEED))
        set_inputs(self._interpreter, details, inputs)

    def run_once(self) -> None:
        try:
            self._interpreter.invoke()
        except (ValueError, RuntimeError) as exc:
            raise PartFailure("invoke", str(exc)) from None


@dataclass(frozen=True)
class LiteRTRuntime:
    """:class:`splitbench.measure.loop.Runtime` for ``ai_edge_litert``'s interpreter."""

    use_xnnpack: bool = True
    method: str = METHOD

    def version(self) -> str:
        return runtime_version()

    def prepare(self, settings: RunSettings) -> None:
        import ai_edge_litert.interpreter  # noqa: F401  (loaded before the baseline)

    def warm_key(self, settings: RunSettings) -> Hashable:
        return (settings.threads, self.use_xnnpack)

    def load(self, path: Path, settings: RunSettings) -> _LoadedInterpreter:
        return _LoadedInterpreter(
            load_interpreter(path, settings.threads, use_xnnpack=self.use_xnnpack)
        )


def measure_file(
    path: Path,
    settings: RunSettings,
    inputs: dict[str, np.ndarray] | None = None,
    *,
    use_xnnpack: bool = True,
) -> PartMeasurement:
    """Measure one ``.tflite`` file (head, tail or whole model) on this machine.

    ``inputs`` maps input tensor names to values; without it, seeded random values of the
    right shape and dtype are used. ``use_xnnpack=False`` mirrors ``--use_xnnpack=false``.
    """
    return loop.measure(LiteRTRuntime(use_xnnpack), Path(path), settings, inputs)


def run_part(
    path: Path,
    settings: RunSettings,
    inputs: dict[str, np.ndarray] | None = None,
    *,
    use_xnnpack: bool = True,
    warm_runtime: bool = True,
) -> loop.PartRun:
    """:func:`measure_file` with the memory trace and failure phase kept (the device runner)."""
    return loop.run_part(
        LiteRTRuntime(use_xnnpack), Path(path), settings, inputs, warm_runtime=warm_runtime
    )
