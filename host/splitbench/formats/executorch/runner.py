"""The ExecuTorch host runner: one ``.pte`` file timed with ``executorch.runtime``.

Timing is the shared loop's (:mod:`splitbench.measure.loop`), so a row means the same thing
whatever the format; this module supplies what is ExecuTorch's own:

* **init** = ``Runtime.load_program`` (reads and verifies the program) + ``load_method``
  (allocates the memory plan, initialises the XNNPACK delegates), as ``executor_runner``'s
  "Model loaded" + "Method loaded";
* inputs are set once with ``set_inputs`` (seeded random values in
  :mod:`splitbench.measure.inputs`' ranges unless given); each run is one ``execute()``.

XNNPACK's thread pool follows ``RunSettings.threads``. A ``.pte`` that this runtime cannot load
(another ExecuTorch version, a corrupt file, a missing kernel) comes back with ``error`` set.
"""

from __future__ import annotations

import re
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from splitbench.measure import loop
from splitbench.measure.types import PartFailure, PartMeasurement, RunSettings

METHOD = "executorch-runtime"
RANDOM_INPUT_SEED = 0

# ExecuTorch ScalarType codes (runtime/core/portable_type/scalar_type.h) -> torch dtype names.
SCALAR_TYPES = {
    0: "uint8",
    1: "int8",
    2: "int16",
    3: "int32",
    4: "int64",
    5: "float16",
    6: "float32",
    7: "float64",
    11: "bool",
    15: "bfloat16",
}


def runtime_version() -> str:
    from splitbench.formats.executorch.lower import executorch_version

    return f"executorch {executorch_version()}"


class PteFailure(PartFailure):
    """The ExecuTorch runtime could not load or run a program (phases ``load``,
    ``load_method``, ``execute``)."""

    @property
    def reason(self) -> str:
        return self.detail if self.phase == "load" else f"{self.phase}: {self.detail}"


def program_identifier() -> bytes:
    """The flatbuffer file identifier this ExecuTorch writes and reads (``ET12`` in 1.5)."""
    from importlib import resources

    fbs = resources.files("executorch").joinpath("schema").joinpath("program.fbs").read_text()
    found = re.search(r'file_identifier\s+"(\w{4})"', fbs)
    return found.group(1).encode() if found else b"ET12"


def describe_load_error(detail: str, head: bytes = b"") -> str:
    """One line for a ``.pte`` the runtime refuses, naming the cause where the header shows it:
    a program of another ExecuTorch schema version, or not an ExecuTorch program at all."""
    text = " ".join(detail.split())
    ident = head[4:8]
    if len(head) >= 8 and ident[:2] == b"ET" and ident != program_identifier():
        return (
            f"cannot load .pte: written by another ExecuTorch version (program format "
            f"{ident.decode(errors='replace')}; {runtime_version()} reads "
            f"{program_identifier().decode()}): lower it again with this version"
        )
    if len(head) >= 8 and ident[:2] != b"ET":
        return "cannot load .pte: not an ExecuTorch program (no ET file identifier)"
    return f"cannot load .pte: {text[:200]}"


@dataclass(frozen=True)
class TensorSpec:
    shape: tuple[int, ...]
    dtype: str


def input_specs(method_meta: Any) -> list[TensorSpec]:
    out = []
    for i in range(method_meta.num_inputs()):
        info = method_meta.input_tensor_meta(i)
        out.append(
            TensorSpec(tuple(int(d) for d in info.sizes()), SCALAR_TYPES.get(info.dtype(), "?"))
        )
    return out


def random_inputs(specs: Sequence[TensorSpec], seed: int = RANDOM_INPUT_SEED) -> list[Any]:
    """Seeded random tensors of the program's input shapes, in the same value ranges as every
    other runtime's (:func:`splitbench.measure.inputs.random_value`)."""
    import numpy as np
    import torch

    from splitbench.measure.inputs import random_value

    rng = np.random.default_rng(seed)
    values = []
    for spec in specs:
        as_numpy = "float32" if spec.dtype == "bfloat16" else spec.dtype  # numpy has none
        value = torch.from_numpy(random_value(spec.shape, as_numpy, rng))
        values.append(value.to(getattr(torch, spec.dtype)))
    return values


def load_program_only(
    path: Path | bytes, *, etdump: bool = False, debug_buffer_size: int = 0
) -> Any:
    """``executorch.runtime.Program`` of a ``.pte``; raises :class:`PteFailure` ("load")."""
    from executorch.runtime import Runtime, Verification

    from splitbench.measure.quiet import native_stderr_silenced

    runtime = Runtime.get()
    source = str(path) if isinstance(path, Path) else path
    with native_stderr_silenced():
        try:
            return runtime.load_program(
                source,
                verification=Verification.InternalConsistency,
                enable_etdump=etdump,
                debug_buffer_size=debug_buffer_size,
            )
        except (RuntimeError, ValueError) as exc:
            raise PteFailure("load", describe_load_error(str(exc), _head(path))) from None


def load(
    path: Path | bytes, *, etdump: bool = False, debug_buffer_size: int = 0
) -> tuple[Any, Any]:
    """(program, method) for ``forward``; raises :class:`PteFailure` with its phase."""
    from splitbench.measure.quiet import native_stderr_silenced

    program = load_program_only(path, etdump=etdump, debug_buffer_size=debug_buffer_size)
    with native_stderr_silenced():
        try:
            method = program._program.load_method("forward")
        except (RuntimeError, ValueError, KeyError) as exc:
            missing = missing_operators(path)
            if missing:
                raise PteFailure("load_method", missing_kernel_line(missing)) from None
            raise PteFailure("load_method", f"cannot load method forward: {exc}") from None
    return program, method


def missing_operators(path: Path | bytes) -> list[str]:
    """Operators the program calls that this runtime has no kernel for (``aten::sort.values``
    in executorch 1.5.1: XNNPACK does not take it and the portable kernels lack it), in the
    program's order. Read from the ``.pte``'s operator table, only once loading has failed."""
    from executorch.exir._serialize._program import deserialize_pte_binary
    from executorch.runtime import Runtime

    try:
        data = path if isinstance(path, bytes) else Path(path).read_bytes()
        pte = deserialize_pte_binary(data)
    except Exception:  # not readable as a program: the runtime's own message says enough
        return []
    program = getattr(pte, "program", pte)
    known = set(Runtime.get().operator_registry.operator_names)
    missing: list[str] = []
    for plan in program.execution_plan:
        for op in plan.operators:
            name = f"{op.name}.{op.overload}" if op.overload else op.name
            if name not in known and name not in missing:
                missing.append(name)
    return missing


def missing_kernel_line(missing: Sequence[str]) -> str:
    ops = ", ".join(missing)
    return (
        f"operator {ops} has no kernel in {runtime_version()} (XNNPACK did not take it and the"
        " portable kernels do not have it)"
    )


def _head(path: Path | bytes) -> bytes:
    if isinstance(path, bytes):
        return path[:8]
    try:
        with open(path, "rb") as handle:
            return handle.read(8)
    except OSError:
        return b""


def run_once(path: Path, inputs: Sequence[Any]) -> list[Any]:
    """Run ``forward`` once (the lossless check); outputs as tensors."""
    _program, method = load(path)
    try:
        return list(method(list(inputs)))
    except (RuntimeError, ValueError) as exc:
        raise PteFailure("execute", str(exc)) from None


def set_threads(threads: int) -> None:
    from executorch.extension.pybindings import portable_lib

    if portable_lib._threadpool_get_thread_count() != threads:
        portable_lib._unsafe_reset_threadpool(threads)


class _LoadedProgram:
    def __init__(self, program: Any, method: Any) -> None:
        self._program = program  # the program must outlive the method
        self._method = method

    def set_inputs(self, inputs: Sequence[Any] | None) -> None:
        values = (
            list(inputs)
            if inputs is not None
            else random_inputs(input_specs(self._method.method_meta()))
        )
        self._method.set_inputs(values)

    def run_once(self) -> None:
        try:
            self._method.execute()
        except (RuntimeError, ValueError) as exc:
            raise PteFailure("execute", str(exc)) from None


@dataclass(frozen=True)
class ExecuTorchRuntime:
    """:class:`splitbench.measure.loop.Runtime` for ``executorch.runtime`` (XNNPACK's thread
    pool follows ``RunSettings.threads``)."""

    method: str = METHOD

    def version(self) -> str:
        return runtime_version()

    def prepare(self, settings: RunSettings) -> None:
        import executorch.runtime  # noqa: F401  (loaded before the baseline)

        set_threads(max(1, settings.threads))

    def warm_key(self, settings: RunSettings) -> Hashable:
        return settings.threads

    def load(self, path: Path, settings: RunSettings) -> _LoadedProgram:
        return _LoadedProgram(*load(Path(path)))


def measure_pte(
    path: Path, settings: RunSettings, inputs: Sequence[Any] | None = None
) -> PartMeasurement:
    """Measure one ``.pte`` (head, tail or whole model) on this machine."""
    return loop.measure(ExecuTorchRuntime(), Path(path), settings, inputs)
