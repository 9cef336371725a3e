"""Codecs in a sweep: the head delivered compressed (``--delivery-codec``) and the cut sent
compressed (``--cut-codec``), per split, beside the uncoded columns.

For each split the sweep has already made the parts and checked them; this module then

* cut codec: runs the head on the check inputs, takes the values at the cut (head outputs and
  model inputs the tail reads), calibrates ``int8`` on them, encodes and decodes them, runs the
  tail on the *decoded* values and compares the final outputs with the whole model's
  (``cut_coded_max_abs_diff``); ``cut_coded_bytes`` is the mean coded size over the check
  inputs (entropy coders vary with content); encode and decode are timed here on the host
  (median of repeats, ``cut_codec_timed_on``). For ``fp16``/``int8`` the parts are also written
  with the codec as TFLite operators (``head_cut_<codec>.tflite`` / ``tail_cut_<codec>.tflite``
  in the split's folder, kept with ``--keep-parts``); their outputs equal this module's numpy
  codec bit for bit (tests/test_split_codecs.py).
* delivery codec: codes the head's parameters with a model coder (:mod:`..coders`), writes the
  decoded head, runs decoded head → tail against the whole model (``head_coded_max_abs_diff``).
  ``head_coded_bytes`` is the bitstream plus the head file's bytes that are not parameters
  (the graph travels uncoded). Decoding is timed on this host: no decoder runs on a phone here.

Results go into the run's ``results.sqlite`` through :class:`~splitbench.results.ResultsDB`
(table ``codec_results``, one row per split, kind and codec, written the moment it is
computed), so a rerun resumes and ``splitbench report`` rebuilds the columns. Nothing is
estimated: every byte count and time here was measured.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict
from pathlib import Path

import numpy as np

from splitbench.compress.cut_codecs import CutCodec, parse_cut_codec
from splitbench.compress.runner import run_model
from splitbench.errors import ModelError, SplitbenchError
from splitbench.results.records import CodecResult

TOLERANCE = 1e-3  # the seeds' lossless tolerance
HOST_TIMING = "host (this machine, in-process)"


def time_ms(
    fn: Callable[..., object],
    *,
    min_total_s: float = 0.02,
    max_reps: int = 50,
    setup: Callable[[], object] | None = None,
) -> float:
    """Median wall time of ``fn`` in ms over repeats (at least 3, until ``min_total_s``).

    With ``setup``, each repeat first calls it untimed and passes its result to ``fn`` (e.g. a
    freshly opened video encoder: the frame is timed, opening the encoder is not)."""
    samples: list[float] = []
    total = 0.0
    while len(samples) < 3 or (total < min_total_s and len(samples) < max_reps):
        prepared = setup() if setup is not None else None
        start = time.perf_counter()
        fn(prepared) if setup is not None else fn()
        dt = time.perf_counter() - start
        samples.append(dt * 1000)
        total += dt
    return statistics.median(samples)


def max_output_diff(
    outputs: Sequence[Mapping[str, np.ndarray]], reference: Sequence[Mapping]
) -> float:
    """The largest absolute difference of any output against the reference, over all sets."""
    worst = 0.0
    for out, ref in zip(outputs, reference, strict=True):
        for name, r in ref.items():
            a = np.asarray(out[name], np.float64)
            worst = max(worst, float(np.max(np.abs(a - np.asarray(r, np.float64)), initial=0.0)))
    return worst


def _final_outputs(
    head_out: Mapping[str, np.ndarray] | None,
    tail_out: Mapping[str, np.ndarray] | None,
    names: Sequence[str],
) -> dict[str, np.ndarray]:
    pool: dict[str, np.ndarray] = {}
    if head_out:
        pool.update(head_out)
    if tail_out:
        pool.update(tail_out)
    return {n: pool[n] for n in names}


def cut_codec_result(
    codec_spec: str,
    *,
    split: int,
    whole: Path,
    head: Path | None,
    tail: Path | None,
    cut_names: Sequence[str],
    input_sets: Sequence[Mapping[str, np.ndarray]],
    reference: Sequence[Mapping[str, np.ndarray]],
    split_dir: Path | None = None,
) -> CodecResult:
    """Code the cut of one split (see the module docstring)."""
    codec = parse_cut_codec(codec_spec)
    output_names = list(reference[0])
    head_outs = run_model(head, input_sets) if head is not None else [{} for _ in input_sets]
    cuts = []
    for inputs, hout in zip(input_sets, head_outs, strict=True):
        pool = {**inputs, **hout}
        cuts.append({n: np.asarray(pool[n]) for n in cut_names})
    codec.calibrate(cuts)
    encoded = [codec.encode(c) for c in cuts]
    decoded = [codec.decode(e, c) for e, c in zip(encoded, cuts, strict=True)]
    if tail is not None:
        feeds = [{**inputs, **dec} for inputs, dec in zip(input_sets, decoded, strict=True)]
        tail_outs = run_model(tail, feeds)
    else:
        tail_outs = [{} for _ in input_sets]
    finals = [
        _final_outputs({**h, **d}, t, output_names)
        for h, d, t in zip(head_outs, decoded, tail_outs, strict=True)
    ]
    diff = max_output_diff(finals, reference)
    enc_ms = time_ms(lambda: codec.encode(cuts[0]))
    dec_ms = time_ms(lambda: codec.decode(encoded[0], cuts[0]))
    detail: dict = {"uncoded_bytes": int(sum(v.nbytes for v in cuts[0].values()))}
    if codec.needs_calibration:
        detail["int8_params"] = {n: list(p) for n, p in codec.params.items()}
    if codec.in_graph and split_dir is not None and head is not None and tail is not None:
        detail["parts"] = _write_coded_parts(codec, head, tail, split_dir)
    return CodecResult(
        split=split,
        kind="cut",
        codec=codec.name,
        coded_bytes=float(np.mean([len(e) for e in encoded])),
        encode_ms=enc_ms,
        decode_ms=dec_ms,
        max_abs_diff=diff,
        lossless=codec.lossless and diff <= TOLERANCE,
        timed_on=HOST_TIMING,
        detail=detail,
    )


def _write_coded_parts(codec: CutCodec, head: Path, tail: Path, split_dir: Path) -> list[str]:
    """The parts with the codec as operators, and the codec operators alone (``encoder`` = the
    ops appended to the head, ``decoder`` = the ops prepended to the tail, cut out of the coded
    parts by the splitter) for measuring the codec on the client and server targets."""
    from splitbench.compress.tflite_cut_ops import add_head_encoder, add_tail_decoder
    from splitbench.splitter import ModelSplitter

    if head.suffix != ".tflite":
        return []
    tag = codec.name.replace("+", "_")
    coded_head = split_dir / f"head_cut_{tag}.tflite"
    coded_tail = split_dir / f"tail_cut_{tag}.tflite"
    names = add_head_encoder(head, codec, coded_head)
    add_tail_decoder(tail, codec, names, coded_tail)
    files = [coded_head.name, coded_tail.name]
    if names:
        enc_split = ModelSplitter(coded_head)
        enc = enc_split.write_parts(enc_split.graph.num_operators - len(names), split_dir / "enc")
        dec = ModelSplitter(coded_tail).write_parts(len(names), split_dir / "dec")
        if enc.tail_path is not None and dec.head_path is not None:
            encoder = enc.tail_path.replace(split_dir / f"cut_encoder_{tag}.tflite")
            decoder = dec.head_path.replace(split_dir / f"cut_decoder_{tag}.tflite")
            files += [encoder.name, decoder.name]
        import shutil

        shutil.rmtree(split_dir / "enc", ignore_errors=True)
        shutil.rmtree(split_dir / "dec", ignore_errors=True)
    return files


def measure_codec_ops(
    result: CodecResult,
    split_dir: Path,
    clients: Mapping[str, object],
    server: tuple[str, object],
    settings: object,
) -> CodecResult:
    """Time the codec operators alone on each client (encode) and on the server (decode), with
    the sweep's targets and settings: on a phone, the phone's runtime measures the encode."""
    parts = result.detail.get("parts", [])
    if len(parts) < 4:
        return result
    encoder, decoder = split_dir / parts[2], split_dir / parts[3]
    detail = dict(result.detail)
    encode_by_target: dict[str, float | None] = {}
    errors: dict[str, str] = {}
    for name, target in clients.items():
        m = target.measure(encoder, settings)  # type: ignore[attr-defined]
        encode_by_target[name] = m.steady_median_ms
        if m.error:
            errors[name] = m.error
    server_name, server_target = server
    m = server_target.measure(decoder, settings)  # type: ignore[attr-defined]
    detail["encode_ms_by_target"] = encode_by_target
    detail["decode_ms_by_target"] = {server_name: m.steady_median_ms}
    if m.error:
        errors[server_name] = m.error
    if errors:
        detail["codec_op_errors"] = errors
    return CodecResult(**{**asdict(result), "detail": detail})


def parse_delivery_codec(spec: str):  # type: ignore[no-untyped-def]
    """``nnc:QP`` or a coder name (fp16, int8-weights, zstd, raw); one line otherwise."""
    from splitbench.compress.coders import make_coder

    name, _, arg = spec.strip().partition(":")
    if name == "nnc":
        if not arg:
            raise SplitbenchError("--delivery-codec nnc needs a QP, e.g. nnc:-38")
        try:
            qp = int(arg)
        except ValueError:
            raise SplitbenchError(f"--delivery-codec '{spec}': QP must be an integer") from None
        return make_coder("nnc", qp=qp)
    if arg:
        raise SplitbenchError(f"--delivery-codec '{spec}': only nnc takes a parameter (nnc:QP)")
    return make_coder(name)


def delivery_codec_result(
    codec_spec: str,
    *,
    split: int,
    head: Path,
    tail: Path | None,
    input_sets: Sequence[Mapping[str, np.ndarray]],
    reference: Sequence[Mapping[str, np.ndarray]],
    work_dir: Path,
) -> CodecResult:
    """Code the head's parameters (see the module docstring)."""
    from splitbench.compress.tflite_params import load_params

    coder = parse_delivery_codec(codec_spec)
    head_bytes = head.stat().st_size
    output_names = list(reference[0])
    try:
        params = load_params(head)
    except ModelError:  # a head without float weights: sent as it is
        return CodecResult(
            split,
            "delivery",
            codec_spec,
            head_bytes,
            0.0,
            0.0,
            0.0,
            True,
            HOST_TIMING,
            {"note": "no float weights in the head: sent uncoded"},
        )
    work_dir.mkdir(parents=True, exist_ok=True)
    bitstream = work_dir / f"head{coder.suffix}"
    start = time.perf_counter()
    coder.encode(params, bitstream)
    enc_ms = 1000 * (time.perf_counter() - start)
    start = time.perf_counter()
    decoded = coder.decode(bitstream, params)
    dec_ms = 1000 * (time.perf_counter() - start)
    rec_head = coder.write_model(params, decoded, work_dir / "head_decoded.tflite")
    head_outs = run_model(rec_head, input_sets)
    if tail is not None:
        feeds = [{**i, **h} for i, h in zip(input_sets, head_outs, strict=True)]
        tail_outs = run_model(tail, feeds)
    else:
        tail_outs = [{} for _ in input_sets]
    finals = [_final_outputs(h, t, output_names) for h, t in zip(head_outs, tail_outs, strict=True)]
    diff = max_output_diff(finals, reference)
    coded = bitstream.stat().st_size + (head_bytes - params.anc_size)
    lossless = coder.name in ("zstd", "raw") and diff <= TOLERANCE
    return CodecResult(
        split,
        "delivery",
        codec_spec,
        float(coded),
        enc_ms,
        dec_ms,
        diff,
        lossless,
        HOST_TIMING,
        {
            "bitstream_bytes": bitstream.stat().st_size,
            "head_param_bytes": params.anc_size,
            "head_file_bytes": head_bytes,
            "coder": asdict_safe(coder.config()),
        },
    )


def asdict_safe(config: Mapping[str, object]) -> dict:
    return {k: (v if isinstance(v, (int, float, str, bool)) else str(v)) for k, v in config.items()}


__all__ = [
    "CodecResult",
    "asdict",
    "cut_codec_result",
    "delivery_codec_result",
    "parse_delivery_codec",
]
