"""The clause-5 anchor "all on the server": the phone uploads a compressed picture.

Real codecs (Pillow; PyAV's libx264, libx265, SVT-AV1) on real photographs (scikit-image's
sample photos), a real sweep writing anchors.csv, the workbook and report.html, and the verdict
computed from those files."""

from __future__ import annotations

import io
import sqlite3
from pathlib import Path

import av
import numpy as np
import openpyxl
import pytest
from cli_helpers import FAST, assert_one_line_error, read_csv, run_cli
from PIL import Image
from splitbench.anchor.codecs import PictureCodec, parse_anchor_codecs
from splitbench.errors import SplitbenchError
from splitbench.measure.pictures import make_pictures, read_frame, sample_photo_paths
from tflite_edits import with_input_shape

ALL_CODECS = "jpeg:90,webp:80,png,h264:23,h265:28,av1:35"


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    """The astronaut at PoseNet's input size: 257 x 257, odd, as a phone would hold it."""
    return read_frame(sample_photo_paths(1)[0], 257, 257, 3)


@pytest.mark.parametrize("spec", parse_anchor_codecs(ALL_CODECS), ids=lambda s: s.label)
def test_every_codec_round_trips_a_real_photo(spec, photo: np.ndarray) -> None:  # type: ignore[no-untyped-def]
    codec = PictureCodec(spec, 257, 257, 3)
    data = codec.encode(photo)
    back = codec.decode(data)
    assert back.shape == photo.shape and back.dtype == np.uint8
    raw = photo.nbytes
    if spec.name == "png":  # lossless, and a photo does not shrink much
        assert np.array_equal(back, photo)
        assert raw / 3 < len(data) < raw
        return
    # lossy: much smaller than the pixels, and still the same picture
    assert 1000 < len(data) < raw / 4, len(data)
    assert _psnr(back, photo) > 28, _psnr(back, photo)
    if spec.name in ("h264", "h265", "av1"):
        assert "padded to 258x258" in codec.note  # 4:2:0 needs even sizes: said, not silent


def test_jpeg_at_quality_90_is_close_to_the_original(photo: np.ndarray) -> None:
    (spec,) = parse_anchor_codecs("jpeg:90")
    codec = PictureCodec(spec, 257, 257, 3)
    data = codec.encode(photo)
    assert data[:2] == b"\xff\xd8"  # a JPEG file, readable by anything
    back = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
    assert _psnr(back, photo) > 35
    assert np.abs(back.astype(int) - photo).mean() < 3.5
    lower = PictureCodec(parse_anchor_codecs("jpeg:30")[0], 257, 257, 3).encode(photo)
    assert len(lower) < len(data)  # the quality parameter reaches the encoder


def test_h264_crf_23_is_a_valid_stream_that_pyav_decodes(photo: np.ndarray) -> None:
    (spec,) = parse_anchor_codecs("h264:23")
    data = PictureCodec(spec, 257, 257, 3).encode(photo)
    # an Annex B H.264 elementary stream, opened as a file by FFmpeg's own demuxer
    assert data[:4] == b"\x00\x00\x00\x01"
    with av.open(io.BytesIO(data), format="h264") as container:
        frames = list(container.decode(video=0))
    assert len(frames) == 1 and frames[0].key_frame  # one intra frame
    assert (frames[0].width, frames[0].height) == (258, 258)
    back = frames[0].to_ndarray(format="rgb24")[:257, :257]
    assert _psnr(back, photo) > 28
    crf_40 = PictureCodec(parse_anchor_codecs("h264:40")[0], 257, 257, 3).encode(photo)
    assert len(crf_40) < len(data)


def test_one_channel_pictures_code_too(photo: np.ndarray) -> None:
    gray = photo[:, :, :1].copy()
    for spec in parse_anchor_codecs("jpeg:90,h264:23"):
        codec = PictureCodec(spec, 257, 257, 1)
        assert codec.decode(codec.encode(gray)).shape == (257, 257, 1)


@pytest.mark.parametrize(
    "text, needle",
    [
        ("gif", "unknown codec 'gif'"),
        ("jpeg:101", "out of range 1..100"),
        ("h264:52", "out of range 0..51"),
        ("webp:x", "whole number"),
        ("png:3", "takes no parameter"),
        ("jpeg:90,jpeg:90", "given twice"),
    ],
)
def test_bad_codec_lists_are_one_line(text: str, needle: str) -> None:
    with pytest.raises(SplitbenchError, match=needle) as info:
        parse_anchor_codecs(text)
    assert "\n" not in str(info.value)


def test_defaults_fill_in_the_parameter() -> None:
    labels = [s.label for s in parse_anchor_codecs("jpeg, h265,av1 ,raw")]
    assert labels == ["jpeg:90", "h265:28", "av1:35", "raw"]


def test_an_image_model_is_fed_real_photos(chain_tflite: Path) -> None:
    pictures = make_pictures(chain_tflite, inputs_dir=None, count=3)
    assert pictures is not None
    assert pictures.names == ("astronaut.png", "chelsea.png", "coffee.png")
    assert pictures.describe()["value_range"] == "-1..1"
    assert pictures.describe()["layout"] == "NHWC"
    frame = pictures.frames[0]
    assert frame.shape == (16, 16, 3) and frame.std() > 10  # a picture, not a flat colour
    value = pictures.to_input(frame)
    assert value.shape == (1, 16, 16, 3) and -1 <= value.min() < value.max() <= 1


def test_a_model_without_an_image_input_keeps_random_inputs(
    chain_tflite: Path, tmp_path: Path
) -> None:
    odd = with_input_shape(chain_tflite, tmp_path / "odd.tflite", [1, 16, 16, 5])
    assert make_pictures(odd, inputs_dir=None, count=3) is None


# -- the sweep -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def swept(chain_tflite: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp("anchors") / "run"
    result = run_cli(
        "sweep", chain_tflite, "--out", out, "--anchor-codec", "jpeg:90,h264:23,raw", *FAST
    )
    assert result.returncode == 0, result.describe()
    return out, result.stdout


def test_sweep_writes_one_anchor_row_per_codec(swept: tuple[Path, str]) -> None:
    out, _ = swept
    rows = read_csv(out / "anchors.csv")
    assert [r["anchor"] for r in rows] == ["jpeg:90", "h264:23", "raw"]
    by = {r["anchor"]: r for r in rows}
    splits = read_csv(out / "splits.csv")
    raw_upload = float(splits[0]["intermediate_bytes"])
    assert float(by["raw"]["coded_bytes"]) == raw_upload  # raw is split 0's upload
    for label in ("jpeg:90", "h264:23"):
        r = by[label]
        assert 0 < float(r["coded_bytes"]) < raw_upload
        assert float(r["encode_ms"]) > 0 and float(r["decode_ms"]) > 0
        assert float(r["max_abs_diff"]) > 0  # lossy: never called lossless
        assert "host" in r["codec_timed_on"]
    assert "one intra frame" in by["h264:23"]["note"]
    # the whole model's server time is the measured one, the same on every row
    with sqlite3.connect(out / "results.sqlite") as conn:
        (n,) = conn.execute("SELECT count(*) FROM anchor_results").fetchone()
        (whole,) = conn.execute(
            "SELECT count(*) FROM measurements WHERE role = 'whole' AND target = 'host'"
        ).fetchone()
    assert n == 3 and whole >= 1
    assert len({r["server_ms"] for r in rows}) == 1 and float(rows[0]["server_ms"]) > 0


def test_anchor_latency_is_the_network_model_of_split_zero(swept: tuple[Path, str]) -> None:
    """e2e = encode + RTT + coded / uplink + decode + server + output / downlink, through
    splitbench.network (so the anchors follow the network model the splits follow)."""
    from splitbench.network import NetworkConfig, e2e_ms, load_network_configs

    out, _ = swept
    nets: list[NetworkConfig] = load_network_configs(None)
    for r in read_csv(out / "anchors.csv"):
        for cfg in nets:
            expected = e2e_ms(
                float(r["encode_ms"]),
                float(r["decode_ms"]) + float(r["server_ms"]),
                float(r["coded_bytes"]),
                float(r["output_bytes"]),
                cfg,
                split=0,
                num_operators=1,
            )
            assert float(r[f"e2e_ms_{cfg.name}"]) == pytest.approx(expected, rel=1e-9)
            assert float(r[f"delivery_ms_{cfg.name}"]) == 0.0  # the model stays on the server


def test_workbook_has_the_anchors_sheet(swept: tuple[Path, str]) -> None:
    out, _ = swept
    wb = openpyxl.load_workbook(out / "splits.xlsx", read_only=True)
    sheet = wb["Anchors"]
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][0] == "anchor" and [r[0] for r in rows[1:]] == ["jpeg:90", "h264:23", "raw"]


def test_summary_and_page_give_the_verdict(swept: tuple[Path, str]) -> None:
    """Per network: the best anchor, and the best split against it with the margin that the
    CSV files imply."""
    from splitbench.network import load_network_configs

    out, stdout = swept
    anchors = read_csv(out / "anchors.csv")
    splits = read_csv(out / "splits.csv")
    page = (out / "report.html").read_text()
    assert "Anchor: all on the server, the phone uploads a compressed picture" in page
    for cfg in load_network_configs(None):
        col = f"e2e_ms_{cfg.name}"
        best_anchor = min(anchors, key=lambda r: float(r[col]))
        best_split = min(splits, key=lambda r: float(r[col]))
        margin = float(best_anchor[col]) - float(best_split[col])
        line = next(x for x in stdout.splitlines() if x.startswith(f"best anchor for {cfg.name}:"))
        assert f" {best_anchor['anchor']} upload" in line
        lo, hi = (
            float(best_split[f"e2e_lo_ms_{cfg.name}"]),
            float(best_split[f"e2e_hi_ms_{cfg.name}"]),
        )
        if lo <= float(best_anchor[col]) <= hi:  # inside the split's interval: noise
            assert f"ties with the {best_anchor['anchor']} anchor" in line
            assert "within the measurement noise" in line
        else:
            verb = "beats" if margin > 0 else "loses to"
            assert f"{verb} the {best_anchor['anchor']} anchor by {abs(margin):.1f} ms" in line
        assert f'"anchor": "{best_anchor["anchor"]}"' in page


def test_rerun_resumes_the_anchors(swept: tuple[Path, str], chain_tflite: Path) -> None:
    out, _ = swept
    with sqlite3.connect(out / "results.sqlite") as conn:
        before = conn.execute("SELECT codec, recorded_at FROM anchor_results").fetchall()
    again = run_cli(
        "sweep", chain_tflite, "--out", out, "--anchor-codec", "jpeg:90,h264:23,raw", *FAST
    )
    assert again.returncode == 0, again.describe()
    with sqlite3.connect(out / "results.sqlite") as conn:
        assert conn.execute("SELECT codec, recorded_at FROM anchor_results").fetchall() == before


# -- bad input: one line, non-zero, before any measurement -----------------------------------


def _nothing_measured(out: Path) -> bool:
    db = out / "results.sqlite"
    if not db.exists():
        return True
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT count(*) FROM measurements").fetchone()[0] == 0


def test_bad_anchor_codec_fails_before_any_work(chain_tflite: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = run_cli("sweep", chain_tflite, "--out", out, "--anchor-codec", "jpeg:0", *FAST)
    assert_one_line_error(result, "jpeg quality 0 is out of range 1..100")
    assert _nothing_measured(out)


def test_a_picture_codec_needs_an_image_input(chain_tflite: Path, tmp_path: Path) -> None:
    odd = with_input_shape(chain_tflite, tmp_path / "odd.tflite", [1, 16, 16, 5])
    out = tmp_path / "run"
    result = run_cli("sweep", odd, "--out", out, "--anchor-codec", "webp:80", *FAST)
    assert_one_line_error(result, "webp:80 codes a picture", "no image input")
    assert _nothing_measured(out)


def test_inputs_of_another_size_are_refused(chain_tflite: Path, tmp_path: Path) -> None:
    folder = tmp_path / "frames"
    folder.mkdir()
    Image.new("RGB", (32, 32), (10, 20, 30)).save(folder / "a.png")
    Image.new("RGB", (40, 32), (10, 20, 30)).save(folder / "b.png")
    out = tmp_path / "run"
    result = run_cli("sweep", chain_tflite, "--out", out, "--inputs", folder, *FAST)
    assert_one_line_error(result, "b.png is 40x32 but a.png is 32x32", "one size")
    assert _nothing_measured(out)


def test_the_docs_anchor_table_is_the_code_definition() -> None:
    from splitbench.report import columns

    page = (Path(__file__).resolve().parents[1] / "docs" / "anchors.md").read_text()
    assert columns.markdown_table(columns.ANCHOR_COLUMNS) in page
    assert columns.markdown_table() not in page  # the splits.csv table lives on columns.md


def test_verdict_says_when_the_anchor_wins_and_by_how_much() -> None:
    """A slow phone: every split pays more than uploading a JPEG; the verdict says the split
    loses, by the difference of the two e2e columns, and names a tie as a tie."""
    import pandas as pd
    from splitbench.network import NetworkConfig
    from splitbench.report.anchor_table import best_anchors, verdict, verdict_text

    cfg = NetworkConfig("lte", 10.0, 40.0, 30.0)
    splits = pd.DataFrame({"split": [0, 1, 2], "e2e_ms_lte": [900.0, 400.0, 250.0]})
    anchors = pd.DataFrame({"anchor": ["jpeg:90", "h264:23"], "e2e_ms_lte": [120.0, 110.0]})
    assert best_anchors(anchors, [cfg]) == {"lte": "h264:23"}
    v = verdict(splits, anchors, {"lte": 2}, cfg)
    assert v is not None
    assert (v["winner"], v["margin_ms"]) == ("anchor", -140.0)
    text = verdict_text(v, 2)
    assert text == (
        "the best split 2:0 (all on the client), 250.0 ms, loses to the h264:23 anchor by "
        "140.0 ms (127 %)"
    )
    tie = verdict(splits.assign(e2e_ms_lte=[900.0, 400.0, 110.0]), anchors, {"lte": 2}, cfg)
    assert tie is not None and tie["winner"] == "tie" and "ties with" in verdict_text(tie, 2)
    # 5 ms apart but inside the split's 95 % interval: a tie within the noise, not a win.
    noisy = splits.assign(e2e_ms_lte=[900.0, 400.0, 115.0], e2e_lo_ms_lte=[0, 0, 100.0])
    noisy = noisy.assign(e2e_hi_ms_lte=[0, 0, 130.0])
    v = verdict(noisy, anchors, {"lte": 2}, cfg)
    assert v is not None and (v["winner"], v["noise"]) == ("tie", True)
    assert verdict_text(v, 2).endswith(
        "ties with the h264:23 anchor (110.0 ms) within the measurement noise"
    )
    clear = noisy.assign(e2e_lo_ms_lte=[0, 0, 112.0], e2e_hi_ms_lte=[0, 0, 118.0])
    assert verdict(clear, anchors, {"lte": 2}, cfg)["winner"] == "anchor"  # type: ignore[index]
    assert verdict(splits, anchors.iloc[0:0], {"lte": 2}, cfg) is None  # no anchor, no verdict


def test_page_in_chromium_shows_anchor_lines_and_the_verdict(
    swept: tuple[Path, str], tmp_path: Path
) -> None:
    """report.html in a real headless Chromium: the where-to-cut table names the best anchor
    and the split's margin, the latency chart draws each anchor as a line at its e2e, switching
    the network moves the lines, and the anchor table lists every codec."""
    from browser import chromium, console_errors
    from browser import wait_ready as _wait_ready
    from selenium.webdriver.support.ui import Select

    out, _ = swept
    anchors = read_csv(out / "anchors.csv")
    with chromium(tmp_path / "profile") as driver:
        driver.get((out / "report.html").as_uri())
        _wait_ready(driver)
        assert console_errors(driver) == []
        script = (
            "return document.getElementById('latency-0').data"
            ".filter(t => t.name.startsWith('anchor ')).map(t => [t.name, t.y[0], t.y[1]])"
        )
        for net in ("4G", "WiFi-broadband"):
            Select(driver.find_element("id", "network")).select_by_value(net)
            lines = driver.execute_script(script)
            assert [n.split()[1] for n, _, _ in lines] == [r["anchor"] for r in anchors]
            for (_, y0, y1), row in zip(lines, anchors, strict=True):
                assert y0 == y1 == pytest.approx(float(row[f"e2e_ms_{net}"]))
            cells = driver.execute_script(
                "const tr = document.querySelector('#best-table-0 tr[data-network=\"' + "
                "arguments[0] + '\"]'); return [tr.querySelector('.anchor-best').textContent,"
                " tr.querySelector('.anchor-verdict').textContent]",
                net,
            )
            best = min(anchors, key=lambda r: float(r[f"e2e_ms_{net}"]))
            assert cells[0].startswith(best["anchor"] + " ")
            assert cells[1].startswith(("wins by", "loses by", "tie"))
        listed = driver.execute_script(
            "return Array.from(document.querySelectorAll('#anchors-0 tr[data-anchor]'))"
            ".map(tr => tr.getAttribute('data-anchor'))"
        )
        assert listed == [r["anchor"] for r in anchors]


def test_landmark_models_get_the_task_metric() -> None:
    """mediapipe's hand landmark model (trained, from the mediapipe wheel) on decoded sample
    photos: the anchor row carries the pose-landmarks scenario's metric, a real displacement in
    input pixels, larger for a coarser picture."""
    from splitbench.anchor.stage import measure_anchor
    from splitbench.compress.runner import run_model
    from splitbench.measure.pictures import inputs_from_pictures
    from splitbench_models.mediapipe_wheel import mediapipe_model_path

    model = mediapipe_model_path("mediapipe:hand_landmark_full")
    pictures = make_pictures(model, inputs_dir=None, count=2, scale="0..1")
    assert pictures is not None
    sets = inputs_from_pictures(model, pictures, seed=0)
    reference = run_model(model, sets)
    rows = {
        spec.label: measure_anchor(
            spec, model_path=model, pictures=pictures, input_sets=sets, reference=reference
        )
        for spec in parse_anchor_codecs("jpeg:95,jpeg:5,raw")
    }
    assert rows["jpeg:95"].metric_name == "landmark_displacement_px"
    assert 0 < rows["jpeg:95"].metric < rows["jpeg:5"].metric  # type: ignore[operator]
    assert rows["raw"].metric is None and rows["raw"].max_abs_diff == 0.0


def test_a_whole_model_that_cannot_run_here_leaves_the_anchors_out(
    chain_tflite: Path, tmp_path: Path
) -> None:
    """A custom operator the runtime lacks: the splits are still swept and reported (exit 1
    for the parts that failed, as before), the anchors are said to be missing in one warning
    line, and no anchors.csv pretends otherwise."""
    import tflite_edits

    model = tflite_edits.with_custom_op(chain_tflite, tmp_path / "custom.tflite", 2, "SbNoKernel")
    out = tmp_path / "run"
    result = run_cli("sweep", model, "--out", out, *FAST)
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.describe()
    warnings = [x for x in result.stderr_lines if x.startswith("anchors not measured:")]
    assert len(warnings) == 1 and "custom.tflite" in warnings[0], result.describe()
    assert (out / "splits.csv").is_file() and not (out / "anchors.csv").exists()


def test_av1_leaves_the_thread_scheduling_as_it_was() -> None:
    """SVT-AV1 run as root sets its calling thread to SCHED_FIFO 99; the sweep's thread must
    come back as it went in (a real-time sweep times every later part, and starts every child,
    at real-time priority)."""
    import os

    import numpy as np
    from splitbench.anchor.codecs import PictureCodec, parse_anchor_codecs

    before = os.sched_getscheduler(0)
    codec = PictureCodec(parse_anchor_codecs("av1:35")[0], 64, 64, 3)
    frame = np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)
    data = codec.encode(frame)
    assert data and codec.decode(data).shape == (64, 64, 3)
    assert os.sched_getscheduler(0) == before
