"""Bad input as users really produce it: one clear line on stderr, a non-zero exit, no
traceback — and nothing measured before the mistake is reported.

All cases are independent processes; the module runs them side by side.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_helpers import (
    FAST,
    CliResult,
    assert_one_line_error,
    query,
    rows_by_split,
    run_many,
    write_network_toml,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory, chain_tflite: Path) -> dict[str, Path]:
    """Real broken files: text named .tflite, real models cut in half, a dynamic Keras model,
    a frozen graph, malformed network files, a folder without images."""
    import keras
    from splitbench_models.mediapipe_wheel import mediapipe_model_path
    from splitbench_models.posenet import export_posenet_frozen_graph

    root = tmp_path_factory.mktemp("bad_input")
    text = root / "notes.tflite"
    text.write_text("These are my meeting notes, not a neural network.\n" * 20)
    out = {"text": text}
    for name, src in (
        ("chain", chain_tflite),
        ("hand", mediapipe_model_path("mediapipe:hand_landmark_full")),
    ):
        data = src.read_bytes()
        half = root / f"{name}_half.tflite"
        half.write_bytes(data[: len(data) // 2])
        out[f"half_{name}"] = half

    keras.utils.set_random_seed(5)
    pixels = keras.Input((None, None, 3), name="pixels")  # batch, height, width unknown
    y = keras.layers.Conv2D(4, 3, padding="same", activation="relu")(pixels)
    y = keras.layers.Conv2D(2, 1)(y)
    out["dynamic"] = root / "dynamic.keras"
    keras.Model(pixels, y).save(out["dynamic"])

    out["pb"] = export_posenet_frozen_graph(root / "frozen").path

    bad_toml = root / "broken.toml"
    bad_toml.write_text('[[network]]\nname = "4G"\nuplink_mbps = 6.3\ndownlink_mbps = \n')
    out["bad_toml"] = bad_toml
    missing_key = root / "missing_key.toml"
    missing_key.write_text('[[network]]\nname = "lte"\nuplink_mbps = 6.3\nrtt_ms = 40\n')
    out["missing_key_toml"] = missing_key
    out["good_toml"] = write_network_toml(root / "good.toml", [("lte", 6.3, 21.3, 55.0)])
    empty = root / "no_images"
    empty.mkdir()
    (empty / "readme.txt").write_text("no pictures here")
    out["no_images"] = empty
    out["root"] = root
    return out


# case -> (command, words the one error line must contain)
def _cases(f: dict[str, Path], chain: Path) -> dict[str, tuple[list, tuple[str, ...]]]:
    out = f["root"] / "runs"
    return {
        "text renamed .tflite": (
            ["sweep", f["text"], "--out", out / "a", *FAST],
            ("notes.tflite", "not a tflite model"),
        ),
        "truncated tflite (sweep)": (
            ["sweep", f["half_chain"], "--out", out / "b", *FAST],
            ("chain_half.tflite", "truncated"),
        ),
        "truncated mediapipe model (inspect)": (
            ["inspect", f["half_hand"], "--workdir", out / "w"],
            ("hand_half.tflite", "truncated"),
        ),
        "unknown model name": (
            ["sweep", "posenet_v9", "--out", out / "c", *FAST],
            ("unknown model", "posenet_v9", "mediapipe:"),
        ),
        "unknown mediapipe name": (
            ["inspect", "mediapipe:pose_landmark_xxl"],
            ("pose_landmark_xxl", "pose_landmark_full"),
        ),
        "split index out of range": (
            ["split", chain, "--at", "99", "--out", out / "d"],
            ("99", "out of range", "0..4"),
        ),
        "sweep split list out of range": (
            ["sweep", chain, "--out", out / "e", "--splits", "2,40", *FAST],
            ("40", "0..4"),
        ),
        "phone timeout that is no whole second": (  # the phone's watchdog ticks once a second
            ["sweep", chain, "--out", out / "e2", "--timeout", "0.01", *FAST],
            ("--timeout 0.01", "whole number of seconds", "--timeout 1"),
        ),
        "missing file": (
            ["sweep", f["root"] / "nowhere" / "model.tflite", "--out", out / "f", *FAST],
            ("not found", "nowhere/model.tflite"),
        ),
        "frozen graph without names": (
            ["sweep", f["pb"], "--out", out / "g", *FAST],
            ("--input-names", "--output-names", "image"),
        ),
        "malformed network toml": (
            ["sweep", chain, "--out", out / "h", "--network", f["bad_toml"], *FAST],
            ("broken.toml", "toml"),
        ),
        "network entry without a key": (
            ["sweep", chain, "--out", out / "i", "--network", f["missing_key_toml"], *FAST],
            ("missing_key.toml", "downlink_mbps"),
        ),
        "missing network file": (
            ["sweep", chain, "--out", out / "j", "--network", f["root"] / "nope.toml", *FAST],
            ("nope.toml",),
        ),
        "inputs folder without images": (
            ["sweep", chain, "--out", out / "k", "--inputs", f["no_images"], *FAST],
            ("no_images",),
        ),
        "dynamic input shape": (
            ["sweep", f["dynamic"], "--out", out / "l", *FAST],
            ("pixels", "--input-shape", str(f["dynamic"])),  # names the user's file
        ),
        "report on a folder that is no run": (
            ["report", f["root"]],
            (str(f["root"]),),
        ),
    }


@pytest.fixture(scope="module")
def results(files: dict[str, Path], chain_tflite: Path) -> dict[str, tuple[CliResult, tuple]]:
    cases = _cases(files, chain_tflite)
    fixed = [
        "sweep", files["dynamic"], "--out", files["root"] / "fixed",
        "--input-shape", "pixels:1,20,24,3", "--network", files["good_toml"], *FAST,
    ]  # fmt: skip
    done = run_many([cmd for cmd, _ in cases.values()] + [fixed])
    out = {name: (res, cases[name][1]) for name, res in zip(cases, done, strict=False)}
    out["fixed"] = (done[-1], ())
    return out


CASES = [
    "text renamed .tflite",
    "truncated tflite (sweep)",
    "truncated mediapipe model (inspect)",
    "unknown model name",
    "unknown mediapipe name",
    "split index out of range",
    "sweep split list out of range",
    "phone timeout that is no whole second",
    "missing file",
    "frozen graph without names",
    "malformed network toml",
    "network entry without a key",
    "missing network file",
    "inputs folder without images",
    "dynamic input shape",
    "report on a folder that is no run",
]


@pytest.mark.parametrize("case", CASES)
def test_bad_input_gets_one_clear_line(case: str, results: dict) -> None:
    result, needles = results[case]
    assert_one_line_error(result, *needles)


def test_every_case_is_exercised(files: dict[str, Path], chain_tflite: Path) -> None:
    assert sorted(CASES) == sorted(_cases(files, chain_tflite))


@pytest.mark.parametrize("case", ["text renamed .tflite", "inputs folder without images"])
def test_nothing_is_measured_before_a_bad_input_is_reported(case: str, results: dict) -> None:
    """A mistake in the arguments is reported before any time is spent measuring: the run
    directory holds no measurement (on a phone, a wasted measurement costs minutes)."""
    result, _ = results[case]
    out = Path(result.args[result.args.index("--out") + 1])
    db = out / "results.sqlite"
    if db.exists():
        from cli_helpers import measurement_count

        assert measurement_count(db) == 0, result.describe()


def test_dynamic_shape_works_with_input_shape(results: dict, files: dict[str, Path]) -> None:
    result, _ = results["fixed"]
    result.ok()
    rows = rows_by_split(files["root"] / "fixed" / "splits.csv")
    assert sorted(rows) == [0, 1, 2]
    assert int(rows[0]["intermediate_bytes"]) == 1 * 20 * 24 * 3 * 4  # the shape given
    # Split N (2:0): nothing crosses; the database keeps the outputs' size at the cut.
    assert int(rows[2]["intermediate_bytes"]) == 0
    db = files["root"] / "fixed" / "results.sqlite"
    at_n = "SELECT intermediate_bytes FROM splits WHERE split = 2"
    assert query(db, at_n) == [(1 * 20 * 24 * 2 * 4,)]
    assert all(float(r["max_abs_diff"]) <= 1e-3 for r in rows.values())
