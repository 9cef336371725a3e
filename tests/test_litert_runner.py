"""The built-in LiteRT runner on real model files: counts, raw samples, memory, failures."""

from __future__ import annotations

import math
import time
from pathlib import Path

import ai_edge_litert
import numpy as np
import pytest
from ai_edge_litert.interpreter import Interpreter
from splitbench.formats.tflite.litert import (
    METHOD,
    describe_runtime_error,
    measure_file,
    run_part,
    runtime_version,
)
from splitbench.measure.types import PartMeasurement, RunSettings
from tflite_edits import with_custom_op

QUICK = RunSettings(threads=1, warmup_runs=2, warmup_min_secs=0.0, num_runs=7, min_secs=0.0)


@pytest.fixture(scope="module")
def custom_op_tflite(chain_tflite: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("custom") / "chain_custom.tflite"
    return with_custom_op(chain_tflite, out, 2, "Convolution2DTransposeBias")


def _all_positive_finite(values: list[float]) -> bool:
    return all(math.isfinite(v) and v > 0 for v in values)


def test_counts_follow_num_runs_and_warmup_runs_exactly_without_min_secs(
    chain_tflite: Path,
) -> None:
    m = measure_file(chain_tflite, QUICK)
    assert m.ok and m.error is None
    assert len(m.steady_ms) == 7  # raw samples kept, one per run
    assert 1 + len(m.warmup_ms) == 2  # the first inference is the first warm-up run
    assert m.init_ms is not None and m.first_ms is not None
    assert _all_positive_finite([m.init_ms, m.first_ms, *m.warmup_ms, *m.steady_ms])
    assert m.method == METHOD == "litert-interpreter"
    assert m.runtime == f"ai-edge-litert {ai_edge_litert.__version__}" == runtime_version()
    assert m.settings is QUICK
    assert m.steady_summary is None  # raw samples exist, so no summary instead of them
    assert m.measured_total_ms == pytest.approx(m.first_ms + sum(m.warmup_ms) + sum(m.steady_ms))


def test_min_secs_keeps_running_past_num_runs(chain_tflite: Path) -> None:
    settings = RunSettings(warmup_runs=1, warmup_min_secs=0.1, num_runs=1, min_secs=0.3)
    started = time.perf_counter()
    m = measure_file(chain_tflite, settings)
    elapsed = time.perf_counter() - started
    assert elapsed >= 0.4  # both minimum durations were honoured (a lower bound, not a timing)
    assert len(m.steady_ms) > 1  # a microsecond-sized model runs far more than once in 0.3 s
    assert len(m.warmup_ms) >= 1
    assert _all_positive_finite(m.steady_ms)


def test_max_secs_stops_before_num_runs(chain_tflite: Path) -> None:
    settings = RunSettings(
        warmup_runs=1, warmup_min_secs=0.0, num_runs=10**9, min_secs=0.0, max_secs=0.2
    )
    m = measure_file(chain_tflite, settings)
    assert 0 < len(m.steady_ms) < 10**9


def test_first_inference_is_measured_even_without_warmup(chain_tflite: Path) -> None:
    m = measure_file(
        chain_tflite, RunSettings(warmup_runs=0, warmup_min_secs=0.0, num_runs=3, min_secs=0.0)
    )
    assert m.first_ms is not None and m.first_ms > 0
    assert m.warmup_ms == []
    assert len(m.steady_ms) == 3


def test_memory_deltas_are_finite_and_peak_covers_init_and_overall(chain_tflite: Path) -> None:
    run = run_part(chain_tflite, QUICK)
    m = run.measurement
    assert run.ok and run.memory is not None
    init, overall, peak = m.mem_init_mb, m.mem_overall_mb, m.mem_peak_mb
    assert init is not None and overall is not None and peak is not None
    assert all(math.isfinite(v) for v in (init, overall, peak))
    assert peak >= init and peak >= overall
    assert run.memory.baseline_mb > 0
    assert run.memory.peak_mb == pytest.approx(run.memory.baseline_mb + peak)
    assert run.memory.samples >= 3


def test_threads_and_no_xnnpack_run(chain_tflite: Path) -> None:
    two = measure_file(
        chain_tflite, RunSettings(threads=2, warmup_min_secs=0, num_runs=3, min_secs=0)
    )
    plain = measure_file(chain_tflite, QUICK, use_xnnpack=False)
    assert two.ok and len(two.steady_ms) == 3
    assert plain.ok and len(plain.steady_ms) == 7


def test_given_inputs_are_used_and_checked(two_input_tflite: Path) -> None:
    details = Interpreter(model_path=str(two_input_tflite)).get_input_details()
    inputs = {d["name"]: np.ones(d["shape"], dtype=d["dtype"]) for d in details}
    assert measure_file(two_input_tflite, QUICK, inputs).ok
    with pytest.raises(ValueError, match="no value for input tensor"):
        measure_file(two_input_tflite, QUICK, {details[0]["name"]: inputs[details[0]["name"]]})
    wrong = {d["name"]: np.ones((1, 2, 2, 1), dtype=np.float32) for d in details}
    with pytest.raises(ValueError, match="has shape"):
        measure_file(two_input_tflite, QUICK, wrong)


def test_unresolved_custom_operator_is_a_named_error_not_an_exception(
    custom_op_tflite: Path,
) -> None:
    run = run_part(custom_op_tflite, QUICK)
    m = run.measurement
    assert isinstance(m, PartMeasurement)
    assert m.error == "unresolved custom operator Convolution2DTransposeBias"
    assert not m.ok
    assert run.failed_phase == "allocate"
    assert "Convolution2DTransposeBias" in run.detail
    assert m.init_ms is None and m.first_ms is None and m.mem_init_mb is None
    assert m.steady_ms == [] and m.warmup_ms == []
    assert m.measured_total_ms == 0.0


def test_corrupt_truncated_and_missing_files_are_errors(chain_tflite: Path, tmp_path: Path) -> None:
    corrupt = tmp_path / "corrupt.tflite"
    corrupt.write_bytes(b"this is not a flatbuffer" * 8)
    truncated = tmp_path / "truncated.tflite"
    truncated.write_bytes(chain_tflite.read_bytes()[:1500])
    for path in (corrupt, truncated, tmp_path / "missing.tflite"):
        run = run_part(path, QUICK)
        assert run.failed_phase == "load"
        assert run.measurement.error is not None
        assert run.measurement.error.startswith("cannot load model:")
        assert "\n" not in run.measurement.error
        assert run.measurement.steady_ms == []


def test_describe_runtime_error_names_operators() -> None:
    custom = (
        "Encountered unresolved custom op: Convolution2DTransposeBias.\nSee instructions: "
        "https://www.tensorflow.org/lite/guide/ops_custom Node number 244 "
        "(Convolution2DTransposeBias) failed to prepare."
    )
    assert describe_runtime_error(custom) == "unresolved custom operator Convolution2DTransposeBias"
    builtin = "Didn't find op for builtin opcode 'CONV_2D' version '9'. An older version..."
    assert describe_runtime_error(builtin) == "unsupported builtin operator CONV_2D version 9"
    assert describe_runtime_error("first line\nsecond") == "first line"
