"""Model sources on real files: Keras, SavedModel, frozen graphs, TFLite, and the errors."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from ai_edge_litert.interpreter import Interpreter
from splitbench.convert import tensorflow
from splitbench.errors import ModelError
from splitbench.model_source import parse_input_shape, resolve_model


def _tiny_keras(dynamic: bool = False):  # type: ignore[no-untyped-def]
    tensorflow()
    import keras

    keras.utils.set_random_seed(21)
    shape = (None, None, 3) if dynamic else (12, 12, 3)
    image = keras.Input(shape, name="image")
    x = keras.layers.Conv2D(6, 3, padding="same", activation="relu6", name="conv")(image)
    x = keras.layers.DepthwiseConv2D(3, padding="same", name="dw")(x)
    out = keras.layers.Conv2D(2, 1, name="head")(x)
    return keras.Model(image, out)


@pytest.fixture(scope="module")
def keras_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("keras")
    model = _tiny_keras()
    files = {"keras": folder / "tiny.keras", "h5": folder / "tiny.h5", "saved": folder / "tiny_sm"}
    model.save(files["keras"])
    model.save(files["h5"])
    model.export(str(files["saved"]), verbose=False)
    image = np.random.default_rng(3).uniform(-1, 1, (1, 12, 12, 3)).astype(np.float32)
    np.save(folder / "image.npy", image)
    np.save(folder / "expected.npy", np.asarray(model(image, training=False)))
    return files


@pytest.fixture(scope="module")
def frozen_graph(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A TF1 frozen graph with an unknown batch dimension, like the seed's reference graph."""
    tf = tensorflow()
    graph = tf.Graph()
    rng = np.random.default_rng(9)
    with graph.as_default():
        x = tf.compat.v1.placeholder(tf.float32, [None, 10, 10, 3], name="image")
        with tf.name_scope("block"):
            w = tf.constant(rng.normal(size=(3, 3, 3, 4)).astype(np.float32), name="weights")
            y = tf.nn.relu(tf.nn.conv2d(x, w, 1, "SAME"), name="Relu")
        tf.identity(tf.reduce_mean(y, axis=[1, 2]), name="scores")
    path = tmp_path_factory.mktemp("pb") / "tiny_graph.pb"
    path.write_bytes(graph.as_graph_def().SerializeToString())
    return path


def _run(path: Path, image: np.ndarray) -> np.ndarray:
    interp = Interpreter(model_path=str(path))
    interp.allocate_tensors()
    interp.set_tensor(interp.get_input_details()[0]["index"], image)
    interp.invoke()
    return interp.get_tensor(interp.get_output_details()[0]["index"])


def _input_signature(path: Path) -> list[int]:
    return Interpreter(model_path=str(path)).get_input_details()[0]["shape_signature"].tolist()


@pytest.mark.parametrize(
    "which, kind", [("keras", "keras"), ("h5", "keras"), ("saved", "savedmodel")]
)
def test_keras_and_savedmodel_convert_losslessly(
    keras_files: dict[str, Path], tmp_path: Path, which: str, kind: str
) -> None:
    resolved = resolve_model(str(keras_files[which]), workdir=tmp_path)
    assert resolved.kind == kind
    assert resolved.name == ("tiny_sm" if which == "saved" else "tiny")
    assert resolved.path.parent == tmp_path and resolved.path.suffix == ".tflite"
    assert resolved.path.read_bytes()[4:8] == b"TFL3"
    # The unknown batch dimension becomes 1: the parts are static like the seeds' models.
    assert _input_signature(resolved.path) == [1, 12, 12, 3]
    folder = keras_files["keras"].parent
    image, expected = np.load(folder / "image.npy"), np.load(folder / "expected.npy")
    np.testing.assert_allclose(_run(resolved.path, image), expected, atol=1e-5)


def test_saved_model_pb_file_means_its_folder(keras_files: dict[str, Path], tmp_path: Path) -> None:
    resolved = resolve_model(str(keras_files["saved"] / "saved_model.pb"), workdir=tmp_path)
    assert resolved.kind == "savedmodel" and resolved.name == "tiny_sm"


def test_conversion_is_reused_and_keyed_by_its_arguments(tmp_path: Path) -> None:
    path = tmp_path / "dyn.keras"
    _tiny_keras(dynamic=True).save(path)
    work = tmp_path / "work"
    first = resolve_model(str(path), workdir=work)
    assert _input_signature(first.path) == [1, -1, -1, 3]  # left for --input-shape
    stamp = first.path.stat().st_mtime_ns
    again = resolve_model(str(path), workdir=work)
    assert again.path == first.path and again.path.stat().st_mtime_ns == stamp

    shaped = resolve_model(str(path), workdir=work, input_shapes={"image": (1, 20, 16, 3)})
    assert shaped.path != first.path
    assert _input_signature(shaped.path) == [1, 20, 16, 3]

    _tiny_keras(dynamic=False).save(path)  # same name, new content: never the stale file
    changed = resolve_model(str(path), workdir=work)
    assert changed.path not in (first.path, shaped.path)


def test_input_shape_for_an_unknown_input_is_refused(
    keras_files: dict[str, Path], tmp_path: Path
) -> None:
    with pytest.raises(ModelError, match=r"--input-shape names picture .* has inputs image"):
        resolve_model(
            str(keras_files["keras"]), workdir=tmp_path, input_shapes={"picture": (1, 12, 12, 3)}
        )


def test_frozen_graph_converts_with_names(frozen_graph: Path, tmp_path: Path) -> None:
    resolved = resolve_model(
        str(frozen_graph), workdir=tmp_path, input_names=["image"], output_names=["scores:0"]
    )
    assert (resolved.kind, resolved.name) == ("frozen_graph", "tiny_graph")
    assert _input_signature(resolved.path) == [1, 10, 10, 3]
    shaped = resolve_model(
        str(frozen_graph),
        workdir=tmp_path,
        input_names=["image"],
        output_names=["scores"],
        input_shapes={"image": (2, 10, 10, 3)},
    )
    assert _input_signature(shaped.path) == [2, 10, 10, 3]


def test_frozen_graph_without_names_says_which_flags(frozen_graph: Path, tmp_path: Path) -> None:
    with pytest.raises(ModelError) as info:
        resolve_model(str(frozen_graph), workdir=tmp_path)
    message = str(info.value)
    assert "--input-names" in message and "--output-names" in message
    assert "image" in message  # the placeholder, as a hint
    assert "\n" not in message


def test_frozen_graph_wrong_tensor_name_lists_candidates(
    frozen_graph: Path, tmp_path: Path
) -> None:
    with pytest.raises(ModelError) as info:
        resolve_model(
            str(frozen_graph), workdir=tmp_path, input_names=["image"], output_names=["block/Relu6"]
        )
    message = str(info.value)
    assert "output tensor 'block/Relu6' is not in tiny_graph.pb" in message
    assert "block/Relu" in message and "\n" not in message
    with pytest.raises(ModelError, match=r"input tensor 'img' is not in .*candidates: image"):
        resolve_model(
            str(frozen_graph), workdir=tmp_path, input_names=["img"], output_names=["scores"]
        )


def test_converter_failure_is_one_line(tmp_path: Path) -> None:
    tf = tensorflow()
    graph = tf.Graph()
    with graph.as_default():
        x = tf.compat.v1.placeholder(tf.float32, [1, 4, 4], name="x")
        tf.identity(tf.linalg.svd(x, compute_uv=False), name="s")  # no TFLite builtin for SVD
    path = tmp_path / "svd.pb"
    path.write_bytes(graph.as_graph_def().SerializeToString())
    with pytest.raises(ModelError) as info:
        resolve_model(str(path), workdir=tmp_path, input_names=["x"], output_names=["s"])
    message = str(info.value)
    assert message.startswith("cannot convert svd.pb to TFLite: ")
    assert "Svd" in message and "\n" not in message


def test_tflite_files_pass_through(chain_tflite: Path, tmp_path: Path) -> None:
    resolved = resolve_model(str(chain_tflite), workdir=tmp_path)
    assert (resolved.path, resolved.kind, resolved.name) == (chain_tflite, "tflite", "chain")
    renamed = tmp_path / "chain.bin"
    shutil.copy(chain_tflite, renamed)
    assert resolve_model(str(renamed), workdir=tmp_path).kind == "tflite"  # known by its bytes


def test_unknown_extension_that_is_no_model(tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("not a network\n")
    with pytest.raises(ModelError, match=r"notes.txt is not a model splitbench can read"):
        resolve_model(str(notes), workdir=tmp_path)


def test_pb_that_is_no_graph(tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.pb"
    bogus.write_bytes(b"\xff\xfe not a protobuf \x00\x01" * 10)
    with pytest.raises(ModelError, match=r"bogus.pb is not a TF1 frozen graph"):
        resolve_model(str(bogus), workdir=tmp_path, input_names=["a"], output_names=["b"])


def test_damaged_keras_file(tmp_path: Path) -> None:
    broken = tmp_path / "broken.keras"
    broken.write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(ModelError, match=r"^cannot load Keras model broken.keras: "):
        resolve_model(str(broken), workdir=tmp_path)


def test_folder_that_is_no_saved_model(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=r"is a folder but not a SavedModel"):
        resolve_model(str(tmp_path), workdir=tmp_path / "work")


def test_missing_file_and_unknown_name(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=r"^model file not found: nowhere/model.tflite$"):
        resolve_model("nowhere/model.tflite", workdir=tmp_path)
    with pytest.raises(ModelError) as info:
        resolve_model("posenet_v2", workdir=tmp_path)
    message = str(info.value)
    assert message.startswith("unknown model 'posenet_v2'")
    assert "posenet" in message and "mediapipe:" in message and "\n" not in message


def test_parse_input_shape() -> None:
    assert parse_input_shape("image:1,224,224,3") == ("image", (1, 224, 224, 3))
    assert parse_input_shape("serving_default_x:0:1, 8") == ("serving_default_x:0", (1, 8))
    for bad in ("image", ":1,2", "image:1,x", "image:1,0,3", "image:"):
        with pytest.raises(ModelError, match="--input-shape"):
            parse_input_shape(bad)
