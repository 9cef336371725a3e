"""``splitbench compress``: the seeds' model-compression evaluation on real models and data.

Every check runs the installed command in its own process and reads what it wrote: the result
CSV (exactly the seeds' columns first), the bitstreams, the decoded models (run again here with
LiteRT), the PNG. NNC runs on the small chain model and on mediapipe's face detector (a real
trained model, 0.2 M parameters) to keep the suite short.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import numpy as np
import pytest
from cli_helpers import assert_one_line_error, read_csv, run_cli
from nnc_fresh_decode import decode_in_fresh_process
from seed_tables import SEED_COLUMNS

NAMED_EXTRAS = ["coder_name", "scenario_name", "data_set_name", "model_name", "unique_tag"]
NNC_PARAMS = ["qp", "nonweight_qp", "use_dq", "param_opt", "opt_qp", "cabac_unary_length_minus1"]


def _float_param_bytes(path: Path) -> int:
    """The anchor's parameter bytes, counted independently with the TFLite interpreter."""
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_path=str(path))
    total = 0
    seen = set()
    for d in interp.get_tensor_details():
        if d["dtype"] not in (np.float32, np.float16):
            continue
        try:
            value = interp.get_tensor(d["index"])
        except ValueError:
            continue
        if value is None or value.size == 0 or d["index"] in seen:
            continue
        seen.add(d["index"])
        total += value.nbytes
    return total


def _run(model: Path, out: Path) -> dict[str, np.ndarray]:
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_path=str(model))
    interp.allocate_tensors()
    rng = np.random.default_rng(3)
    for d in interp.get_input_details():
        interp.set_tensor(d["index"], rng.uniform(-1, 1, d["shape"]).astype(np.float32))
    interp.invoke()
    return {d["name"]: interp.get_tensor(d["index"]) for d in interp.get_output_details()}


@pytest.fixture(scope="module")
def chain_run(chain_tflite: Path, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    pytest.importorskip("nncodec.nnc_core")
    out = tmp_path_factory.mktemp("compress") / "chain"
    result = run_cli(
        "compress",
        chain_tflite,
        "--coder",
        "nnc,fp16,int8-weights,zstd,raw",
        "--qp",
        "-20,-38",
        "--out",
        out,
    ).ok()
    return out, result


def test_results_csv_has_the_seeds_columns_and_one_row_per_configuration(chain_run, chain_tflite):  # type: ignore[no-untyped-def]
    out, _ = chain_run
    with (out / "results.csv").open(newline="") as f:
        header = next(csv.reader(f))
    assert header[:10] == SEED_COLUMNS
    assert header[10:15] == NAMED_EXTRAS
    assert set(NNC_PARAMS) <= set(header[15:])
    rows = read_csv(out / "results.csv")
    assert [r["unique_tag"] for r in rows] == [
        "nnc_qp-20",
        "nnc_qp-38",
        "fp16",
        "int8-weights",
        "zstd_l19",
        "raw",
    ]
    anc = _float_param_bytes(chain_tflite)
    for r in rows:
        assert int(r["anc_size"]) == anc
        bitstream = next((out / "bitstreams").glob(f"{r['unique_tag']}.*"))
        assert int(r["rec_size"]) == bitstream.stat().st_size
        assert float(r["compress_ratio"]) == pytest.approx(int(r["rec_size"]) / anc)
        for col in ("anc_eval_time", "rec_eval_time", "enc_time", "dec_time"):
            assert 0 < float(r[col]) < 120, (col, r)
        assert r["metric_name"] == "output_rel_l2"
        assert r["scenario_name"] == "fidelity"
        assert r["data_set_name"] == "skimage-sample-photos, input scale -1..1"
        assert r["model_name"] == "chain"
        assert float(r["anc_perf"]) == 0.0
    by_tag = {r["unique_tag"]: r for r in rows}
    assert int(by_tag["raw"]["rec_size"]) == anc  # float32 model: the dummy coder is 1:1
    assert int(by_tag["fp16"]["rec_size"]) == anc // 2
    assert float(by_tag["zstd_l19"]["rec_perf"]) == 0.0  # lossless
    assert by_tag["nnc_qp-38"]["qp"] == "-38" and by_tag["nnc_qp-38"]["use_dq"] == "True"
    # a finer step (more negative QP) costs bits and buys fidelity
    fine, coarse = by_tag["nnc_qp-38"], by_tag["nnc_qp-20"]
    assert int(fine["rec_size"]) > int(coarse["rec_size"])
    assert 0 < float(fine["rec_perf"]) < float(coarse["rec_perf"])


def test_decoded_models_are_kept_and_run(chain_run, chain_tflite):  # type: ignore[no-untyped-def]
    out, result = chain_run
    reference = _run(chain_tflite, out)
    for tag in ("nnc_qp-38", "fp16", "int8-weights", "zstd_l19", "raw"):
        outputs = _run(out / "decoded" / f"{tag}.tflite", out)
        assert outputs.keys() == reference.keys()
        for name, ref in reference.items():
            rel = np.linalg.norm(outputs[name] - ref) / np.linalg.norm(ref)
            assert rel < 0.05, (tag, rel)
    # int8-weights is a real weight-quantised model: int8 buffers behind DEQUANTIZE
    int8_model = out / "decoded" / "int8-weights.tflite"
    assert int8_model.stat().st_size < chain_tflite.stat().st_size
    from ai_edge_litert.interpreter import Interpreter

    dtypes = {d["dtype"] for d in Interpreter(model_path=str(int8_model)).get_tensor_details()}
    assert np.int8 in dtypes
    png = out / "size_vs_perf.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    assert "nnc_qp-38" in result.stdout


def test_rerun_keeps_finished_rows(chain_run, chain_tflite):  # type: ignore[no-untyped-def]
    out, _ = chain_run
    before = read_csv(out / "results.csv")
    again = run_cli(
        "compress",
        chain_tflite,
        "--coder",
        "nnc,fp16,int8-weights,zstd,raw",
        "--qp",
        "-20,-38",
        "--out",
        out,
    ).ok()
    assert again.stderr.count("kept from the earlier run") == 6
    assert read_csv(out / "results.csv") == before


def test_nnc_bitstream_decodes_bit_exactly_with_nnc_core_alone(chain_tflite, tmp_path):  # type: ignore[no-untyped-def]
    """The encoder's reconstruction, saved here, equals what a fresh process decodes from the
    kit's bitstream with nothing but nncodec.nnc_core."""
    pytest.importorskip("nncodec.nnc_core")
    from splitbench.compress.coders.nnc import NncCoder
    from splitbench.compress.tflite_params import load_params

    params = load_params(chain_tflite)
    coder = NncCoder(-30)
    bitstream = tmp_path / "chain.nnc"
    coder.encode(params, bitstream)
    np.savez(tmp_path / "enc_rec.npz", **coder.reconstruction)
    proc = decode_in_fresh_process(bitstream, tmp_path / "enc_rec.npz")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"bit-exact {len(params.arrays)}"
    # and the kit's decoder gives the same arrays
    decoded = coder.decode(bitstream, params).arrays
    for k, v in decoded.items():
        assert (
            v.astype(np.float32).tobytes() == coder.reconstruction[k].astype(np.float32).tobytes()
        )


def test_bad_input_gets_one_line(chain_tflite, tmp_path):  # type: ignore[no-untyped-def]
    import split_models

    assert_one_line_error(
        run_cli("compress", chain_tflite, "--coder", "gzip", "--out", tmp_path / "a"),
        "unknown coder",
        "gzip",
    )
    assert_one_line_error(
        run_cli(
            "compress",
            chain_tflite,
            "--scenario",
            "imagenet",
            "--coder",
            "fp16",
            "--out",
            tmp_path / "b",
        ),
        "unknown scenario",
        "imagenet",
    )
    assert_one_line_error(
        run_cli("compress", chain_tflite, "--qp", "-200", "--out", tmp_path / "c"),
        "-200",
        "outside",
    )
    int8 = tmp_path / "int8.tflite"
    int8.write_bytes(split_models.int8_model())
    assert_one_line_error(
        run_cli("compress", int8, "--coder", "fp16", "--out", tmp_path / "d"),
        "no float32/float16 weights",
    )
    assert_one_line_error(
        run_cli(
            "compress",
            chain_tflite,
            "--coder",
            "fp16",
            "--scenario",
            "lfw-faces",
            "--out",
            tmp_path / "e",
        ),
        "lfw-faces",
    )


@pytest.mark.slow
def test_lfw_faces_scenario_measures_accuracy_of_a_real_face_detector(tmp_path):  # type: ignore[no-untyped-def]
    pytest.importorskip("nncodec.nnc_core")
    out = tmp_path / "faces"
    run_cli(
        "compress",
        "mediapipe:face_detection_short_range",
        "--scenario",
        "lfw-faces",
        "--coder",
        "nnc,fp16",
        "--qp",
        "-20,-45",
        "--out",
        out,
    ).ok()
    rows = {r["unique_tag"]: r for r in read_csv(out / "results.csv")}
    assert rows["fp16"]["metric_name"] == "face_accuracy"
    assert rows["fp16"]["data_set_name"] == "skimage-lfw_subset"
    assert float(rows["fp16"]["anc_perf"]) == pytest.approx(0.99)
    assert float(rows["fp16"]["rec_perf"]) == pytest.approx(0.99)  # float16 weights: lossless
    # a coarse step breaks the detector, a fine one keeps it (measured: 0.49 and 0.98)
    coarse, fine = rows["nnc_qp-20"], rows["nnc_qp-45"]
    assert float(coarse["compress_ratio"]) < float(fine["compress_ratio"]) < 0.7
    assert float(coarse["rec_perf"]) < 0.8
    assert 0.95 <= float(fine["rec_perf"]) <= 1.0


@pytest.mark.slow
def test_pose_landmarks_scenario_measures_displacement_in_pixels(tmp_path):  # type: ignore[no-untyped-def]
    out = tmp_path / "pose"
    run_cli(
        "compress",
        "mediapipe:pose_landmark_full",
        "--scenario",
        "pose-landmarks",
        "--coder",
        "fp16,int8-weights",
        "--out",
        out,
    ).ok()
    rows = {r["unique_tag"]: r for r in read_csv(out / "results.csv")}
    assert rows["fp16"]["metric_name"] == "landmark_displacement_px"
    assert float(rows["fp16"]["rec_perf"]) == 0.0
    assert 0.0 < float(rows["int8-weights"]["rec_perf"]) < 20.0
    # int8 weights + float32 scales and biases: a little over half the float16 anchor
    assert 0.5 < float(rows["int8-weights"]["compress_ratio"]) < 0.55
    # the decoded model stores int8 weights: about half the float16 file
    from splitbench_models.mediapipe_wheel import mediapipe_model_path

    original = mediapipe_model_path("pose_landmark_full").stat().st_size
    assert (out / "decoded" / "int8-weights.tflite").stat().st_size < 0.6 * original


def test_incremental_8_to_16_bits(chain_tflite, tmp_path):  # type: ignore[no-untyped-def]
    """Clause 10.6: the 8-bit model, the update to 16 bits, and the 16-bit model sent directly;
    the updated model equals the direct one byte for byte (the kit checks it, and so do we)."""
    pytest.importorskip("nncodec.nnc_core")
    out = tmp_path / "incr"
    result = run_cli("compress", chain_tflite, "--incremental", "8,16", "--out", out).ok()
    rows = {r["stage"]: r for r in read_csv(out / "incremental.csv")}
    assert set(rows) == {"low", "update", "high-direct"}
    assert rows["low"]["precision"] == "8" and rows["update"]["precision"] == "16"
    for r in rows.values():
        assert int(r["bitstream_bytes"]) > 0
        for col in ("enc_time", "dec_time", "rec_time"):
            assert float(r[col]) > 0
        for net in ("4G", "5G-median", "WiFi-broadband"):
            assert float(r[f"startup_ms_{net}"]) > 1000 * (
                float(r["dec_time"]) + float(r["rec_time"])
            )
    assert rows["update"]["note"] in ("tca=on", "tca=off")
    # the 16-bit model is better than the 8-bit one, and what the update gives is the direct one
    assert float(rows["update"]["perf"]) == float(rows["high-direct"]["perf"])
    assert float(rows["update"]["perf"]) <= float(rows["low"]["perf"])
    updated = (out / "decoded" / "incr_16bit_updated.tflite").read_bytes()
    assert updated == (out / "decoded" / "incr_16bit_direct.tflite").read_bytes()
    assert "Model Update*" in result.stdout and "Low-Precision Model" in result.stdout
    for bad in ("16,8", "8", "1,16"):
        assert_one_line_error(
            run_cli("compress", chain_tflite, "--incremental", bad, "--out", tmp_path / "x"),
            "--incremental",
        )


def test_defaults_feed_the_model_what_its_pipeline_does_and_keep_baselines(tmp_path):  # type: ignore[no-untyped-def]
    """No --scenario, no --coder: a mediapipe hand model gets its task scenario (photos scaled
    to [0, 1] as its pipeline does, landmark displacement), and fp16 and zstd sit beside NNC as
    baselines; finer QPs give smaller displacements (with [-1, 1] photos they did not)."""
    pytest.importorskip("nncodec.nnc_core")
    out = tmp_path / "hand"
    result = run_cli("compress", "mediapipe:hand_landmark_lite", "--qp", "-20,-38", "--out", out)
    result.ok()
    rows = {r["unique_tag"]: r for r in read_csv(out / "results.csv")}
    assert set(rows) == {"nnc_qp-20", "nnc_qp-38", "fp16", "zstd_l19"}
    assert {r["metric_name"] for r in rows.values()} == {"landmark_displacement_px"}
    assert float(rows["nnc_qp-38"]["rec_perf"]) < float(rows["nnc_qp-20"]["rec_perf"])
    assert float(rows["zstd_l19"]["rec_perf"]) == 0.0  # lossless
    # One precision per column in the printed table: four decimals for the metric.
    printed = [line for line in result.stdout.splitlines() if "nnc_qp-" in line]
    assert all(re.search(r"\s\d+\.\d{4}\s", line) for line in printed), result.stdout


def test_plot_labels_stay_inside_the_picture() -> None:
    from splitbench.compress.plot import size_vs_perf_figure

    rows = [  # the QP labels of the corner points are where they would spill out
        {"metric_name": "m", "anc_perf": 0.0, "coder_name": "nnc", "qp": qp, "compress_ratio": x}
        | {"rec_perf": y}
        for qp, x, y in ((-20, 0.05, 30.0), (-30, 0.2, 10.0), (-45, 0.99, 0.0))
    ]
    fig = size_vs_perf_figure(rows, title="t")
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    box = fig.axes[0].get_window_extent(renderer)
    for text in fig.axes[0].texts:
        extent = text.get_window_extent(renderer)
        assert box.x0 <= extent.x0 and extent.x1 <= box.x1, text.get_text()
        assert box.y0 <= extent.y0 and extent.y1 <= box.y1, text.get_text()
