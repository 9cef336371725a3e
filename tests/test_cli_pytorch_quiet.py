"""What a PyTorch user sees on stderr: a line before each slow first-use step (export,
conversion), nothing on later runs, and none of the libraries' import notices (absl, oneDNN,
torchao, pytree) — run without the test suite's TF_CPP_MIN_LOG_LEVEL, as a user's shell has it."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from cli_helpers import SPLITBENCH
from torch_models import write_branchy


def _inspect(model: str, cache: Path, fmt: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "FORCE_COLOR")}
    env.update({"SPLITBENCH_CACHE": str(cache), "NO_COLOR": "1", "COLUMNS": "200"})
    return subprocess.run(
        [str(SPLITBENCH), "inspect", model, "--format", fmt],
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
        check=False,
    )


@pytest.mark.parametrize("fmt", ["tflite", "onnx"])
def test_first_use_steps_are_said_and_library_notices_are_not(tmp_path: Path, fmt: str) -> None:
    model = f"{write_branchy(tmp_path)}:make_with_inputs"
    first = _inspect(model, tmp_path / "cache", fmt)
    assert first.returncode == 0, first.stderr
    lines = first.stderr.splitlines()
    assert lines and all(line.startswith("splitbench: ") for line in lines), first.stderr
    assert any("exporting with torch.export" in line for line in lines), first.stderr
    assert any(f"converting to {'TFLite' if fmt == 'tflite' else 'ONNX'}" in line for line in lines)
    again = _inspect(model, tmp_path / "cache", fmt)  # cached: nothing to say, nothing printed
    assert again.returncode == 0 and again.stderr == "", again.stderr
    assert again.stdout == first.stdout
