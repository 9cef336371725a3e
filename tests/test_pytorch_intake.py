"""The one PyTorch intake: factories, .pt2 files and built-in models to one export, kept in
the run directory by content; every bad input one line."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from splitbench.errors import ModelError
from splitbench.intake.pytorch import intake, is_pytorch_spec, load_program
from torch_models import write_branchy


@pytest.fixture(scope="module")
def branchy_py(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_branchy(tmp_path_factory.mktemp("src"))


def test_factory_is_exported_once_and_kept_by_content(branchy_py: Path, tmp_path: Path) -> None:
    export = intake(f"{branchy_py}:make", workdir=tmp_path, input_shapes={"": (1, 3, 16, 16)})
    assert export.path.parent == tmp_path / "pytorch"
    assert export.path.suffix == ".pt2"
    import hashlib

    digest = hashlib.sha256(export.path.read_bytes()).hexdigest()
    assert export.path.name == f"branchy_net-{digest[:16]}.pt2"
    assert export.input_names == ("x",)
    assert export.input_shapes == ((1, 3, 16, 16),)
    mtime = export.path.stat().st_mtime_ns
    again = intake(f"{branchy_py}:make", workdir=tmp_path, input_shapes={"": (1, 3, 16, 16)})
    assert again.path == export.path and again.path.stat().st_mtime_ns == mtime  # not re-exported
    # The program is the module in eval mode: same numbers as eager.
    program = load_program(export.path)
    x = torch.rand(1, 3, 16, 16)
    namespace: dict = {}
    exec(branchy_py.read_text(), namespace)
    eager = namespace["make"]().eval()
    assert torch.allclose(program.module()(x), eager(x), atol=1e-6)
    # Another shape is another export.
    other = intake(f"{branchy_py}:make", workdir=tmp_path, input_shapes={"x": (1, 3, 8, 8)})
    assert other.path != export.path and other.input_shapes == ((1, 3, 8, 8),)


def test_factory_with_example_inputs_and_a_pt2_file(branchy_py: Path, tmp_path: Path) -> None:
    export = intake(f"{branchy_py}:make_with_inputs", workdir=tmp_path)
    assert export.input_shapes == ((1, 3, 16, 16),)
    saved = tmp_path / "mine.pt2"
    saved.write_bytes(export.path.read_bytes())
    assert is_pytorch_spec(str(saved))
    again = intake(str(saved), workdir=tmp_path / "other")
    assert again.path == saved and again.input_names == ("x",)


@pytest.mark.parametrize(
    ("factory", "shapes", "message"),
    [
        ("nope", None, "has no function 'nope' (its functions: data_dependent, make,"),
        ("raises", None, "raises() raised ValueError: weights file missing"),
        ("not_a_module", None, "returned int, not a torch.nn.Module"),
        ("make", None, "needs the shape of its input(s): pass --input-shape 1,3,224,224"),
        ("two_inputs", {"": (1, 3)}, "has 2 inputs (image, scale): name each one"),
        ("data_dependent", {"": (1, 4)}, "torch.export of branchy_net failed:"),
        ("make_with_inputs", {"": (1, 3, 8, 8)}, "returns example inputs"),
    ],
)
def test_bad_factories_are_one_line(
    branchy_py: Path, tmp_path: Path, factory: str, shapes: dict | None, message: str
) -> None:
    with pytest.raises(ModelError) as info:
        intake(f"{branchy_py}:{factory}", workdir=tmp_path, input_shapes=shapes)
    text = str(info.value)
    assert message in text
    assert "\n" not in text


def test_export_failure_names_the_data_dependent_problem(branchy_py: Path, tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="data-dependent"):
        intake(f"{branchy_py}:data_dependent", workdir=tmp_path, input_shapes={"": (1, 4)})


def test_missing_file_and_bad_pt2(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="model file not found"):
        intake(str(tmp_path / "absent.py") + ":make", workdir=tmp_path)
    bad = tmp_path / "broken.pt2"
    bad.write_bytes(b"PK\x03\x04 not really")
    with pytest.raises(ModelError, match=r"not a readable torch\.export \.pt2 file"):
        intake(str(bad), workdir=tmp_path)
