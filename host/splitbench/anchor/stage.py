"""The anchor stage of a sweep: each ``--anchor-codec`` measured on the run's pictures.

For every codec, every picture (:mod:`splitbench.measure.pictures`) is encoded (client side)
and decoded and converted to the model's input layout, dtype and value range (server side) with
the real codec library; the whole model then runs on the decoded inputs and its outputs are
compared with its outputs on the original inputs (``max_abs_diff``; for mediapipe's pose and
hand landmark models also the mean landmark displacement in input pixels, the metric of the
``pose-landmarks`` scenario). ``coded_bytes`` is the mean over the pictures; encode and decode
are the median of repeats on the first picture, with a video encoder or decoder opened before
the clock starts (a phone keeps its encoder open).

Where: the phone's side of the kit runs the TensorFlow Lite runner (``benchmark_model``) and
no image codec — a real phone's shell has neither Pillow nor PyAV — so encode and decode are
timed in-process on this host, and every row says so (``timed_on``). No phone number is
invented: the encode time on the phone is unknown, and the table says where it was measured.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from splitbench.anchor.codecs import AnchorCodecSpec, PictureCodec
from splitbench.compress.runner import run_model
from splitbench.compress.split_codecs import HOST_TIMING, max_output_diff, time_ms
from splitbench.errors import ModelError
from splitbench.measure.inputs import picture_size
from splitbench.measure.pictures import Pictures
from splitbench.results.records import AnchorResult

TIMED_ON = HOST_TIMING + "; the phone's runner has no image codec"


def measure_anchor(
    spec: AnchorCodecSpec,
    *,
    model_path: Path,
    pictures: Pictures | None,
    input_sets: Sequence[Mapping[str, np.ndarray]],
    reference: Sequence[Mapping[str, np.ndarray]],
) -> AnchorResult:
    """One anchor row (see the module docstring)."""
    if spec.name == "raw" or pictures is None:
        return _raw(spec, input_sets)
    channels, height, width = picture_size(pictures.shape, pictures.layout)
    codec = PictureCodec(spec, height, width, channels)
    coded = [codec.encode(frame) for frame in pictures.frames]
    decoded = [codec.decode(data) for data in coded]
    feeds = [
        {**inputs, pictures.input_name: pictures.to_input(frame)}
        for inputs, frame in zip(input_sets, decoded, strict=True)
    ]
    outputs = run_model(model_path, feeds)
    # the inputs other than the picture travel uncoded beside it
    others = sum(v.nbytes for n, v in input_sets[0].items() if n != pictures.input_name)
    frame, data = pictures.frames[0], coded[0]
    encode_ms = time_ms(lambda enc: codec.encode(frame, enc), setup=codec.open_encoder)
    decode_ms = time_ms(
        lambda dec: pictures.to_input(codec.decode(data, dec)), setup=codec.open_decoder
    )
    metric = landmark_displacement(outputs, reference)
    detail: dict = {
        "picture_bytes": [len(c) for c in coded],
        "pictures": list(pictures.names),
        "uncoded_input_bytes": int(sum(v.nbytes for v in input_sets[0].values())),
    }
    if others:
        detail["uncoded_other_inputs_bytes"] = int(others)
    note = codec.note
    if codec.video:
        note = "; ".join(filter(None, ["one intra frame per inference", note]))
    return AnchorResult(
        codec=spec.label,
        name=spec.name,
        param=spec.param,
        coded_bytes=float(np.mean([len(c) for c in coded])) + others,
        encode_ms=encode_ms,
        decode_ms=decode_ms,
        max_abs_diff=max_output_diff(outputs, reference),
        metric_name="landmark_displacement_px" if metric is not None else "",
        metric=metric,
        timed_on=TIMED_ON,
        note=note,
        detail=detail,
    )


def _raw(spec: AnchorCodecSpec, input_sets: Sequence[Mapping[str, np.ndarray]]) -> AnchorResult:
    """The input tensors uploaded as they are (split 0's upload): serialised and read back."""
    values = {n: np.ascontiguousarray(v) for n, v in input_sets[0].items()}

    def encode() -> list[bytes]:
        return [v.tobytes() for v in values.values()]

    blobs = encode()

    def decode() -> list[np.ndarray]:
        return [
            np.frombuffer(b, v.dtype).reshape(v.shape)
            for b, v in zip(blobs, values.values(), strict=True)
        ]

    return AnchorResult(
        codec=spec.label,
        name="raw",
        param=None,
        coded_bytes=float(sum(len(b) for b in blobs)),
        encode_ms=time_ms(encode),
        decode_ms=time_ms(decode),
        max_abs_diff=0.0,
        metric_name="",
        metric=None,
        timed_on=TIMED_ON,
        note="the model's input tensors uncoded (split 0's upload)",
        detail={},
    )


def landmark_displacement(
    outputs: Sequence[Mapping[str, np.ndarray]], reference: Sequence[Mapping[str, np.ndarray]]
) -> float | None:
    """Mean landmark displacement (input pixels) for mediapipe's pose/hand landmark models;
    None for other models (no task metric without a scenario)."""
    from splitbench.compress.scenarios.landmarks import landmark_layout, landmarks

    try:
        layout = landmark_layout(dict(reference[0]))
    except ModelError:
        return None
    shifts = [
        np.linalg.norm(landmarks(dict(o), layout) - landmarks(dict(r), layout), axis=1)
        for o, r in zip(outputs, reference, strict=True)
    ]
    return float(np.mean(np.concatenate(shifts)))
