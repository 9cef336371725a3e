"""Bad model files (.pt2, .onnx), through the real command: one line on stderr naming what
the user gave and a non-zero exit.

Paths are given relative to the folder the command runs in, as a user types them.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest
from cli_helpers import FAST, assert_one_line_error, run_cli
from onnx_models import side_input_model

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Real broken files, under ``models/`` so that their paths are relative to ``root``."""
    root = tmp_path_factory.mktemp("bad_files")
    models = root / "models"
    models.mkdir()
    (models / "junk.pt2").write_bytes(bytes(range(256)) * 12)  # not a zip at all
    with zipfile.ZipFile(models / "zipped.pt2", "w") as archive:  # a zip, but not of an export
        archive.writestr("notes/readme.txt", "meeting notes, not a torch.export program\n")
    (models / "empty.onnx").write_bytes(b"")
    data = side_input_model(root / "good.onnx").read_bytes()
    (models / "half.onnx").write_bytes(data[: len(data) // 2])
    return root


# case -> (command run in ``root``, words the one error line must contain)
CASES: dict[str, tuple[list[str], tuple[str, ...]]] = {
    "junk .pt2": (
        ["sweep", "models/junk.pt2", "--out", "runs/junk", *FAST],
        ("junk.pt2", "not a readable torch.export .pt2", "not a zip"),
    ),
    "zip of junk .pt2": (
        ["sweep", "models/zipped.pt2", "--out", "runs/zipped", *FAST],
        ("zipped.pt2", "not a readable torch.export .pt2", "archive_format"),
    ),
    "empty .onnx": (
        ["sweep", "models/empty.onnx", "--out", "runs/empty", *FAST],
        ("models/empty.onnx", "empty"),
    ),
    "truncated .onnx": (
        ["sweep", "models/half.onnx", "--out", "runs/half", *FAST],
        ("models/half.onnx", "truncated"),
    ),
    "truncated .onnx (verify)": (
        ["verify", "models/half.onnx"],
        ("models/half.onnx", "truncated"),
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_bad_model_file_is_one_line(case: str, root: Path) -> None:
    args, needles = CASES[case]
    result = run_cli(*args, cwd=root)
    line = assert_one_line_error(result, *needles)
    # The path the user gave, once ("models/models/empty.onnx" was printed).
    assert line.count("models/") == 1, line
