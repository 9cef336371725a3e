"""Bad model files and malformed option lists, through the real command: one line on stderr
naming what the user gave, a non-zero exit, nothing left behind — and ONNX opsets the kit
splits correctly are swept, the others refused by name.

Paths are given relative to the folder the command runs in, as a user types them.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import onnx
import pytest
from cli_helpers import FAST, assert_one_line_error, run_cli, run_many
from onnx_models import legacy_opset_model, side_input_model

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
    legacy_opset_model(models / "opset6.onnx", opset=6)
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
    "opset 6 .onnx": (
        ["sweep", "models/opset6.onnx", "--out", "runs/opset6", *FAST],
        ("models/opset6.onnx", "opset 6", "opset 7 to"),
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_bad_model_file_is_one_line(case: str, root: Path) -> None:
    args, needles = CASES[case]
    result = run_cli(*args, cwd=root)
    line = assert_one_line_error(result, *needles)
    # The path the user gave, once ("models/models/empty.onnx" was printed).
    assert line.count("models/") == 1, line
    if "--out" in args:  # a refused first sweep leaves no run directory behind
        out = root / args[args.index("--out") + 1]
        assert not out.exists(), sorted(p.name for p in out.iterdir())


def test_an_opset_7_model_splits_into_valid_lossless_parts(tmp_path: Path) -> None:
    """Opset 7 (IR 3, initializers listed as graph inputs, the operators' old forms) is what the
    README promises: every part is a valid ONNX model and every split is lossless."""
    model = legacy_opset_model(tmp_path / "opset7.onnx")
    split, verify = run_many(
        [["split", model, "--all", "--out", tmp_path / "parts"], ["verify", model]]
    )
    split.ok()
    parts = sorted((tmp_path / "parts").glob("split_*/*.onnx"))
    assert len(parts) == 2 * 14, split.describe()  # 14 nodes: heads of 1..14, tails of 0..13
    for part in parts:
        loaded = onnx.load(str(part))
        onnx.checker.check_model(loaded, full_check=True)  # raises on an invalid part
        assert [(o.domain, o.version) for o in loaded.opset_import] == [("", 7)], part
    verify.ok()
    rows = [line for line in verify.stdout.splitlines() if ":" in line and "│" in line]
    assert len(rows) == 15, verify.describe()
    assert all("pass" in row for row in rows), verify.describe()


# --------------------------------------------------------------------------- option lists

LISTS: dict[str, tuple[list[str], tuple[str, ...]]] = {
    "compress --qp ,": (["compress", "{chain}", "--qp", ","], ("--qp", "names no")),
    "compress --qp with a gap": (["compress", "{chain}", "--qp", "-20,,-30"], ("--qp", "empty")),
    "compress --qp not numbers": (["compress", "{chain}", "--qp", "-20,x"], ("--qp", "integers")),
    "compress --coder ,": (["compress", "{chain}", "--coder", ","], ("--coder", "names no")),
    "compress --incremental 8,": (
        ["compress", "{chain}", "--incremental", "8,"],
        ("--incremental", "empty"),
    ),
    "sweep --splits with a gap": (
        ["sweep", "{chain}", "--splits", "1,,2", *FAST],
        ("--splits", "empty"),
    ),
    "sweep --input-names ,": (
        ["sweep", "{chain}", "--input-names", ",", *FAST],
        ("--input-names", "names no"),
    ),
    "verify --at ,": (["verify", "{chain}", "--at", ","], ("--at", "names no split")),
}


def test_an_empty_or_malformed_list_option_is_one_line_naming_it(
    chain_tflite: Path, tmp_path: Path
) -> None:
    commands = []
    for i, (args, _) in enumerate(LISTS.values()):
        command = [chain_tflite if a == "{chain}" else a for a in args]
        if command[0] in ("sweep", "compress"):
            command += ["--out", tmp_path / f"out{i}"]
        commands.append(command)
    for (name, (_, needles)), result, command in zip(
        LISTS.items(), run_many(commands), commands, strict=True
    ):
        assert_one_line_error(result, *needles)
        if "--out" in command:
            out = command[command.index("--out") + 1]
            assert not (out / "results.sqlite").exists(), name
            assert not (out / "results.csv").exists(), name
