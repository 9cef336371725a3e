"""PyTorch and ONNX models through the installed command, as a user runs it: sweep (both
routes), inspect --json, split, verify, and every bad input as one line."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest
from cli_helpers import FAST, assert_one_line_error, num, rows_by_split, run_many
from cli_helpers import run_cli as _run_cli
from onnx_models import side_input_model, with_unknown_operator
from torch_models import write_branchy


# Each command imports torch, ONNX and TensorFlow and converts a model: give a loaded shared
# machine time (the commands take 20-60 s here when it is quiet).
def run_cli(*args: object) -> object:
    return _run_cli(*args, timeout=900)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def src(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("sources")
    images = folder / "images"
    images.mkdir()
    from PIL import Image
    from skimage import data

    Image.fromarray(data.astronaut()).save(images / "astronaut.png")
    # the frames of one stream have one size (the anchors code them: tests/test_anchors.py)
    Image.fromarray(data.chelsea()).resize((512, 512)).save(images / "chelsea.png")
    return {
        "py": write_branchy(folder),
        "side": side_input_model(folder / "side.onnx"),
        "dyn": side_input_model(folder / "dyn.onnx", symbolic_batch=True),
        "mystery": with_unknown_operator(folder / "mystery.onnx"),
        "images": images,
    }


def test_pytorch_factory_through_onnx_runtime(src: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = run_cli(
        "sweep",
        f"{src['py']}:make",
        "--input-shape",
        "1,3,32,32",
        "--format",
        "onnx",
        "--out",
        out,
        "--inputs",
        src["images"],
        "--input-scale",
        "imagenet",
        *FAST,
    ).ok()
    rows = rows_by_split(out / "splits.csv")
    assert sorted(rows) == list(range(8))  # 7 nodes, splits 0..7
    assert all(row["lossless"] == "True" for row in rows.values()), result.describe()
    conversion = {row["conversion_max_abs_diff"] for row in rows.values()}
    assert len(conversion) == 1 and 0 <= float(conversion.pop()) < 1e-4
    # The residual connection: a 2-tensor cut inside the block.
    assert max(len(json.loads(r["cut_tensors"])) for r in rows.values()) == 2
    # Splits are named by the module the cut comes after (Branchy's a, b, c; relu and add and
    # mean are functional: the root's own forward).
    modules = [rows[k]["after_module"] for k in range(8)]
    assert modules[0] == "" and {"a", "b", "c", "(root)"} <= set(modules), modules
    assert re.search(r"^\s*1:6\s+a\s", result.stdout, re.M), result.stdout
    # Predicted columns come from ONNX Runtime's profiler, without a phone.
    assert not math.isnan(num(rows[4]["client_ms_predicted"]))
    notes = json.loads((out / "run.json").read_text())["notes"]
    assert "ONNX Runtime per-node profile" in notes["prediction_note"]  # said once, not per row
    # ...except where the cut runs through a kernel ONNX Runtime fused (conv b with its relu)
    assert math.isnan(num(rows[3]["client_ms_predicted"]))
    assert "computes nodes node_conv2d_1, node_relu_1" in rows[3]["no_prediction"]
    exports = list((out / "model" / "pytorch").glob("*.pt2"))
    assert len(exports) == 1 and len(list((out / "model" / "pytorch").glob("*.onnx"))) == 1
    # A rerun resumes: nothing measured again, the export reused.
    again = run_cli(
        "sweep",
        f"{src['py']}:make",
        "--input-shape",
        "1,3,32,32",
        "--format",
        "onnx",
        "--out",
        out,
        "--inputs",
        src["images"],
        "--input-scale",
        "imagenet",
        *FAST,
    ).ok()
    assert "measured 0 parts" in again.stdout
    assert list((out / "model" / "pytorch").glob("*.pt2")) == exports


def test_pytorch_factory_through_litert_torch(src: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "run"
    run_cli(
        "sweep", f"{src['py']}:make_with_inputs", "--out", out, "--inputs", src["images"], *FAST
    ).ok()
    rows = rows_by_split(out / "splits.csv")
    assert all(row["lossless"] == "True" for row in rows.values())
    diffs = {row["conversion_max_abs_diff"] for row in rows.values()}
    assert len(diffs) == 1 and 0 <= float(diffs.pop()) < 1e-4
    assert list((out / "model" / "pytorch").glob("*.tflite"))
    # litert-torch's tensor names carry the module path: the splits are named by it, and inspect
    # shows the names shortened to it.
    assert {"a", "b", "c"} <= {row["after_module"] for row in rows.values()}
    tflite = next((out / "model" / "pytorch").glob("*.tflite"))
    shown = run_cli("inspect", tflite).ok().stdout
    assert "module" in shown and "torch.nn.modules" not in shown, shown
    report = run_cli("report", out).ok()  # the column survives a rebuild from the database
    assert "conversion_max_abs_diff" in (out / "splits.csv").read_text().splitlines()[0]
    assert report.returncode == 0


def test_onnx_file_inspect_json_split_and_verify(src: dict[str, Path], tmp_path: Path) -> None:
    inspected, split, verified = run_many(
        [
            ["inspect", src["side"], "--json"],
            ["split", src["side"], "--all", "--out", tmp_path / "parts"],
            ["verify", src["side"], "--at", "0-11"],
        ],
        timeout=900,
    )
    doc = json.loads(inspected.ok().stdout)
    assert doc["format"] == "onnx" and doc["num_operators"] == 11
    cut = doc["splits"][5]
    assert {t["name"] for t in cut["tensors"]} == {"b", "d", "side"}
    assert cut["intermediate_bytes"] == sum(t["bytes"] for t in cut["tensors"]) == 4112
    side = next(t for t in cut["tensors"] if t["name"] == "side")
    assert side == {"name": "side", "dtype": "float32", "shape": [1, 4], "bytes": 16}
    assert [op["weight_only"] for op in doc["operators"]][:4] == [True, False, False, True]
    split.ok()
    assert len(list((tmp_path / "parts").rglob("head.onnx"))) == 10  # splits 1 and 0 have none
    assert "FAIL" not in verified.ok().stdout


def test_an_operator_onnx_runtime_cannot_run_leaves_its_rows_named(
    src: dict[str, Path], tmp_path: Path
) -> None:
    out = tmp_path / "run"
    done = run_cli("sweep", src["mystery"], "--out", out, *FAST)
    # The other parts are measured and the table written; the exit is not 0 over the holes.
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.describe()
    assert "parts not measured" in done.stderr_lines[-1], done.describe()
    rows = rows_by_split(out / "splits.csv")
    assert "Mystery" in rows[3]["client_error"]  # the head holds the node
    assert not math.isnan(num(rows[3]["server_ms"]))  # the tail does not: measured
    assert not math.isnan(num(rows[1]["client_ms"]))
    assert "Mystery" in rows[1]["server_error"]


def test_bad_pytorch_and_onnx_input_is_one_line(src: dict[str, Path], tmp_path: Path) -> None:
    py = src["py"]
    truncated = tmp_path / "cut.onnx"
    truncated.write_bytes(src["side"].read_bytes()[:200])
    cases = {
        "no factory": (["inspect", f"{py}:nope"], ("has no function 'nope'",)),
        "raises": (["inspect", f"{py}:raises"], ("raised ValueError: weights file missing",)),
        "not a module": (["inspect", f"{py}:not_a_module"], ("not a torch.nn.Module",)),
        "no shape": (["inspect", f"{py}:make"], ("--input-shape 1,3,224,224",)),
        "export fails": (
            ["inspect", f"{py}:data_dependent", "--input-shape", "1,4"],
            ("torch.export", "data-dependent"),
        ),
        "truncated onnx": (["inspect", truncated], ("truncated or corrupt",)),
        "symbolic dims": (["inspect", src["dyn"]], ("symbolic dimensions", "--input-shape")),
        "format of a tflite-less file": (
            ["inspect", src["side"], "--format", "tflite"],
            ("--format tflite applies to PyTorch models",),
        ),
        "unknown builtin": (["inspect", "torchvision:nope"], ("unknown built-in PyTorch model",)),
    }
    results = run_many([["models"], *(args for args, _ in cases.values())], timeout=900)
    listed = results.pop(0).ok().stdout
    for name in ("torchvision:mobilenet_v2", "torchvision:retinanet_resnet50_fpn", "facenet:onet"):
        assert name in listed
    for (name, (_, needles)), result in zip(cases.items(), results, strict=True):
        try:
            assert_one_line_error(result, *needles)
        except AssertionError as exc:
            raise AssertionError(f"{name}: {exc}") from None


def test_a_phone_cannot_take_onnx_parts(
    src: dict[str, Path], tmp_path: Path, adb_emulator: object
) -> None:
    port = adb_emulator.port  # type: ignore[attr-defined]
    result = run_cli(
        "sweep",
        src["side"],
        "--client",
        "adb",
        "--adb-port",
        str(port),
        "--out",
        tmp_path / "r",
        *FAST,
    )
    assert_one_line_error(result, "cannot run ONNX parts", "--format tflite")
