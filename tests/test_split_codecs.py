"""``sweep --cut-codec`` / ``--delivery-codec``: coded cut and coded head beside the uncoded
columns, on the real PoseNet (a few splits) run on this host, and the cut codecs themselves."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from cli_helpers import FAST, assert_one_line_error, read_csv, run_cli

NETWORKS = ("4G", "mobile-median", "5G-median", "5G-IMT2020", "WiFi-broadband")


def _relu6(shape, seed):  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(seed)
    return np.clip(rng.normal(1.0, 2.0, shape), 0, 6).astype(np.float32)


@pytest.mark.parametrize("name", ["fp16", "int8", "int8+zstd", "zstd"])
def test_cut_codecs_round_trip(name: str) -> None:
    from splitbench.compress.cut_codecs import parse_cut_codec

    cut = {"a": _relu6((1, 28, 28, 32), 0), "shape": np.array([1, 28, 28, 32], np.int32)}
    codec = parse_cut_codec(name)
    codec.calibrate([cut, {"a": _relu6((1, 28, 28, 32), 1), "shape": cut["shape"]}])
    data = codec.encode(cut)
    back = codec.decode(data, cut)
    assert back["shape"].tobytes() == cut["shape"].tobytes()  # non-float tensors travel as is
    err = float(np.max(np.abs(back["a"] - cut["a"])))
    if name == "zstd":
        assert err == 0.0 and back["a"].tobytes() == cut["a"].tobytes()
    elif name == "fp16":
        assert 0 < err < 4e-3 and len(data) == cut["a"].size * 2 + 16
    else:
        scale = codec.params["a"][0]
        assert 0 < err <= scale / 2 + 1e-6  # half a quantisation step, nothing clipped
        assert len(data) <= cut["a"].size + 16
    if name == "int8+zstd":
        assert len(data) < cut["a"].size  # ReLU6 activations have structure for zstd


def test_unknown_cut_codec_and_bad_qp() -> None:
    from splitbench.compress.cut_codecs import parse_cut_codec
    from splitbench.errors import SplitbenchError

    with pytest.raises(SplitbenchError, match="unknown cut codec"):
        parse_cut_codec("jpeg")
    with pytest.raises(SplitbenchError, match="outside NNC's range"):
        parse_cut_codec("nnc:-300")


def test_in_graph_codec_ops_equal_the_numpy_codec(chain_tflite: Path, tmp_path: Path) -> None:
    """fp16 and int8 as TFLite operators in the parts give exactly the numpy codec's values."""
    from splitbench.compress.cut_codecs import CutCodec
    from splitbench.compress.runner import input_specs, run_model
    from splitbench.compress.tflite_cut_ops import add_head_encoder, add_tail_decoder
    from splitbench.splitter import ModelSplitter

    files = ModelSplitter(chain_tflite).write_parts(2, tmp_path)
    rng = np.random.default_rng(0)
    name_in = input_specs(chain_tflite)[0]["name"]
    feeds = [{name_in: rng.uniform(-1, 1, (1, 16, 16, 3)).astype(np.float32)} for _ in range(2)]
    head_out = run_model(files.head_path, feeds)
    for name in ("fp16", "int8"):
        codec = CutCodec(name)
        codec.calibrate(head_out)
        coded_head, coded_tail = tmp_path / f"h_{name}.tflite", tmp_path / f"t_{name}.tflite"
        names = add_head_encoder(files.head_path, codec, coded_head)
        add_tail_decoder(files.tail_path, codec, names, coded_tail)
        graph_head = run_model(coded_head, feeds)
        for plain, coded in zip(head_out, graph_head, strict=True):
            data = codec.encode(plain)
            assert data == b"".join(np.ascontiguousarray(coded[n]).tobytes() for n in plain)
            numpy_tail = run_model(files.tail_path, [codec.decode(data, plain)])[0]
            graph_tail = run_model(coded_tail, [coded])[0]
            for k, v in numpy_tail.items():
                assert v.tobytes() == graph_tail[k].tobytes()


@pytest.mark.slow
def test_sweep_with_cut_and_delivery_codecs(tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = run_cli(
        "sweep",
        "posenet",
        "--out",
        out,
        *FAST,
        "--splits",
        "0,12,31",
        "--cut-codec",
        "int8+zstd",
        "--delivery-codec",
        "fp16",
    ).ok()
    rows = {int(r["split"]): r for r in read_csv(out / "splits.csv")}
    measured = {k: r for k, r in rows.items() if k in (0, 12, 31)}
    for r in measured.values():
        assert r["cut_codec"] == "int8+zstd" and r["delivery_codec"] == "fp16"
        for net in NETWORKS:
            assert float(r[f"e2e_coded_ms_{net}"]) > 0
    cut12 = measured[12]
    # the uncoded columns keep their meaning; the coded ones sit beside them
    assert int(cut12["intermediate_bytes"]) == 1 * 17 * 17 * 256 * 4
    assert 0 < float(cut12["cut_coded_bytes"]) < int(cut12["intermediate_bytes"]) / 4
    assert float(cut12["cut_encode_ms"]) > 0 and float(cut12["cut_decode_ms"]) > 0
    assert cut12["cut_codec_timed_on"].startswith("host")
    assert 0 < float(cut12["cut_coded_max_abs_diff"]) < 0.05
    assert cut12["cut_coded_lossless"] == "False"  # a lossy codec is never called lossless
    assert cut12["lossless"] == "True"  # the uncoded split still is
    for net in NETWORKS:  # a 6x smaller cut is faster on every network here
        assert float(cut12[f"e2e_coded_ms_{net}"]) < float(cut12[f"e2e_ms_{net}"])
    # split N: nothing crosses the network, the coded latency is the uncoded one
    assert measured[31]["cut_coded_bytes"] == ""
    assert float(measured[31]["e2e_coded_ms_4G"]) == float(measured[31]["e2e_ms_4G"])
    # the head delivered as float16: half the weights, decoded on this host
    assert float(measured[0]["head_coded_bytes"]) == 0.0
    head = measured[12]
    assert float(head["head_coded_bytes"]) < 0.55 * int(head["head_model_bytes"])
    assert head["head_codec_timed_on"].startswith("host")
    assert 0 < float(head["head_coded_max_abs_diff"]) < 0.01
    assert float(head["delivery_coded_ms_4G"]) < float(head["delivery_ms_4G"])
    assert "with --cut-codec int8+zstd" in result.stdout
    # the printed table shows the coded cut and its end to end beside the uncoded ones
    lines = result.stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if "with --cut-codec int8+zstd (client" in line)
    assert "coded" in lines[start + 1].split() and "coded 4G" in lines[start + 1]
    line12 = next(line for line in lines[start:] if line.split()[:1] == ["12:19"]).split()
    assert f"{float(cut12['cut_coded_bytes']) / 1024:.1f}" in line12
    assert f"{float(cut12['e2e_coded_ms_4G']):.2f}" in line12
    # a rerun resumes: nothing measured or coded again
    again = run_cli(
        "sweep",
        "posenet",
        "--out",
        out,
        *FAST,
        "--splits",
        "0,12,31",
        "--cut-codec",
        "int8+zstd",
        "--delivery-codec",
        "fp16",
    ).ok()
    assert "measured 0 parts" in again.stdout
    again_rows = {int(r["split"]): r for r in read_csv(out / "splits.csv")}
    assert again_rows[12]["cut_coded_bytes"] == cut12["cut_coded_bytes"]


def test_bad_codecs_get_one_line(tmp_path: Path) -> None:
    assert_one_line_error(
        run_cli("sweep", "posenet", "--out", tmp_path / "a", "--cut-codec", "jpeg"),
        "unknown cut codec",
        "jpeg",
    )
    assert_one_line_error(
        run_cli("sweep", "posenet", "--out", tmp_path / "b", "--delivery-codec", "nnc:-999"),
        "outside",
    )
    assert_one_line_error(
        run_cli("sweep", "posenet", "--out", tmp_path / "c", "--delivery-codec", "gzip"),
        "unknown coder",
    )


def test_in_graph_cut_codec_is_measured_on_the_targets(chain_tflite: Path, tmp_path: Path) -> None:
    """--cut-codec int8: the parts carry QUANTIZE / DEQUANTIZE, and the codec operators alone
    are timed by the client and server targets' own runner (here the host's LiteRT)."""
    out = tmp_path / "run"
    run_cli(
        "sweep",
        chain_tflite,
        "--out",
        out,
        *FAST,
        "--cut-codec",
        "int8",
        "--keep-parts",
    ).ok()
    rows = {int(r["split"]): r for r in read_csv(out / "splits.csv")}
    inner = [r for k, r in rows.items() if 0 < k < len(rows) - 1]
    assert inner
    for r in inner:
        assert (
            r["cut_codec_timed_on"] == "encode on host, decode on host (TFLite operators, measured)"
        )
        assert float(r["cut_encode_ms"]) > 0 and float(r["cut_decode_ms"]) > 0
        # one byte per value: a quarter of the float32 cut
        assert float(r["cut_coded_bytes"]) == int(r["intermediate_bytes"]) / 4
        split_dir = out / "parts" / f"split_{int(r['split']):03d}"
        for name in ("head_cut_int8", "tail_cut_int8", "cut_encoder_int8", "cut_decoder_int8"):
            assert (split_dir / f"{name}.tflite").stat().st_size > 0
    assert rows[0]["cut_codec_timed_on"].startswith("host")  # split 0 has no head to carry ops
