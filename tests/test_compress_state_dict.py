"""``splitbench compress`` on PyTorch state dicts (seed clauses 2.1.2 / 10.1: the seeds code a
module's ``state_dict()``).

The model is MTCNN's O-Net from facenet-pytorch (real trained weights, 0.4 M parameters, fast
in eager PyTorch). Every check runs the installed command in its own process and reads what it
wrote; decoded state dicts are loaded here with ``load_state_dict(..., strict=True)`` into a
fresh O-Net built from facenet-pytorch itself and run again with our own preprocessing.
"""

from __future__ import annotations

import csv
import importlib.util
from pathlib import Path

import numpy as np
import pytest
from cli_helpers import assert_one_line_error, read_csv, run_cli
from nnc_fresh_decode import decode_in_fresh_process
from seed_tables import SEED_COLUMNS

torch = pytest.importorskip("torch")
if importlib.util.find_spec("facenet_pytorch") is None:  # importing it needs torchvision_package
    pytest.skip("facenet-pytorch is not installed (./install.sh)", allow_module_level=True)

PHOTOS = (  # scikit-image's colour sample photos, as the fidelity scenario documents
    "astronaut.png",
    "chelsea.png",
    "coffee.png",
    "motorcycle_left.png",
    "rocket.jpg",
    "hubble_deep_field.jpg",
)


def _onet():  # type: ignore[no-untyped-def]
    """O-Net straight from facenet-pytorch (its wheel's trained weights), eval mode."""
    from splitbench_models.torch_zoo import torchvision_package

    torchvision_package()  # facenet_pytorch imports torchvision.ops, whose C++ part is absent
    from facenet_pytorch.models.mtcnn import ONet

    return ONet(pretrained=True).eval()


def _photo_outputs(module) -> list[np.ndarray]:  # type: ignore[no-untyped-def]
    """O-Net's outputs on the sample photos: 48×48 bilinear, [-1, 1], NCHW."""
    import skimage
    from PIL import Image

    data = Path(skimage.__file__).parent / "data"
    outputs = []
    with torch.no_grad():
        for name in PHOTOS:
            img = Image.open(data / name).convert("RGB").resize((48, 48), Image.Resampling.BILINEAR)
            x = np.asarray(img, np.float32) / 255.0 * 2.0 - 1.0
            out = module(torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1)[None])))
            outputs.append(np.concatenate([o.numpy().reshape(-1) for o in out]))
    return outputs


def _rel_l2(outputs: list[np.ndarray], reference: list[np.ndarray]) -> float:
    num = sum(
        float(np.sum((o.astype(np.float64) - r) ** 2))
        for o, r in zip(outputs, reference, strict=True)
    )
    den = sum(float(np.sum(r.astype(np.float64) ** 2)) for r in reference)
    return float(np.sqrt(num / den))


@pytest.fixture(scope="module")
def onet_run(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    pytest.importorskip("nncodec.nnc_core")
    out = tmp_path_factory.mktemp("compress") / "onet"
    args = ("compress", "facenet:onet", "--scenario", "fidelity")
    args += ("--coder", "nnc,int8-weights,zstd,raw")
    result = run_cli(*args, "--qp", "-30,-38", "--out", out).ok()
    return out, result, args


def test_state_dict_rows_count_the_float_tensors_of_the_state_dict(onet_run) -> None:  # type: ignore[no-untyped-def]
    out, result, _ = onet_run
    with (out / "results.csv").open(newline="") as f:
        assert next(csv.reader(f))[:10] == SEED_COLUMNS
    rows = {r["unique_tag"]: r for r in read_csv(out / "results.csv")}
    assert list(rows) == ["nnc_qp-30", "nnc_qp-38", "int8-weights", "zstd_l19", "raw"]
    state = _onet().state_dict()
    num_params = sum(v.numel() for v in state.values() if v.dtype == torch.float32)
    assert num_params == sum(v.numel() for v in state.values())  # O-Net: float tensors only
    for tag, r in rows.items():
        assert int(r["anc_size"]) == 4 * num_params, tag
        assert r["model_name"] == "facenet:onet"
        assert r["metric_name"] == "output_rel_l2" and r["scenario_name"] == "fidelity"
        assert r["data_set_name"] == "skimage-sample-photos, input scale -1..1"
        assert float(r["anc_perf"]) == 0.0
        bitstream = next((out / "bitstreams").glob(f"{tag}.*"))
        assert int(r["rec_size"]) == bitstream.stat().st_size
        assert float(r["compress_ratio"]) == pytest.approx(int(r["rec_size"]) / (4 * num_params))
    assert int(rows["raw"]["rec_size"]) == 4 * num_params  # float32 parameters: raw is 1:1
    for lossless in ("raw", "zstd_l19"):
        assert float(rows[lossless]["rec_perf"]) == 0.0  # decoded == anchor: outputs identical
    assert int(rows["zstd_l19"]["rec_size"]) < 4 * num_params
    fine, coarse = rows["nnc_qp-38"], rows["nnc_qp-30"]
    assert int(coarse["rec_size"]) < int(fine["rec_size"]) < 0.3 * 4 * num_params
    assert 0 < float(fine["rec_perf"]) < float(coarse["rec_perf"]) < 0.2
    assert 0 < float(rows["int8-weights"]["rec_perf"]) < 0.05
    assert "anchor 1,556,160 B" in result.stdout


def test_decoded_state_dicts_load_strictly_and_reproduce_the_recorded_perf(onet_run) -> None:  # type: ignore[no-untyped-def]
    out, _, _ = onet_run
    rows = {r["unique_tag"]: r for r in read_csv(out / "results.csv")}
    reference = _photo_outputs(_onet())
    for tag in ("nnc_qp-30", "nnc_qp-38", "int8-weights", "zstd_l19", "raw"):
        module = _onet()
        state = torch.load(out / "decoded" / f"{tag}.pt", weights_only=True)
        module.load_state_dict(state, strict=True)
        assert all(v.dtype == torch.float32 for v in state.values())
        perf = _rel_l2(_photo_outputs(module), reference)
        assert perf == pytest.approx(float(rows[tag]["rec_perf"]), rel=1e-4, abs=1e-9), tag


def test_state_dict_nnc_bitstream_decodes_bit_exactly_with_nnc_core_alone(tmp_path: Path) -> None:
    pytest.importorskip("nncodec.nnc_core")
    from splitbench.compress.coders.nnc import NncCoder
    from splitbench.compress.torch_params import TorchStateDictIO
    from splitbench.intake.pytorch import load_module

    io = TorchStateDictIO(load_module("facenet:onet"))
    params = io.load_params(io.save_anchor(tmp_path / "onet.pt"))
    assert set(params.arrays) == set(_onet().state_dict())  # keyed by state-dict names
    # torch.save's bytes depend on the file name (and may on the save): the digest is of the
    # contents, so a rerun keeps the earlier rows (keeping is tested on TFLite in test_compress)
    again = io.save_anchor(tmp_path / "again.pt")
    assert again.read_bytes() != params.path.read_bytes()
    assert io.digest(again) == io.digest(params.path)
    coder = NncCoder(-34)
    bitstream = tmp_path / "onet.nnc"
    coder.encode(params, bitstream)
    np.savez(tmp_path / "enc_rec.npz", **coder.reconstruction)
    proc = decode_in_fresh_process(bitstream, tmp_path / "enc_rec.npz")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"bit-exact {len(params.arrays)}"
    decoded = coder.decode(bitstream, params)
    written = coder.write_model(params, decoded, tmp_path / "decoded.pt")
    state = torch.load(written, weights_only=True)
    _onet().load_state_dict(state, strict=True)
    for key, value in state.items():
        assert value.numpy().tobytes() == coder.reconstruction[key].astype(np.float32).tobytes()


def test_incremental_on_a_state_dict_with_o_net_face_accuracy(tmp_path: Path) -> None:
    """--incremental shares the parameter interface; lfw-faces reads O-Net's face probability."""
    pytest.importorskip("nncodec.nnc_core")
    out = tmp_path / "incr"
    args = ("compress", "facenet:onet", "--incremental", "8,16", "--scenario", "lfw-faces")
    run_cli(*args, "--out", out).ok()
    rows = {r["stage"]: r for r in read_csv(out / "incremental.csv")}
    assert set(rows) == {"low", "update", "high-direct"}
    for r in rows.values():
        assert r["metric_name"] == "face_accuracy" and int(r["anc_size"]) == 1_556_160
        assert float(r["anc_perf"]) == 1.0  # measured: O-Net separates all 200 crops at 0.7
        assert 0.9 <= float(r["perf"]) <= 1.0
    assert float(rows["update"]["perf"]) == float(rows["high-direct"]["perf"])
    assert int(rows["update"]["bitstream_bytes"]) < int(rows["high-direct"]["bitstream_bytes"])
    updated = torch.load(out / "decoded" / "incr_16bit_updated.pt", weights_only=True)
    direct = torch.load(out / "decoded" / "incr_16bit_direct.pt", weights_only=True)
    _onet().load_state_dict(updated, strict=True)
    assert all(torch.equal(updated[k], direct[k]) for k in direct)


BAD_FACTORIES = """
import torch


class NoFloats(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.register_buffer("table", torch.arange(10))

    def forward(self, x):
        return x * self.table.sum()


def no_floats():
    return NoFloats(), torch.zeros(1, 3, 8, 8)


def broken():
    raise RuntimeError("weights file missing")


class WithBatchNorm(torch.nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.conv = torch.nn.Conv2d(3, 8, 3)
        self.bn = torch.nn.BatchNorm2d(8)
        self.fc = torch.nn.Linear(8, 4)

    def forward(self, x):
        return self.fc(self.bn(self.conv(x)).mean(dim=(2, 3)))


def with_bn():
    return WithBatchNorm(), torch.zeros(1, 3, 16, 16)
"""


def test_file_factory_state_dict_skips_integer_buffers_and_bad_input_is_one_line(
    tmp_path: Path,
) -> None:
    models = tmp_path / "models.py"
    models.write_text(BAD_FACTORIES)
    out = tmp_path / "bn"
    run_cli("compress", f"{models}:with_bn", "--coder", "raw,zstd", "--out", out).ok()
    rows = {r["unique_tag"]: r for r in read_csv(out / "results.csv")}
    # conv 8·3·3·3 + 8, bn weight/bias/running mean/var 4·8, fc 4·8 + 4; num_batches_tracked
    # (int64) is structure: not coded, not counted
    floats = 8 * 27 + 8 + 4 * 8 + 4 * 8 + 4
    assert int(rows["raw"]["anc_size"]) == int(rows["raw"]["rec_size"]) == 4 * floats
    assert float(rows["raw"]["rec_perf"]) == float(rows["zstd_l19"]["rec_perf"]) == 0.0
    assert rows["raw"]["model_name"] == "models"
    state = torch.load(out / "decoded" / "raw.pt", weights_only=True)
    assert state["bn.num_batches_tracked"].dtype == torch.int64

    assert_one_line_error(
        run_cli("compress", f"{models}:no_floats", "--coder", "raw", "--out", tmp_path / "a"),
        "no float tensors",
    )
    assert_one_line_error(
        run_cli("compress", f"{models}:broken", "--coder", "raw", "--out", tmp_path / "b"),
        "broken() raised",
        "weights file missing",
    )
    assert_one_line_error(
        run_cli(
            "compress",
            "facenet:pnet",
            "--scenario",
            "lfw-faces",
            "--coder",
            "raw",
            "--out",
            tmp_path / "c",
        ),
        "lfw-faces needs a face classifier",
        "fidelity",
    )
    assert_one_line_error(
        run_cli("compress", "posenet", "--format", "state-dict", "--out", tmp_path / "e"),
        "--format state-dict applies to PyTorch modules",
    )


def test_a_factory_without_example_inputs_takes_input_shape(tmp_path: Path) -> None:
    """`compress` names --input-shape when a factory returns no example inputs, and takes it."""
    models = tmp_path / "models.py"
    models.write_text(
        BAD_FACTORIES.replace(
            "return WithBatchNorm(), torch.zeros(1, 3, 16, 16)", "return WithBatchNorm()"
        )
    )
    without = run_cli("compress", f"{models}:with_bn", "--coder", "raw", "--out", tmp_path / "a")
    assert_one_line_error(without, "needs the shape of its input(s)", "--input-shape 1,3,224,224")
    out = tmp_path / "b"
    args = ("compress", f"{models}:with_bn", "--coder", "raw", "--input-shape", "1,3,16,16")
    run_cli(*args, "--out", out).ok()
    (row,) = read_csv(out / "results.csv")
    assert float(row["rec_perf"]) == 0.0  # raw: the decoded model gives the anchor's outputs
    assert int(row["anc_size"]) == int(row["rec_size"]) > 0
