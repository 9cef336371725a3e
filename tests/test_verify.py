"""The lossless check on real parts made by the splitter, and on deliberately wrong parts."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from ai_edge_litert.interpreter import Interpreter
from PIL import Image
from splitbench.measure.inputs import make_inputs
from splitbench.splitter import ModelSplitter
from splitbench.verify import TOLERANCE, VerifyResult, max_abs_diff, run_model, verify_parts
from tflite_edits import perturb_last_bias, with_custom_op


def _check_every_split(model: Path, out: Path) -> list[VerifyResult]:
    splitter = ModelSplitter(model)
    input_sets = make_inputs(model, inputs_dir=None, count=3, seed=1)
    results = []
    for k in range(splitter.num_splits):
        files = splitter.write_parts(k, out)
        assert (files.head_path is None) == (k == 0)
        assert (files.tail_path is None) == (k == splitter.num_splits - 1)
        results.append(verify_parts(model, files.head_path, files.tail_path, input_sets))
    return results


@pytest.mark.parametrize("fixture", ["chain_tflite", "branchy_tflite", "two_input_tflite"])
def test_every_split_of_the_test_models_is_bit_exact(
    fixture: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    model: Path = request.getfixturevalue(fixture)
    results = _check_every_split(model, tmp_path)
    assert len(results) >= 4
    for k, result in enumerate(results):
        assert result.error is None, (k, result.error)
        assert result.passed and result.bit_exact, (k, result)
        assert result.max_abs_diff == 0.0
        assert result.n_inputs == 3
        expected_outputs = {d["name"] for d in Interpreter(str(model)).get_output_details()}
        assert set(result.per_output) == expected_outputs


def test_run_model_returns_outputs_by_tensor_name(branchy_tflite: Path) -> None:
    inputs = make_inputs(branchy_tflite, inputs_dir=None, count=1, seed=0)[0]
    outputs = run_model(branchy_tflite, inputs)
    interp = Interpreter(model_path=str(branchy_tflite))
    interp.allocate_tensors()
    for d in interp.get_input_details():
        interp.set_tensor(d["index"], inputs[d["name"]])
    interp.invoke()
    assert set(outputs) == {d["name"] for d in interp.get_output_details()}
    for d in interp.get_output_details():
        np.testing.assert_array_equal(outputs[d["name"]], interp.get_tensor(d["index"]))


def test_wrong_tail_weights_fail_the_check(chain_tflite: Path, tmp_path: Path) -> None:
    splitter = ModelSplitter(chain_tflite)
    files = splitter.write_parts(2, tmp_path)
    assert files.tail_path is not None
    input_sets = make_inputs(chain_tflite, inputs_dir=None, count=2, seed=3)

    wrong = perturb_last_bias(files.tail_path, tmp_path / "tail_wrong.tflite", 0.5)
    bad = verify_parts(chain_tflite, files.head_path, wrong, input_sets)
    assert bad.error is None
    assert not bad.passed and not bad.bit_exact
    assert bad.max_abs_diff == pytest.approx(0.5, abs=1e-5)

    slight = perturb_last_bias(files.tail_path, tmp_path / "tail_slight.tflite", 1e-4)
    close = verify_parts(chain_tflite, files.head_path, slight, input_sets)
    assert close.passed and not close.bit_exact  # within the 1e-3 tolerance, yet not exact
    assert 0 < close.max_abs_diff <= TOLERANCE


def test_parts_from_different_splits_do_not_fit(chain_tflite: Path, tmp_path: Path) -> None:
    splitter = ModelSplitter(chain_tflite)
    head = splitter.write_parts(1, tmp_path / "a").head_path
    tail = splitter.write_parts(3, tmp_path / "b").tail_path
    input_sets = make_inputs(chain_tflite, inputs_dir=None, count=1, seed=0)
    result = verify_parts(chain_tflite, head, tail, input_sets)
    assert not result.passed
    assert result.error is not None and "neither a model input nor an output of the head" in (
        result.error
    )


def test_custom_operator_in_a_part_is_reported_not_raised(
    chain_tflite: Path, tmp_path: Path
) -> None:
    splitter = ModelSplitter(chain_tflite)
    files = splitter.write_parts(2, tmp_path)
    assert files.tail_path is not None
    custom_tail = with_custom_op(
        files.tail_path, tmp_path / "tail_custom.tflite", 0, "Convolution2DTransposeBias"
    )
    input_sets = make_inputs(chain_tflite, inputs_dir=None, count=2, seed=0)
    result = verify_parts(chain_tflite, files.head_path, custom_tail, input_sets)
    assert not result.passed and not result.bit_exact
    assert math.isnan(result.max_abs_diff)
    assert result.error == "tail cannot run: unresolved custom operator Convolution2DTransposeBias"

    custom_whole = with_custom_op(chain_tflite, tmp_path / "whole_custom.tflite", 2, "MyOp")
    whole = verify_parts(custom_whole, files.head_path, files.tail_path, input_sets)
    assert whole.error == "whole model cannot run: unresolved custom operator MyOp"


def test_images_as_inputs(chain_tflite: Path, tmp_path: Path) -> None:
    folder = tmp_path / "imgs"
    folder.mkdir()
    for i, colour in enumerate([(10, 200, 30), (250, 250, 0)]):
        Image.new("RGB", (33, 21), colour).save(folder / f"{i}.png")
    input_sets = make_inputs(chain_tflite, inputs_dir=folder, count=5, seed=0)
    files = ModelSplitter(chain_tflite).write_parts(3, tmp_path / "parts")
    result = verify_parts(chain_tflite, files.head_path, files.tail_path, input_sets)
    assert result.passed and result.bit_exact and result.n_inputs == 2


def test_reference_outputs_follow_the_inputs(chain_tflite: Path, tmp_path: Path) -> None:
    """The whole model's outputs are reused across splits, but never across other inputs."""
    files = ModelSplitter(chain_tflite).write_parts(2, tmp_path)
    for seed in (0, 1, 0):
        input_sets = make_inputs(chain_tflite, inputs_dir=None, count=2, seed=seed)
        result = verify_parts(chain_tflite, files.head_path, files.tail_path, input_sets)
        assert result.passed and result.bit_exact


def test_bad_arguments(chain_tflite: Path) -> None:
    input_sets = make_inputs(chain_tflite, inputs_dir=None, count=1, seed=0)
    with pytest.raises(ValueError):
        verify_parts(chain_tflite, None, None, input_sets)
    with pytest.raises(ValueError):
        verify_parts(chain_tflite, chain_tflite, None, [])


def test_max_abs_diff_handles_nan_inf_and_integers() -> None:
    a = np.array([1.0, np.nan, np.inf, 2.0], dtype=np.float32)
    assert max_abs_diff(a, a.copy()) == 0.0
    b = np.array([1.0, 0.0, np.inf, 2.5], dtype=np.float32)
    assert max_abs_diff(a, b) == math.inf  # NaN on one side only
    c = np.array([1.0, np.nan, np.inf, 2.5], dtype=np.float32)
    assert max_abs_diff(a, c) == pytest.approx(0.5)
    ints = np.array([-128, 127], dtype=np.int8)
    assert max_abs_diff(ints, np.array([127, -128], dtype=np.int8)) == 255.0
