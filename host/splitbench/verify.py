"""The lossless check: head → tail must give the whole model's outputs.

For split ``k`` the head runs on the model inputs; its outputs are the cut tensors (and any
model outputs computed before the cut). The tail runs on the tensors it needs, taken *by name*
from the head's outputs or, for an input read only late (a side input), from the model inputs:
the splitter keeps tensor names identical across parts. The final outputs — head outputs that
are model outputs, plus the tail outputs — are compared by name with the whole model's.

Pass means a maximum absolute difference ≤ 1e-3 over every output element and every input
set (the seeds' tolerance); bit-exact means every output is byte-for-byte identical.

Format-agnostic: each part is loaded by its format's host runtime
(:meth:`splitbench.formats.base.Format.open_session`: LiteRT for ``.tflite``, ONNX Runtime for
``.onnx``), so the same check serves every format.

Speed matters: a sweep checks every split (posenet: 32; pose_landmark_full: 333) on a few input
sets. Each part's interpreter is built once and reused across input sets, and the whole model's
reference outputs are computed once per (model file, input sets) and reused by every split's
check (a small cache keyed by the file's identity and a digest of the inputs).

A part the runtime cannot run (e.g. an unresolved custom operator) gives a result with
``error`` naming the operator and the part, never an exception.
"""

from __future__ import annotations

import hashlib
import math
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from splitbench.formats.base import Session
from splitbench.measure.types import PartFailure

TOLERANCE = 1e-3  # the seeds' tolerance for a lossless split
# One thread: on this shared 2-core host, two threads made a posenet half slower (22 ms vs
# 10-14 ms per run), and a sweep measures right after checking, on the same cores.
_VERIFY_THREADS = 1
_REFERENCE_CACHE_SIZE = 2


@dataclass(frozen=True)
class VerifyResult:
    """Outcome of one split's check over ``n_inputs`` input sets."""

    max_abs_diff: float  # NaN when the check could not run
    bit_exact: bool
    passed: bool  # max_abs_diff <= TOLERANCE and no error
    n_inputs: int
    error: str | None = None  # why the check could not run, e.g. the unresolved operator
    per_output: dict[str, float] = field(default_factory=dict)  # max |diff| by output name


def open_session(path: Path, threads: int = _VERIFY_THREADS) -> Session:
    """The part loaded by its format's host runtime; raises ``PartFailure`` if it cannot load."""
    from splitbench.formats import format_of_file

    return format_of_file(Path(path)).open_session(Path(path), threads)


def run_model(path: Path, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Outputs of one run of ``path``, by tensor name. Raises ``PartFailure`` if it cannot run."""
    return open_session(path).run(inputs)


def verify_parts(
    whole: Path,
    head: Path | None,
    tail: Path | None,
    input_sets: Sequence[Mapping[str, np.ndarray]],
) -> VerifyResult:
    """Check one split: ``head`` None is split 0 (all on the server), ``tail`` None is split N."""
    if head is None and tail is None:
        raise ValueError("verify_parts needs a head, a tail, or both")
    if not input_sets:
        raise ValueError("verify_parts needs at least one input set")
    n = len(input_sets)
    try:
        reference = _reference_outputs(Path(whole), input_sets)
    except PartFailure as failure:
        return _not_run(f"whole model cannot run: {failure.reason}", n)
    runners: list[tuple[str, Session]] = []
    for role, path in (("head", head), ("tail", tail)):
        if path is not None:
            try:
                runners.append((role, open_session(Path(path))))
            except PartFailure as failure:
                return _not_run(f"{role} cannot run: {failure.reason}", n)

    per_output: dict[str, float] = {}
    bit_exact = True
    for inputs, expected in zip(input_sets, reference, strict=True):
        pool: dict[str, np.ndarray] = dict(inputs)
        final: dict[str, np.ndarray] = {}
        for role, runner in runners:
            try:
                produced = runner.run(pool)
            except PartFailure as failure:
                return _not_run(f"{role} cannot run: {failure.reason}", n)
            pool.update(produced)
            final.update({k: v for k, v in produced.items() if k in expected})
        for name, want in expected.items():
            got = final.get(name)
            if got is None:
                return _not_run(f"model output {name} is produced by neither part", n)
            if got.shape != want.shape or got.dtype != want.dtype:
                return _not_run(
                    f"output {name} is {got.dtype}{list(got.shape)} from the parts but "
                    f"{want.dtype}{list(want.shape)} from the whole model",
                    n,
                )
            per_output[name] = max(per_output.get(name, 0.0), max_abs_diff(want, got))
            bit_exact = bit_exact and want.tobytes() == got.tobytes()

    worst = max(per_output.values(), default=0.0)
    return VerifyResult(
        max_abs_diff=worst,
        bit_exact=bit_exact,
        passed=worst <= TOLERANCE,
        n_inputs=n,
        per_output=per_output,
    )


def max_abs_diff(a: np.ndarray, b: np.ndarray) -> float:
    """Largest |a - b| in float64; NaN where both are NaN counts as equal, elsewhere as inf."""
    if a.size == 0:
        return 0.0
    x, y = a.astype(np.float64), b.astype(np.float64)
    with np.errstate(invalid="ignore"):  # inf - inf: handled below
        diff = np.abs(x - y)
    both_nan = np.isnan(x) & np.isnan(y)
    diff[both_nan] = 0.0
    diff[np.isnan(diff)] = math.inf
    same_inf = np.isinf(x) & (x == y)
    diff[same_inf] = 0.0
    return float(diff.max())


def _not_run(reason: str, n: int) -> VerifyResult:
    return VerifyResult(math.nan, bit_exact=False, passed=False, n_inputs=n, error=reason)


_reference_cache: OrderedDict[tuple[object, ...], list[dict[str, np.ndarray]]] = OrderedDict()


def _reference_outputs(
    whole: Path, input_sets: Sequence[Mapping[str, np.ndarray]]
) -> list[dict[str, np.ndarray]]:
    """The whole model's outputs for each input set, computed once per sweep."""
    stat = whole.stat() if whole.exists() else None
    key = (
        str(whole.resolve()),
        stat.st_size if stat else -1,
        stat.st_mtime_ns if stat else -1,
        _digest(input_sets),
    )
    cached = _reference_cache.get(key)
    if cached is not None:
        _reference_cache.move_to_end(key)
        return cached
    runner = open_session(whole)
    outputs = [runner.run(inputs) for inputs in input_sets]
    _reference_cache[key] = outputs
    while len(_reference_cache) > _REFERENCE_CACHE_SIZE:
        _reference_cache.popitem(last=False)
    return outputs


def _digest(input_sets: Sequence[Mapping[str, np.ndarray]]) -> str:
    h = hashlib.blake2b(digest_size=16)
    for inputs in input_sets:
        for name in sorted(inputs):
            value = np.ascontiguousarray(inputs[name])
            h.update(name.encode())
            h.update(str((value.dtype.str, value.shape)).encode())
            h.update(value.tobytes())
    return h.hexdigest()
