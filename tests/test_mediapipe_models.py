"""The trained models of the real mediapipe 0.10.14 wheel (fetched once into the user cache)."""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from ai_edge_litert import schema_py_generated as schema
from ai_edge_litert.interpreter import Interpreter, OpResolverType
from splitbench.errors import ModelError
from splitbench.model_source import resolve_model
from splitbench_models import mediapipe_wheel
from splitbench_models.mediapipe_wheel import (
    WHEEL_SHA256,
    list_mediapipe_models,
    mediapipe_model_path,
    wheel_path,
)

USED = ("pose_landmark_full", "hand_landmark_full", "pose_detection", "selfie_segmentation")
RUNNABLE = ("pose_landmark_full", "hand_landmark_full", "pose_detection")


@pytest.fixture(scope="session")
def mediapipe_models() -> dict[str, Path]:
    return {name: mediapipe_model_path(name) for name in USED}


def _custom_codes(path: Path) -> set[str]:
    model = schema.Model.GetRootAs(path.read_bytes(), 0)
    codes = (model.OperatorCodes(i).CustomCode() for i in range(model.OperatorCodesLength()))
    return {c.decode() for c in codes if c}


def _num_operators(path: Path) -> int:
    return schema.Model.GetRootAs(path.read_bytes(), 0).Subgraphs(0).OperatorsLength()


def _run_in_cache(cache: Path, code: str, **pip_env: str) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter whose user cache is ``cache`` (never the real one).

    ``pip_env`` replaces every ``PIP_*`` setting of this environment when given.
    """
    full_env = {**os.environ, "SPLITBENCH_CACHE": str(cache)}
    if pip_env:
        full_env = {k: v for k, v in full_env.items() if not k.startswith("PIP_")} | pip_env
    return subprocess.run(
        [sys.executable, "-c", code], env=full_env, capture_output=True, text=True, timeout=120
    )


_PRINT_MODEL_ERROR = (
    "from splitbench.errors import ModelError\n"
    "from splitbench_models.mediapipe_wheel import mediapipe_model_path\n"
    "try:\n"
    "    print(mediapipe_model_path({name!r}))\n"
    "except ModelError as exc:\n"
    "    print('ModelError:', exc)\n"
)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again when the with ends: connections are refused


def test_wheel_is_the_pinned_file() -> None:
    wheel = wheel_path()
    assert wheel.name.startswith("mediapipe-0.10.14-cp311-cp311-manylinux_2_17_x86_64")
    assert hashlib.sha256(wheel.read_bytes()).hexdigest() == WHEEL_SHA256
    with zipfile.ZipFile(wheel) as archive:
        assert archive.testzip() is None


def test_model_names() -> None:
    names = list_mediapipe_models()
    assert names == sorted(names) and len(names) == len(set(names))
    assert {*USED, "face_detection_short_range", "face_landmark_with_attention"} <= set(names)
    assert len(names) == 14
    assert not [n for n in names if n.startswith("mediapipe:") or n.endswith(".tflite")]


def test_extracted_models_are_the_wheel_members(mediapipe_models: dict[str, Path]) -> None:
    with zipfile.ZipFile(wheel_path()) as archive:
        members = {Path(m).stem: m for m in archive.namelist() if m.endswith(".tflite")}
        for name, path in mediapipe_models.items():
            data = path.read_bytes()
            assert data[4:8] == b"TFL3"
            assert data == archive.read(members[name])
    assert _num_operators(mediapipe_models["pose_landmark_full"]) == 332


@pytest.mark.parametrize("name", RUNNABLE)
def test_models_run_in_litert(mediapipe_models: dict[str, Path], name: str) -> None:
    interp = Interpreter(model_path=str(mediapipe_models[name]))
    interp.allocate_tensors()
    for detail in interp.get_input_details():
        value = np.random.default_rng(1).uniform(0, 1, detail["shape"])
        interp.set_tensor(detail["index"], value.astype(detail["dtype"]))
    interp.invoke()
    outputs = [interp.get_tensor(d["index"]) for d in interp.get_output_details()]
    assert outputs and all(np.isfinite(o).all() for o in outputs)


def test_selfie_segmentation_custom_op(mediapipe_models: dict[str, Path]) -> None:
    """Convolution2DTransposeBias is a custom op: the plain builtin resolver cannot run it.

    ai-edge-litert 2.3.0's default XNNPACK delegate implements it, so the default interpreter
    does run the model; without default delegates (as ``benchmark_model --use_xnnpack=false``)
    loading fails with an error naming the operator.
    """
    path = mediapipe_models["selfie_segmentation"]
    assert _custom_codes(path) == {"Convolution2DTransposeBias"}
    plain = Interpreter(
        model_path=str(path),
        experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
    )
    with pytest.raises(RuntimeError, match="unresolved custom op: Convolution2DTransposeBias"):
        plain.allocate_tensors()
    default = Interpreter(model_path=str(path))
    default.allocate_tensors()
    default.invoke()


def test_face_landmark_with_attention_fails_even_with_defaults() -> None:
    """A model whose custom ops no delegate provides: loading fails naming the first one."""
    path = mediapipe_model_path("face_landmark_with_attention")
    assert "Landmarks2TransformMatrix" in _custom_codes(path)
    with pytest.raises(RuntimeError, match="unresolved custom op: Landmarks2TransformMatrix"):
        Interpreter(model_path=str(path)).allocate_tensors()


def test_prefix_and_resolve_model(mediapipe_models: dict[str, Path], tmp_path: Path) -> None:
    assert mediapipe_model_path("mediapipe:pose_detection") == mediapipe_models["pose_detection"]
    resolved = resolve_model("mediapipe:pose_detection", workdir=tmp_path)
    assert (resolved.kind, resolved.name) == ("mediapipe", "mediapipe:pose_detection")
    assert resolved.path == mediapipe_models["pose_detection"]


def test_unknown_name_lists_close_names(tmp_path: Path) -> None:
    with pytest.raises(ModelError) as info:
        resolve_model("mediapipe:pose_landmark", workdir=tmp_path)
    message = str(info.value)
    assert message.startswith("unknown mediapipe model 'pose_landmark'; did you mean ")
    assert "mediapipe:pose_landmark_full" in message and "\n" not in message


def test_damaged_extraction_is_replaced(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    (cache / "wheels").mkdir(parents=True)
    try:  # the real wheel, without a second download
        os.link(wheel_path(), cache / "wheels" / wheel_path().name)
    except OSError:
        shutil.copy(wheel_path(), cache / "wheels" / wheel_path().name)
    code = _PRINT_MODEL_ERROR.format(name="pose_detection")
    first = _run_in_cache(cache, code)
    extracted = Path(first.stdout.strip())
    good = extracted.read_bytes()
    assert extracted.is_relative_to(cache) and good[4:8] == b"TFL3"
    extracted.write_bytes(good[:1000])  # truncated, as by a full disk
    _run_in_cache(cache, code)
    assert extracted.read_bytes() == good
    extracted.write_bytes(bytes(len(good)))  # right size, wrong bytes
    _run_in_cache(cache, code)
    assert extracted.read_bytes() == good


def test_no_registry_gives_one_line(tmp_path: Path) -> None:
    """No wheel in the cache and no reachable index: one clear line, and no half wheel left."""
    cache = tmp_path / "cache"
    (cache / "wheels").mkdir(parents=True)
    damaged = cache / "wheels" / mediapipe_wheel.WHEEL_FILENAME
    damaged.write_bytes(b"PK\x03\x04 cut short")  # a damaged wheel is dropped, then refetched
    result = _run_in_cache(
        cache,
        _PRINT_MODEL_ERROR.format(name="pose_detection"),
        PIP_INDEX_URL=f"http://127.0.0.1:{_closed_port()}/simple",
        PIP_RETRIES="0",
        PIP_TIMEOUT="2",
        PIP_CONFIG_FILE=os.devnull,
    )
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1, result.stdout + result.stderr
    assert lines[0].startswith(
        "ModelError: cannot fetch the mediapipe==0.10.14 wheel from the package registry (pip: "
    )
    assert "check the network" in lines[0]
    assert not damaged.exists()
    assert [p.name for p in (cache / "wheels").iterdir()] == []


def test_descriptions_state_each_wheel_models_real_input() -> None:
    """``splitbench models`` says what each model takes without opening it: the table must be
    the wheel's truth."""
    names = list_mediapipe_models()
    assert sorted(mediapipe_wheel.DESCRIPTIONS) == names
    for name in names:
        details = Interpreter(model_path=str(mediapipe_model_path(name))).get_input_details()
        shapes = [tuple(int(d) for d in detail["shape"]) for detail in details]
        assert shapes == [mediapipe_wheel.DESCRIPTIONS[name][1]], name


def test_every_listed_name_is_one_the_commands_accept(tmp_path: Path) -> None:
    from cli_helpers import run_cli

    listed = run_cli("models").ok().stdout.splitlines()
    names = [line.split()[0] for line in listed]
    local = [n for n in names if n == "posenet" or n.startswith("mediapipe:")]
    from splitbench_models.torch_zoo import ZOO

    assert "mediapipe:hand_landmark_full" in local and len(local) == len(names) - len(ZOO)
    for name in local:  # the lookup `inspect`, `split` and `sweep` use
        assert resolve_model(name, workdir=tmp_path).path.is_file(), name
    for line in listed:
        assert "input 1," in line, line  # every entry says its input shape
    inspected = run_cli("inspect", "mediapipe:hand_landmark_full").ok()
    assert "hand_landmark_full" in inspected.stdout
