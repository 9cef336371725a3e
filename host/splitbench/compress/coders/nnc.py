"""``nnc``: Neural Network Compression (ISO/IEC 15938-17) through Fraunhofer HHI's ``nncodec``.

Built on ``nncodec.nnc_core`` only — NNRModel → approximator (uniform or dependent quantisation)
→ DeepCABAC encoder, and decoder → reconstruction — because nncodec's high-level modules
(``nncodec.nn``, ``nncodec.tensor``, ``nncodec.nnc``) import torchvision and more at import time.
The bitstream is a plain NNC bitstream: ``nnc_core``'s decoder alone reads it (a test decodes
one in a fresh process and compares with the encoder's reconstruction bit by bit).

Parameters are the seeds' (S4aV240013 table 2-2): ``qp`` for arrays of more than one dimension,
``nonweight_qp`` for 1-D arrays (biases), step size 2^(QP/4) (``qp_density`` 2), ``use_dq``
(dependent scalar quantisation), ``param_opt`` (DeepCABAC parameter optimisation),
``opt_qp`` (QP per tensor from its statistics), ``cabac_unary_length_minus1``; data-driven
tools (ioq, lsa, bnf, fine-tuning) are off — they need training data and a model executor.

``nnc_core`` takes float32 and int32 arrays only: float16 weights are widened to float32 before
coding and written back as float16 (the stored type). It reports bad input by raising
``SystemExit``, which ``except Exception`` does not catch; this module turns it into one line.
"""

from __future__ import annotations

import contextlib
import copy
import io
from pathlib import Path
from typing import Any

import numpy as np

from splitbench.compress.coders.base import ArrayCoder, Decoded
from splitbench.compress.params import ModelParams
from splitbench.errors import SplitbenchError

QP_MIN, QP_MAX = -128, 127  # a signed 8-bit field (6 + qp_density bits) in the NDU header
QP_DENSITY = 2
INSTALL_HINT = (
    "nncodec is not installed: run ./install.sh (it builds nncodec==2.1.3 once into "
    "~/.cache/splitbench/wheels), or pip install --no-deps nncodec==2.1.3"
)


def nnc_core() -> Any:
    """``nncodec.nnc_core``, or one line saying how to install it."""
    try:
        from nncodec import nnc_core as core
    except ImportError:
        raise SplitbenchError(INSTALL_HINT) from None
    return core


def check_qp(qp: int, what: str = "QP") -> int:
    if not QP_MIN <= int(qp) <= QP_MAX:
        raise SplitbenchError(f"{what} {qp} is outside NNC's range {QP_MIN}..{QP_MAX}")
    return int(qp)


def _quiet() -> contextlib.AbstractContextManager:
    return contextlib.redirect_stdout(io.StringIO())  # nnc_core prints INFO lines


def empty_model_info() -> dict[str, Any]:
    """The decoder's model_info before decoding (the layout ``nnc_core``'s decoder fills)."""
    return {
        "parameter_type": {},
        "parameter_dimensions": {},
        "parameter_index": {},
        "block_identifier": {},
        "topology_storage_format": None,
        "topology_compression_format": None,
        "performance_maps": {"mps": {}, "lps": {}},
        "performance_map_flags": {
            "mps_sparsification_flag": {},
            "lps_sparsification_flag": {},
            "mps_pruning_flag": {},
            "lps_pruning_flag": {},
            "mps_unification_flag": {},
            "lps_unification_flag": {},
            "mps_decomposition_performance_map_flag": {},
            "lps_decomposition_performance_map_flag": {},
        },
    }


def encoder_info(
    *,
    param_opt: bool,
    cabac_unary_length_minus1: int,
    tca: bool = False,
    differences: bool = False,
) -> dict[str, Any]:
    core = nnc_core()
    info: dict[str, Any] = {
        "cabac_unary_length_minus1": cabac_unary_length_minus1,
        "param_opt_flag": param_opt,
        "partial_data_counter": 0,
        "general_profile_idc": 1,
        "node_id_present_flag": 1,
        "device_id": 0,
        "mps_parent_signalling_enabled_flag": 1 if differences else 0,
        "parent_node_id_present_flag": 1 if differences else 0,
        "temporal_context_modeling_flag": 1 if tca else 0,
        "row_skip_enabled_flag": 0,
        "pre_signalling": 0,
    }
    if differences:
        info["parent_node_id_type"] = core.hls.ParentNodeIdType.ICNN_NDU_ID
        info["parent_device_id"] = 0
    return info


def encode_arrays(
    arrays: dict[str, np.ndarray],
    *,
    qp: int,
    nonweight_qp: int,
    use_dq: bool,
    param_opt: bool,
    opt_qp: bool,
    cabac_unary_length_minus1: int,
    tca: bool = False,
    base: dict[str, Any] | None = None,
) -> tuple[bytes, dict[str, np.ndarray]]:
    """NNC-encode float32/int32 arrays; returns the bitstream and the encoder's reconstruction.

    ``base`` (an NNC parameter-update-tree state, see :func:`new_base`) makes this bitstream an
    update of the one encoded before with the same state (``tca``: temporal context adaptation).
    """
    core = nnc_core()
    check_qp(qp)
    check_qp(nonweight_qp, "non-weight QP")
    bad = [k for k, a in arrays.items() if a.dtype not in (np.float32, np.int32)]
    if bad:
        raise SplitbenchError(f"nnc codes float32 and int32 arrays only ({bad[0]} is not)")
    # nnc_core's coder indexes shape[0]: a scalar travels as a 1-element array (the decoder
    # reshapes every array to the model's shape)
    arrays = {k: (a.reshape(1) if a.ndim == 0 else a) for k, a in arrays.items()}
    try:
        with _quiet():
            model = core.nnr_model.NNRModel(arrays)
            approx_data = core.approximator.init_approx_data(
                arrays, model.model_info, qp_density=QP_DENSITY, scan_order=0
            )
            approx_info = core.approximator.ApproxInfo(
                approx_data,
                model.model_info,
                "uniform",
                0,
                qp,
                opt_qp,
                not use_dq,
                cabac_unary_length_minus1,
                0,
                nonweight_qp=nonweight_qp,
            ).approx_info
            enc_info = encoder_info(
                param_opt=param_opt,
                cabac_unary_length_minus1=cabac_unary_length_minus1,
                tca=tca,
                differences=base is not None and bool(base["parameters"]),
            )
            coded = core.approximator.approx(approx_info, model.model_info, approx_data, enc_info)
            bitstream, _ = core.coder.encode(
                enc_info=enc_info,
                model_info=model.model_info,
                approx_data=coded,
                approx_param_base=base,
                update_base_param=base is not None,
            )
            rec = copy.deepcopy(coded)
            core.approximator.rec(rec)
    except SystemExit as exc:  # nnc_core's way of reporting bad input
        raise SplitbenchError(f"nncodec refused the parameters: {exc}") from None
    except (IndexError, ValueError, KeyError, AssertionError) as exc:
        raise SplitbenchError(
            f"nncodec failed on these parameters ({type(exc).__name__}: {exc})"
        ) from None
    return bytes(bitstream), {k: np.asarray(v) for k, v in rec["parameters"].items()}


def decode_bitstream(data: bytes, base: dict[str, Any] | None = None) -> dict[str, np.ndarray]:
    """Decode an NNC bitstream to arrays with ``nnc_core`` (what a receiver runs)."""
    core = nnc_core()
    info = empty_model_info()
    try:
        with _quiet():
            dec = core.coder.decode(
                bytearray(data),
                info,
                hls_stats={},
                oob_dict={},
                approx_param_base=base,
                update_base_param=base is not None,
            )
            core.approximator.rec(dec)
            rec = core.approximator.recompose_params(info, dec)
    except SystemExit as exc:
        raise SplitbenchError(f"not a decodable NNC bitstream: {exc}") from None
    return {k: np.asarray(v) for k, v in rec["parameters"].items()}


def new_base() -> dict[str, Any]:
    """An empty parameter-update-tree state; encoder and decoder each keep their own."""
    return {"parameters": {}, "put_node_depth": {}, "device_id": 0, "parameter_id": {}}


class NncCoder(ArrayCoder):
    name = "nnc"
    suffix = ".nnc"

    def __init__(
        self,
        qp: int = -38,
        *,
        nonweight_qp: int = -75,
        use_dq: bool = True,
        param_opt: bool = True,
        opt_qp: bool = False,
        cabac_unary_length_minus1: int = 10,
    ) -> None:
        self.qp = check_qp(qp)
        self.nonweight_qp = check_qp(nonweight_qp, "non-weight QP")
        nnc_core()  # fail early, with the install line
        if not 0 <= cabac_unary_length_minus1 <= 31:
            raise SplitbenchError("cabac_unary_length_minus1 must be within 0..31")
        self.use_dq = use_dq
        self.param_opt = param_opt
        self.opt_qp = opt_qp
        self.cabac_unary_length_minus1 = cabac_unary_length_minus1
        self.reconstruction: dict[str, np.ndarray] = {}

    def config(self) -> dict[str, object]:
        return {
            "qp": self.qp,
            "nonweight_qp": self.nonweight_qp,
            "use_dq": self.use_dq,
            "param_opt": self.param_opt,
            "opt_qp": self.opt_qp,
            "cabac_unary_length_minus1": self.cabac_unary_length_minus1,
            "codebook_mode": 0,
        }

    def tag(self) -> str:
        return f"nnc_qp{self.qp}"

    def encode(self, model: ModelParams, bitstream: Path) -> None:
        arrays = {k: np.asarray(v, np.float32) for k, v in model.arrays.items()}
        data, self.reconstruction = encode_arrays(
            arrays,
            qp=self.qp,
            nonweight_qp=self.nonweight_qp,
            use_dq=self.use_dq,
            param_opt=self.param_opt,
            opt_qp=self.opt_qp,
            cabac_unary_length_minus1=self.cabac_unary_length_minus1,
        )
        bitstream.write_bytes(data)

    def decode(self, bitstream: Path, model: ModelParams) -> Decoded:
        decoded = decode_bitstream(bitstream.read_bytes())
        missing = set(model.arrays) - set(decoded)
        if missing:
            raise SplitbenchError(
                f"{bitstream.name} lacks {len(missing)} parameters of the model (another model's "
                "bitstream?)"
            )
        return Decoded({k: decoded[k].reshape(model.arrays[k].shape) for k in model.arrays})
