"""Built-in coders, by name: ``nnc``, ``fp16``, ``int8-weights``, ``zstd``, ``raw``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from splitbench.compress.coders.base import Coder, Decoded
from splitbench.errors import SplitbenchError

CODERS = ("nnc", "fp16", "int8-weights", "zstd", "raw")

__all__ = ["CODERS", "Coder", "Decoded", "NncOptions", "make_coder", "make_coders"]


@dataclass(frozen=True)
class NncOptions:
    nonweight_qp: int = -75
    use_dq: bool = True
    param_opt: bool = True
    opt_qp: bool = False
    cabac_unary_length_minus1: int = 10


def make_coder(
    name: str, *, qp: int = -38, nnc: NncOptions | None = None, zstd_level: int = 19
) -> Coder:
    """One coder configuration; ``qp`` and ``nnc`` only matter to ``nnc``."""
    if name == "nnc":
        from splitbench.compress.coders.nnc import NncCoder

        opts = nnc or NncOptions()
        return NncCoder(
            qp,
            nonweight_qp=opts.nonweight_qp,
            use_dq=opts.use_dq,
            param_opt=opts.param_opt,
            opt_qp=opts.opt_qp,
            cabac_unary_length_minus1=opts.cabac_unary_length_minus1,
        )
    if name == "fp16":
        from splitbench.compress.coders.simple import Fp16Coder

        return Fp16Coder()
    if name == "int8-weights":
        from splitbench.compress.coders.int8 import Int8WeightsCoder

        return Int8WeightsCoder()
    if name == "zstd":
        from splitbench.compress.coders.simple import ZstdCoder

        return ZstdCoder(zstd_level)
    if name == "raw":
        from splitbench.compress.coders.simple import RawCoder

        return RawCoder()
    raise SplitbenchError(f"unknown coder '{name}' (one of: {', '.join(CODERS)})")


def make_coders(
    names: Sequence[str],
    qps: Sequence[int],
    *,
    nnc: NncOptions | None = None,
    zstd_level: int = 19,
) -> list[Coder]:
    """Every configuration to evaluate: one per QP for ``nnc``, one for each other coder."""
    coders: list[Coder] = []
    for name in names:
        if name == "nnc":
            coders += [make_coder("nnc", qp=q, nnc=nnc) for q in (qps or [-38])]
        else:
            coders.append(make_coder(name, zstd_level=zstd_level))
    return coders
