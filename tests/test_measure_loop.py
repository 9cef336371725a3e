"""The one measurement loop (splitbench.measure.loop) that every runtime feeds.

A small runtime of the test's own (numpy matrix products from a real .npy file) exercises
the loop's contract; the three real runtimes (LiteRT, ONNX Runtime, ExecuTorch) are exercised
on real parts in their own test modules and only checked here to go through this loop.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from splitbench.formats.executorch.runner import ExecuTorchRuntime, TensorSpec, random_inputs
from splitbench.formats.onnx.runner import OrtRuntime
from splitbench.formats.tflite.litert import LiteRTRuntime
from splitbench.measure import loop
from splitbench.measure.types import PartFailure, RunSettings

QUICK = RunSettings(warmup_runs=3, warmup_min_secs=0.0, num_runs=9, min_secs=0.0)


@dataclass
class _MatmulPart:
    matrix: np.ndarray
    runs: list[int]
    fail_after: int | None
    value: np.ndarray | None = None

    def set_inputs(self, inputs: np.ndarray | None) -> None:
        self.value = self.matrix if inputs is None else inputs

    def run_once(self) -> None:
        if self.fail_after is not None and len(self.runs) >= self.fail_after:
            raise PartFailure("invoke", "the part broke\nsecond line of the runtime's message")
        assert self.value is not None
        self.value @ self.matrix
        self.runs.append(1)


@dataclass
class MatmulRuntime:
    """Loads a real .npy file and multiplies it; counts loads and runs."""

    method: str = "numpy-matmul"
    fail_after: int | None = None
    loads: int = 0
    prepared: int = 0
    runs: list[int] = field(default_factory=list)

    def version(self) -> str:
        return f"numpy {np.__version__}"

    def prepare(self, settings: RunSettings) -> None:
        self.prepared += 1

    def warm_key(self, settings: RunSettings) -> Hashable:
        return (id(self), settings.threads)

    def load(self, path: Path, settings: RunSettings) -> _MatmulPart:
        self.loads += 1
        try:
            matrix = np.load(path)
        except (OSError, ValueError) as exc:
            raise PartFailure("load", f"cannot read {path.name}: {exc}") from None
        return _MatmulPart(matrix, self.runs, self.fail_after)


@pytest.fixture()
def matrix_file(tmp_path: Path) -> Path:
    path = tmp_path / "m.npy"
    np.save(path, np.random.default_rng(0).standard_normal((64, 64)).astype("float32"))
    return path


def test_counts_first_inference_and_samples(matrix_file: Path) -> None:
    runtime = MatmulRuntime()
    run = loop.run_part(runtime, matrix_file, QUICK)
    m = run.measurement
    assert run.ok and m.ok and m.method == "numpy-matmul" and m.runtime.startswith("numpy ")
    assert m.first_ms is not None and m.first_ms > 0 and m.init_ms is not None
    assert len(m.warmup_ms) == QUICK.warmup_runs - 1  # the first warm-up run is the first inference
    assert len(m.steady_ms) == QUICK.num_runs
    assert run.memory is not None and run.memory.samples >= 2
    # one untimed warm part (load + one run) before the measured one
    assert runtime.loads == 2 and len(runtime.runs) == 1 + QUICK.warmup_runs + QUICK.num_runs


def test_runtime_warmed_once_per_key(matrix_file: Path) -> None:
    runtime = MatmulRuntime()
    loop.run_part(runtime, matrix_file, QUICK)
    loop.run_part(runtime, matrix_file, QUICK)
    assert runtime.loads == 3  # warm + two measured parts
    loop.run_part(runtime, matrix_file, RunSettings(threads=2, num_runs=1, min_secs=0.0))
    assert runtime.loads == 5  # other threads: warmed again


def test_failure_record_has_reason_phase_and_no_numbers(matrix_file: Path, tmp_path: Path) -> None:
    broken = MatmulRuntime(fail_after=4)
    run = loop.run_part(broken, matrix_file, QUICK, warm_runtime=False)
    m = run.measurement
    assert not run.ok and run.failed_phase == "invoke"
    assert m.error == "the part broke" and "second line" in run.detail
    assert m.init_ms is None and m.first_ms is None and m.steady_ms == [] and m.warmup_ms == []
    missing = loop.measure(MatmulRuntime(), tmp_path / "absent.npy", QUICK)
    assert missing.error is not None and missing.error.startswith("cannot read absent.npy")


def test_inputs_that_do_not_fit_raise_not_record(matrix_file: Path) -> None:
    with pytest.raises(ValueError):
        loop.run_part(MatmulRuntime(), matrix_file, QUICK, np.ones((3, 5), "float32"))
    with pytest.raises(ValueError, match="threads"):
        loop.run_part(MatmulRuntime(), matrix_file, RunSettings(threads=0))


def test_max_secs_stops_steady_state_but_first_inference_runs(matrix_file: Path) -> None:
    settings = RunSettings(warmup_runs=0, num_runs=10_000_000, min_secs=0.0, max_secs=0.0)
    m = loop.measure(MatmulRuntime(), matrix_file, settings)
    assert m.first_ms is not None and len(m.steady_ms) <= 1


def test_every_runtime_is_a_loop_runtime() -> None:
    for runtime in (LiteRTRuntime(), OrtRuntime(), ExecuTorchRuntime()):
        assert isinstance(runtime.method, str)
        for name in ("version", "prepare", "warm_key", "load"):
            assert callable(getattr(runtime, name))


def test_executorch_random_inputs_use_the_shared_value_ranges() -> None:
    floats, ints, flags = random_inputs(
        [TensorSpec((4, 256), "float32"), TensorSpec((512,), "int64"), TensorSpec((64,), "bool")]
    )
    assert float(floats.min()) >= -0.5 and float(floats.max()) < 0.5  # benchmark_model's range
    assert int(ints.min()) >= 0 and int(ints.max()) <= 99
    assert set(flags.tolist()) <= {False, True}
