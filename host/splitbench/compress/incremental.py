"""Bit-incremental delivery (seed clause 10.6): a low-precision model first, the update later.

As in the seed's implementation, the float model is quantised to integer models and those are
entropy-coded with NNC (DeepCABAC codes int32 arrays losslessly):

* every parameter tensor gets a symmetric per-tensor step ``s_low = max|w| / (2^(LOW-1) - 1)``
  and the HIGH-bit step ``s_high = s_low / 2^(HIGH-LOW)``, so a HIGH-bit value is
  ``q_high = q_low · 2^(HIGH-LOW) + u`` with a small update ``u``;
* stage 1 sends ``q_low`` (NNC) and the steps (float32, 4 bytes per tensor, counted);
* stage 2 sends ``u`` as an NNC update of stage 1 (parameter update tree: the bitstream names
  stage 1 as its parent; with temporal context adaptation, ``tca``, where that makes it smaller —
  both are encoded and the smaller is kept, the row says which);
* the anchor of the seed (UE2) receives ``q_high`` directly.

The receiver reconstructs ``w = q · s`` (plus the update) into the model file in its stored
dtype (a ``.tflite`` file, or a PyTorch state dict: the same
:class:`~splitbench.compress.params.ModelIO` as the compress evaluation). For each stage the
table has the bitstream bytes, encode, decode and reconstruction
times (measured here), the start-up latency per network (RTT + bytes / downlink + decode +
reconstruction: arithmetic on the measured figures) and the scenario's performance of the model
the receiver holds after that stage. The update-then-rebuild model equals the direct HIGH-bit
model bit for bit (checked; a difference is an error, not a row).
"""

from __future__ import annotations

import csv
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from splitbench.compress.coders import NncOptions
from splitbench.compress.coders.nnc import decode_bitstream, encode_arrays, new_base
from splitbench.compress.params import ModelIO, ModelParams
from splitbench.compress.scenarios.base import Scenario
from splitbench.errors import SplitbenchError
from splitbench.network import NetworkConfig, delivery_ms
from splitbench.units import MB

INCREMENTAL_CSV = "incremental.csv"


@dataclass
class Stage:
    label: str  # "low", "update", "high-direct"
    precision: int  # bits of the model the receiver holds after this stage
    bitstream_bytes: int
    enc_s: float
    dec_s: float
    rec_s: float
    perf: float
    model_file: Path
    note: str = ""
    startup_ms: dict[str, float] = field(default_factory=dict)


@dataclass
class IncrementalResult:
    model_name: str
    scenario_name: str
    metric_name: str
    anc_perf: float
    anc_size: int
    low: int
    high: int
    stages: list[Stage]


def steps(params: ModelParams, low: int, high: int) -> tuple[dict, dict]:
    s_low = {}
    s_high = {}
    for key, a in params.arrays.items():
        amax = float(np.max(np.abs(a.astype(np.float32)))) if a.size else 0.0
        s = np.float32((amax if amax > 0 else 1.0) / (2 ** (low - 1) - 1))
        s_low[key] = s
        s_high[key] = np.float32(s / 2 ** (high - low))
    return s_low, s_high


def quantize(params: ModelParams, step: dict, bits: int) -> dict[str, np.ndarray]:
    limit = 2 ** (bits - 1) - 1
    return {
        k: np.clip(np.rint(a.astype(np.float32) / step[k]), -limit, limit).astype(np.int32)
        for k, a in params.arrays.items()
    }


def _nnc(arrays, nnc: NncOptions, *, base=None, tca: bool = False) -> tuple[bytes, float]:
    start = time.perf_counter()
    data, _ = encode_arrays(
        arrays,
        qp=-38,  # not used for int32 arrays: NNC codes their integers as they are
        nonweight_qp=nnc.nonweight_qp,
        use_dq=nnc.use_dq,
        param_opt=nnc.param_opt,
        opt_qp=False,
        cabac_unary_length_minus1=nnc.cabac_unary_length_minus1,
        tca=tca,
        base=base,
    )
    return data, time.perf_counter() - start


def _rebuild(params: ModelParams, q: dict, step: dict, out: Path) -> tuple[Path, float]:
    start = time.perf_counter()
    arrays = {k: q[k].astype(np.float32) * step[k] for k in params.arrays}
    params.io.write_params(params.path, arrays, out)
    return out, time.perf_counter() - start


def _same_params(a: ModelParams, b: ModelParams) -> bool:
    """Bit for bit, parameter by parameter (a file's bytes may hold more than its values)."""
    return a.arrays.keys() == b.arrays.keys() and all(
        a.arrays[k].dtype == b.arrays[k].dtype and a.arrays[k].tobytes() == b.arrays[k].tobytes()
        for k in a.arrays
    )


def _decode(data: bytes, base=None) -> tuple[dict, float]:
    start = time.perf_counter()
    decoded = decode_bitstream(data, base)
    return decoded, time.perf_counter() - start


def run_incremental(
    scenario: Scenario,
    anchor: Path,
    io: ModelIO,
    model_name: str,
    low: int,
    high: int,
    nnc: NncOptions,
    networks: Sequence[NetworkConfig],
    out: Path,
    *,
    progress: Callable[[str], None] = lambda line: None,
) -> IncrementalResult:
    params = io.load_params(anchor)
    out.mkdir(parents=True, exist_ok=True)
    (out / "bitstreams").mkdir(exist_ok=True)
    (out / "decoded").mkdir(exist_ok=True)
    anc_perf, _ = scenario.get_perf(anchor, "test")
    s_low, s_high = steps(params, low, high)
    side = 4 * len(params.arrays)  # the float32 steps travel with stage 1 / the direct model
    q_low = quantize(params, s_low, low)
    q_high = quantize(params, s_high, high)
    factor = 2 ** (high - low)
    update = {k: q_high[k] - q_low[k] * factor for k in params.arrays}

    progress(f"{model_name}: encoding the {low}-bit model")
    enc_base = new_base()
    low_bits, low_enc = _nnc(q_low, nnc, base=enc_base)
    progress(f"{model_name}: encoding the update to {high} bits (with and without tca)")
    tries = []
    for tca in (False, True):
        base_copy = {k: (dict(v) if isinstance(v, dict) else v) for k, v in enc_base.items()}
        data, secs = _nnc(update, nnc, base=base_copy, tca=tca)
        tries.append((len(data), tca, data, secs))
    _, tca_used, upd_bits, upd_enc = min(tries, key=lambda t: t[0])
    progress(f"{model_name}: encoding the {high}-bit model for direct delivery")
    high_bits, high_enc = _nnc(q_high, nnc)

    for name, data in (("low", low_bits), ("update", upd_bits), ("high_direct", high_bits)):
        (out / "bitstreams" / f"incr_{name}.nnc").write_bytes(data)

    # the receiver: decode stage 1 (keeping the update-tree state), then the update
    dec_base = new_base()
    rx_low, low_dec = _decode(low_bits, dec_base)
    rx_upd, upd_dec = _decode(upd_bits, dec_base)
    rx_high, high_dec = _decode(high_bits)
    for k in params.arrays:
        if not np.array_equal(rx_low[k].reshape(-1), q_low[k].reshape(-1)):
            raise SplitbenchError(f"NNC did not return the {low}-bit values of {k} exactly")
    # a tensor absent from the update is unchanged by it (NNC sends no all-zero update)
    rebuilt = {
        k: rx_low[k].reshape(q_low[k].shape) * factor
        + (rx_upd[k].reshape(q_low[k].shape) if k in rx_upd else 0)
        for k in params.arrays
    }
    decoded = out / "decoded"
    low_file, low_rec = _rebuild(params, rx_low, s_low, decoded / f"incr_{low}bit{io.suffix}")
    upd_file, upd_rec = _rebuild(
        params, rebuilt, s_high, decoded / f"incr_{high}bit_updated{io.suffix}"
    )
    dir_file, dir_rec = _rebuild(
        params, rx_high, s_high, decoded / f"incr_{high}bit_direct{io.suffix}"
    )
    if not _same_params(io.load_params(upd_file), io.load_params(dir_file)):
        raise SplitbenchError("the updated model differs from the directly sent model")

    stages = []
    for label, bits, nbytes, enc, dec, rec, path, note in (
        ("low", low, len(low_bits) + side, low_enc, low_dec, low_rec, low_file, ""),
        (
            "update",
            high,
            len(upd_bits),
            upd_enc,
            upd_dec,
            upd_rec,
            upd_file,
            f"tca={'on' if tca_used else 'off'}",
        ),
        ("high-direct", high, len(high_bits) + side, high_enc, high_dec, dir_rec, dir_file, ""),
    ):
        progress(f"{model_name}: evaluating after stage '{label}'")
        perf, _ = scenario.get_perf(path, "test")
        stage = Stage(label, bits, nbytes, enc, dec, rec, perf, path, note)
        stage.startup_ms = {n.name: delivery_ms(nbytes, n) + 1000 * (dec + rec) for n in networks}
        stages.append(stage)
    result = IncrementalResult(
        model_name,
        scenario.name,
        scenario.metric_name,
        anc_perf,
        params.anc_size,
        low,
        high,
        stages,
    )
    write_incremental_csv(result, networks, out / INCREMENTAL_CSV)
    return result


def write_incremental_csv(
    result: IncrementalResult, networks: Sequence[NetworkConfig], path: Path
) -> Path:
    cols = [
        "model_name",
        "scenario_name",
        "stage",
        "precision",
        "bitstream_bytes",
        "anc_size",
        "enc_time",
        "dec_time",
        "rec_time",
        "metric_name",
        "perf",
        "anc_perf",
        "note",
        *[f"startup_ms_{n.name}" for n in networks],
    ]
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(cols)
        for s in result.stages:
            w.writerow(
                [
                    result.model_name,
                    result.scenario_name,
                    s.label,
                    s.precision,
                    s.bitstream_bytes,
                    result.anc_size,
                    s.enc_s,
                    s.dec_s,
                    s.rec_s,
                    result.metric_name,
                    s.perf,
                    result.anc_perf,
                    s.note,
                    *[s.startup_ms[n.name] for n in networks],
                ]
            )
    return path


def print_incremental(result: IncrementalResult, networks: Sequence[NetworkConfig]) -> None:
    """The seed's table (model, precision, performance, start-up latency, bitstream size)."""
    from rich.console import Console
    from rich.table import Table

    names = {
        "low": "Low-Precision Model",
        "update": "Model Update*",
        "high-direct": "High-Precision Model",
    }
    table = Table(
        title=f"{result.model_name}: bit-incremental {result.low} → {result.high} bits "
        f"({result.scenario_name}; anchor {result.metric_name} {result.anc_perf:.6g})"
    )
    for col in (
        "model",
        "precision",
        result.metric_name,
        "bitstream MB",
        "enc s",
        "dec s",
        "rec s",
        *[f"start-up ms {n.name}" for n in networks],
    ):
        table.add_column(col, justify="left" if col == "model" else "right")
    order = {"high-direct": 0, "low": 1, "update": 2}
    for s in sorted(result.stages, key=lambda s: order[s.label]):
        table.add_row(
            names[s.label] + (f" ({s.note})" if s.note else ""),
            str(s.precision),
            f"{s.perf:.6g}",
            f"{s.bitstream_bytes / MB:.3f}",
            f"{s.enc_s:.2f}",
            f"{s.dec_s:.3f}",
            f"{s.rec_s:.3f}",
            *[f"{s.startup_ms[n.name]:.1f}" for n in networks],
        )
    console = Console()
    if not console.is_terminal:
        console = Console(width=200)
    console.print(table)
    console.print("* the performance after the update is added to the low-precision model")
