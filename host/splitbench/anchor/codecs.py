"""Picture codecs of the clause-5 anchor, with the real libraries a phone's camera stack uses.

``--anchor-codec`` takes a comma-separated list of ``codec[:parameter]``:

=========  =====================================  ==========  =======
codec      library                                parameter   default
=========  =====================================  ==========  =======
``jpeg``   Pillow (libjpeg, 4:2:0)                quality      90
``webp``   Pillow (libwebp, lossy)                quality      80
``png``    Pillow (zlib, lossless)                —            —
``h264``   PyAV: FFmpeg's libx264, one intra frame CRF          23
``h265``   PyAV: FFmpeg's libx265, one intra frame CRF          28
``av1``    PyAV: FFmpeg's SVT-AV1, one intra frame CRF          35
``raw``    the model's input tensors as they are  —            —
=========  =====================================  ==========  =======

A video codec codes one intra frame per inference (a stream of its own, encoder flushed): the
anchor's latency is one frame's, and no frame leans on an earlier one. 4:2:0 needs even frame
sizes: an odd size is padded by repeating the last row/column (and cropped after decoding),
which :attr:`PictureCodec.note` says. ``raw`` is today's split 0: the input tensors uploaded
uncoded — the only anchor of a model without an image input.
"""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from splitbench.errors import SplitbenchError

DEFAULT_IMAGE_CODECS = "jpeg:90,webp:80,h264:23"
# name -> (parameter name, lowest, highest, default); None: takes no parameter
_PARAMS: dict[str, tuple[str, int, int, int] | None] = {
    "jpeg": ("quality", 1, 100, 90),
    "webp": ("quality", 0, 100, 80),
    "png": None,
    "h264": ("CRF", 0, 51, 23),
    "h265": ("CRF", 0, 51, 28),
    "av1": ("CRF", 1, 63, 35),
    "raw": None,
}
VIDEO = {"h264": "libx264", "h265": "libx265", "av1": "libsvtav1"}
_DECODERS = {"h264": "h264", "h265": "hevc", "av1": "libdav1d"}
_ENCODER_OPTIONS = {
    "h264": {},
    "h265": {"x265-params": "log-level=none"},  # x265 prints a banner on stderr otherwise
    "av1": {"preset": "8"},
}


@dataclass(frozen=True)
class AnchorCodecSpec:
    name: str  # jpeg, webp, png, h264, h265, av1, raw
    param: int | None

    @property
    def label(self) -> str:
        return self.name if self.param is None else f"{self.name}:{self.param}"

    @property
    def needs_image(self) -> bool:
        return self.name != "raw"

    @property
    def param_name(self) -> str:
        spec = _PARAMS[self.name]
        return spec[0] if spec else ""


def parse_anchor_codecs(text: str) -> list[AnchorCodecSpec]:
    """``jpeg:90,webp:80,h264:23`` → specs; one line for an unknown codec, a parameter out of
    range or a repeated codec."""
    specs: list[AnchorCodecSpec] = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        name, _, arg = item.lower().partition(":")
        if name not in _PARAMS:
            raise SplitbenchError(
                f"--anchor-codec: unknown codec '{name}' (use {', '.join(_PARAMS)})"
            )
        limits = _PARAMS[name]
        param: int | None = None
        if limits is None:
            if arg:
                raise SplitbenchError(f"--anchor-codec {item}: {name} takes no parameter")
        else:
            what, low, high, default = limits
            try:
                param = int(arg) if arg else default
            except ValueError:
                raise SplitbenchError(
                    f"--anchor-codec {item}: the {what} must be a whole number {low}..{high}"
                ) from None
            if not low <= param <= high:
                raise SplitbenchError(
                    f"--anchor-codec {item}: {name} {what} {param} is out of range {low}..{high}"
                )
        spec = AnchorCodecSpec(name, param)
        if any(s.label == spec.label for s in specs):
            raise SplitbenchError(f"--anchor-codec: {spec.label} is given twice")
        specs.append(spec)
    if not specs:
        raise SplitbenchError("--anchor-codec: give at least one codec, e.g. jpeg:90")
    return specs


class PictureCodec:
    """Encode an 8-bit frame (H x W x C, C = 1 or 3) to bytes and decode it back."""

    def __init__(self, spec: AnchorCodecSpec, height: int, width: int, channels: int) -> None:
        if not spec.needs_image:
            raise ValueError("raw is not a picture codec")
        self.spec = spec
        self.height, self.width, self.channels = height, width, channels
        self.video = spec.name in VIDEO
        # 4:2:0 chroma halves each side: video frames must have even sizes
        self.coded_height = height + (height % 2 if self.video else 0)
        self.coded_width = width + (width % 2 if self.video else 0)
        if self.video:
            _check_video_codec(spec.name)

    @property
    def note(self) -> str:
        if (self.coded_height, self.coded_width) == (self.height, self.width):
            return ""
        return (
            f"{self.width}x{self.height} padded to {self.coded_width}x{self.coded_height} (4:2:0 "
            "needs even sizes; the decoder's frame is cropped back)"
        )

    # -- encode -------------------------------------------------------------------------------
    def open_encoder(self) -> object:
        """A video encoder opened for one frame (None for the image codecs)."""
        if not self.video:
            return None
        import av

        from splitbench.measure.quiet import native_stderr_silenced

        ctx = av.CodecContext.create(VIDEO[self.spec.name], "w")
        ctx.width, ctx.height = self.coded_width, self.coded_height
        ctx.pix_fmt = "yuv420p"
        ctx.time_base = Fraction(1, 30)
        ctx.framerate = Fraction(30, 1)  # SVT-AV1 needs a frame rate
        ctx.options = {"crf": str(self.spec.param), **_ENCODER_OPTIONS[self.spec.name]}
        with native_stderr_silenced(), scheduling_kept():  # SVT-AV1's configuration banner
            ctx.open()
        return ctx

    def encode(self, frame: np.ndarray, encoder: object = None) -> bytes:
        """The coded picture; a video codec needs ``encoder`` from :meth:`open_encoder`."""
        if self.video:
            return self._encode_video(frame, encoder or self.open_encoder())
        from PIL import Image

        img = Image.fromarray(_plane(frame))
        buffer = io.BytesIO()
        if self.spec.name == "jpeg":
            img.save(buffer, format="JPEG", quality=self.spec.param)
        elif self.spec.name == "webp":
            img.save(buffer, format="WEBP", quality=self.spec.param)
        else:
            img.save(buffer, format="PNG")
        return buffer.getvalue()

    def _encode_video(self, frame: np.ndarray, encoder: object) -> bytes:
        import av

        rgb = _rgb(frame)
        pad = ((0, self.coded_height - self.height), (0, self.coded_width - self.width), (0, 0))
        if any(p[1] for p in pad):
            rgb = np.pad(rgb, pad, mode="edge")
        picture = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
        picture = picture.reformat(format="yuv420p")
        picture.pts = 0
        with _quiet(), scheduling_kept():
            packets = [*encoder.encode(picture), *encoder.encode(None)]  # type: ignore[attr-defined]
        return b"".join(bytes(p) for p in packets)

    # -- decode -------------------------------------------------------------------------------
    def open_decoder(self) -> object:
        if not self.video:
            return None
        import av

        return av.CodecContext.create(_DECODERS[self.spec.name], "r")

    def decode(self, data: bytes, decoder: object = None) -> np.ndarray:
        """The decoded frame, H x W x C uint8 (cropped back when it was padded)."""
        if self.video:
            return self._decode_video(data, decoder or self.open_decoder())
        from PIL import Image

        with Image.open(io.BytesIO(data)) as img:
            pixels = np.asarray(img.convert("RGB" if self.channels == 3 else "L"), np.uint8)
        return pixels.reshape(self.height, self.width, self.channels)

    def _decode_video(self, data: bytes, decoder: object) -> np.ndarray:
        import av

        # the frame's packets, as one packet: the decoder splits them itself
        with _quiet(), scheduling_kept():
            frames = [
                *decoder.decode(av.Packet(data)),  # type: ignore[attr-defined]
                *decoder.decode(None),  # type: ignore[attr-defined]
            ]
        if not frames:
            raise SplitbenchError(f"{self.spec.label}: the decoder returned no frame")
        rgb = frames[0].to_ndarray(format="rgb24")[: self.height, : self.width]
        if self.channels == 1:
            from PIL import Image

            rgb = np.asarray(Image.fromarray(rgb).convert("L"), np.uint8)
        return np.ascontiguousarray(rgb).reshape(self.height, self.width, self.channels)


def _plane(frame: np.ndarray) -> np.ndarray:
    """A frame as Pillow takes it: H x W x 3, or H x W for one channel."""
    return frame[:, :, 0] if frame.shape[-1] == 1 else frame


def _rgb(frame: np.ndarray) -> np.ndarray:
    return np.repeat(frame, 3, axis=-1) if frame.shape[-1] == 1 else frame


@contextlib.contextmanager
def scheduling_kept() -> Iterator[None]:
    """Keep the calling thread's scheduling policy: SVT-AV1, run as root, sets the thread that
    opens or feeds it to SCHED_FIFO 99. A sweep's thread left real-time would time every later
    part at real-time priority and hand that policy to every process it starts (a spinner so
    started starved a whole core in the test suite)."""
    try:
        policy, param = os.sched_getscheduler(0), os.sched_getparam(0)
    except (AttributeError, OSError):  # not Linux
        yield
        return
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            if os.sched_getscheduler(0) != policy:
                os.sched_setscheduler(0, policy, param)


def _quiet():  # type: ignore[no-untyped-def]
    from splitbench.measure.quiet import native_stderr_silenced

    return native_stderr_silenced()


def _check_video_codec(name: str) -> None:
    """PyAV and the FFmpeg encoder it carries, or one line saying what to install."""
    try:
        import av
    except ImportError:
        raise SplitbenchError(f"--anchor-codec {name} needs PyAV: pip install av==18.1.0") from None
    if VIDEO[name] not in av.codecs_available:
        raise SplitbenchError(f"--anchor-codec {name}: this PyAV has no {VIDEO[name]} encoder")
