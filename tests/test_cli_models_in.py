"""Every kind of model a user can hand to ``splitbench sweep``: a ``.tflite`` file, Keras
``.keras`` and ``.h5`` files, a SavedModel folder, a TF1 frozen graph with tensor names, and the
built-in models by name (``posenet`` in test_cli_sweep.py; two trained mediapipe models here).

The sweeps are independent processes, so the module starts them side by side and the tests
read the run directories they left.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import pytest
from cli_helpers import FAST, CliResult, num, query, rows_by_split, run_many

pytestmark = pytest.mark.slow

# The tiny Keras model: 12x12x3 float input, two convolutions, 12x12x2 output.
KERAS_INPUT_BYTES = 12 * 12 * 3 * 4
KERAS_OUTPUT_BYTES = 12 * 12 * 2 * 4
KERAS_OPS = 2

# Facts of the real models (mediapipe 0.10.14 wheel; PoseNet as the issue specifies it).
POSENET_OPS = 31
POSENET_INPUT_BYTES = 257 * 257 * 3 * 4
POSENET_OUTPUT_BYTES = 17 * 17 * (17 + 34 + 32 + 32) * 4
MEDIAPIPE = {
    "mediapipe:pose_detection": {"ops": 291, "splits": [0, 145, 291]},
    "mediapipe:hand_landmark_full": {"ops": 165, "splits": [0, 80, 165]},
}


@pytest.fixture(scope="module")
def keras_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One tiny Keras model saved the three ways a user may have it."""
    import keras

    root = tmp_path_factory.mktemp("keras")
    keras.utils.set_random_seed(3)
    inp = keras.Input((12, 12, 3), batch_size=1, name="image")
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu")(inp)
    x = keras.layers.Conv2D(2, 1)(x)
    model = keras.Model(inp, x)
    files = {"keras": root / "tiny.keras", "h5": root / "tiny.h5", "savedmodel": root / "tiny_sm"}
    model.save(files["keras"])
    model.save(files["h5"])
    model.export(str(files["savedmodel"]), verbose=False)
    return files


@pytest.fixture(scope="module")
def frozen_graph(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    from splitbench_models.posenet import export_posenet_frozen_graph

    return export_posenet_frozen_graph(tmp_path_factory.mktemp("frozen"))


@pytest.fixture(scope="module")
def sweeps(
    tmp_path_factory: pytest.TempPathFactory,
    keras_files: dict[str, Path],
    frozen_graph,  # type: ignore[no-untyped-def]
    chain_tflite: Path,
) -> dict[str, tuple[CliResult, Path]]:
    root = tmp_path_factory.mktemp("models_in")
    commands: dict[str, list] = {
        "tflite": [chain_tflite],
        **{kind: [path] for kind, path in keras_files.items()},
        "frozen_graph": [
            frozen_graph.path,
            "--input-names", ",".join(frozen_graph.input_names),
            "--output-names", ",".join(frozen_graph.output_names),
            "--splits", "0,16,31",
        ],
        **{
            name: [name, "--splits", ",".join(map(str, spec["splits"]))]
            for name, spec in MEDIAPIPE.items()
        },
    }  # fmt: skip
    outs = {kind: root / kind.replace(":", "_") for kind in commands}
    results = run_many(
        [["sweep", cmd[0], "--out", outs[kind], *FAST, *cmd[1:]] for kind, cmd in commands.items()]
    )
    return {kind: (res, outs[kind]) for kind, res in zip(commands, results, strict=True)}


def _check_run(result: CliResult, out: Path, ops: int, swept: list[int]) -> dict[int, dict]:
    """What every sweep must leave, whatever the model kind."""
    result.ok()
    rows = rows_by_split(out / "splits.csv")
    assert sorted(rows) == sorted(swept), result.describe()  # the splits asked for, no filler
    for k in swept:
        row = rows[k]
        assert 0 <= num(row["max_abs_diff"]) <= 1e-3, (k, row["max_abs_diff"])
        assert row["client_error"] == "" and row["server_error"] == "", row
        client, server = num(row["client_ms"]), num(row["server_ms"])
        assert math.isfinite(client) and math.isfinite(server)
        assert (client > 0) == (k > 0) and (server > 0) == (k < ops), (k, client, server)
        assert int(row["head_model_bytes"]) > 0 or k == 0
        assert int(row["tail_model_bytes"]) > 0 or k == ops
        assert (int(row["intermediate_bytes"]) > 0) == (k < ops)  # split N: nothing crosses
    assert query(out / "results.sqlite", "SELECT num_operators FROM models") == [(ops,)]
    return rows


def test_tflite_file(sweeps: dict, chain_tflite: Path) -> None:
    result, out = sweeps["tflite"]
    rows = _check_run(result, out, 4, list(range(5)))
    ((sha, name),) = query(out / "results.sqlite", "SELECT sha256, name FROM models")
    # A .tflite is taken as it is: the database names the user's own file by its hash.
    assert sha == hashlib.sha256(chain_tflite.read_bytes()).hexdigest()
    assert name == chain_tflite.stem
    assert int(rows[0]["intermediate_bytes"]) == 16 * 16 * 3 * 4
    # All on the client: nothing crosses (the database keeps the outputs' size at the cut).
    assert int(rows[4]["intermediate_bytes"]) == 0
    at_n = "SELECT intermediate_bytes FROM splits WHERE split = 4"
    assert query(out / "results.sqlite", at_n) == [(8 * 8 * 4 * 4,)]


@pytest.mark.parametrize("kind", ["keras", "h5", "savedmodel"])
def test_keras_and_savedmodel(kind: str, sweeps: dict) -> None:
    result, out = sweeps[kind]
    rows = _check_run(result, out, KERAS_OPS, list(range(KERAS_OPS + 1)))
    # Converted as the same model: the input crosses at split 0; at split N nothing crosses.
    assert int(rows[0]["intermediate_bytes"]) == KERAS_INPUT_BYTES
    assert int(rows[KERAS_OPS]["intermediate_bytes"]) == 0
    at_n = "SELECT intermediate_bytes FROM splits WHERE split = ?"
    assert query(out / "results.sqlite", at_n, (KERAS_OPS,)) == [(KERAS_OUTPUT_BYTES,)]
    assert rows[0]["bit_exact"] == "True"
    # The database names the converted .tflite the sweep actually split, by path and hash.
    ((path, sha),) = query(out / "results.sqlite", "SELECT path, sha256 FROM models")
    assert Path(path).suffix == ".tflite"
    assert hashlib.sha256(Path(path).read_bytes()).hexdigest() == sha


def test_keras_kinds_convert_to_the_same_graph(sweeps: dict) -> None:
    sizes = {
        kind: [
            int(r["intermediate_bytes"])
            for r in rows_by_split(sweeps[kind][1] / "splits.csv").values()
        ]
        for kind in ("keras", "h5", "savedmodel")
    }
    assert sizes["keras"] == sizes["h5"] == sizes["savedmodel"], sizes


def test_frozen_graph_with_tensor_names(sweeps: dict, frozen_graph) -> None:  # type: ignore[no-untyped-def]
    result, out = sweeps["frozen_graph"]
    rows = _check_run(result, out, POSENET_OPS, [0, 16, 31])
    assert int(rows[0]["intermediate_bytes"]) == POSENET_INPUT_BYTES
    assert int(rows[31]["intermediate_bytes"]) == 0  # all on the client: nothing crosses
    cut = json.loads(rows[31]["cut_tensors"])
    assert len(cut) == len(frozen_graph.output_names) == 4
    for name in frozen_graph.output_names:
        assert any(name in tensor for tensor in cut), (name, cut)
    # Every weight survives the conversion: the head of the last split is the whole model.
    assert int(rows[31]["head_model_bytes"]) > 12_000_000


@pytest.mark.parametrize("name", sorted(MEDIAPIPE))
def test_mediapipe_models_by_name(name: str, sweeps: dict) -> None:
    spec = MEDIAPIPE[name]
    result, out = sweeps[name]
    rows = _check_run(result, out, spec["ops"], spec["splits"])
    assert query(out / "results.sqlite", "SELECT name FROM models") == [(name,)]
    assert f"sweep of {name}" in result.stdout
    for k, row in rows.items():
        assert (row["intermediate_bytes"] != "") == (k in spec["splits"]), k
