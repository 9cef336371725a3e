"""The pictures a sweep feeds an image model: real photographs, not random values.

A model with an image input (see :func:`~splitbench.measure.inputs.image_input`) gets, by
default, scikit-image's sample photographs (astronaut, chelsea, coffee, …: they ship inside the
package) resized to its input; ``--inputs DIR`` takes the user's own images or frames instead.
Each picture is kept as the 8-bit frame a phone would hold (H x W x C at the model's input size,
the "picture" the clause-5 anchor codes and uploads) and converted to the model's input layout,
dtype and value range (``--input-scale``) by
:func:`~splitbench.measure.inputs.picture_to_input`. Codec sizes of random noise mean nothing;
the lossless check and the timings work on these inputs as on any other.

A model without an image input keeps seeded random inputs (:func:`make_pictures` returns None).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from splitbench.errors import ModelError, SplitbenchError
from splitbench.measure.inputs import (
    SCALES,
    image_files,
    image_input,
    input_details,
    picture_size,
    picture_to_input,
    random_inputs,
    read_frame,
)

DEFAULT_SOURCE = "scikit-image sample photos"


@dataclass(frozen=True)
class Pictures:
    """The frames behind the image input of every input set, and how they became inputs."""

    input_name: str
    shape: tuple[int, ...]
    dtype: str
    layout: str  # "NHWC" | "NCHW"
    scale: str  # the float value range (--input-scale)
    frames: tuple[np.ndarray, ...]  # uint8, H x W x C, at the model's input size
    names: tuple[str, ...]  # where each frame came from (file names)
    source: str  # DEFAULT_SOURCE or the --inputs folder

    def to_input(self, frame: np.ndarray) -> np.ndarray:
        """One frame (e.g. a decoded one) as the model's input value."""
        return picture_to_input(
            frame, self.shape, np.dtype(self.dtype), layout=self.layout, scale=self.scale
        )

    def describe(self) -> dict[str, Any]:
        """For the run record: what the model was fed."""
        channels, height, width = picture_size(self.shape, self.layout)
        value_range = self.scale if np.dtype(self.dtype).kind == "f" else self.dtype
        return {
            "source": self.source,
            "pictures": list(self.names),
            "input": self.input_name,
            "size": f"{width}x{height}x{channels}",
            "layout": self.layout,
            "dtype": self.dtype,
            "value_range": value_range,
        }


def has_image_input(model_path: Path) -> bool:
    try:
        image_input(input_details(model_path), Path(model_path))
    except ModelError:
        return False
    return True


def sample_photo_paths(count: int) -> list[Path]:
    """The first ``count`` of scikit-image's sample photographs (never repeated)."""
    from splitbench.compress.scenarios.base import SAMPLE_PHOTOS, skimage_data_dir

    folder = skimage_data_dir()
    return [folder / name for name in SAMPLE_PHOTOS[:count]]


def make_pictures(
    model_path: Path, *, inputs_dir: Path | None, count: int, scale: str = "-1..1"
) -> Pictures | None:
    """The frames for ``model_path``'s image input: the user's images, or sample photos; None
    when the model has no image input and no folder was given (random inputs then)."""
    if scale not in SCALES:
        raise SplitbenchError(f"--input-scale {scale}: use one of {', '.join(SCALES)}")
    details = input_details(model_path)
    if inputs_dir is None and not has_image_input(model_path):
        return None
    target, layout = image_input(details, Path(model_path))
    if inputs_dir is None:
        paths, source = sample_photo_paths(count), DEFAULT_SOURCE
    else:
        paths, source = image_files(Path(inputs_dir))[:count], str(inputs_dir)
    channels, height, width = picture_size(target["shape"], layout)
    frames = tuple(read_frame(p, height, width, channels) for p in paths)
    return Pictures(
        input_name=target["name"],
        shape=tuple(int(d) for d in target["shape"]),
        dtype=np.dtype(target["dtype"]).name,
        layout=layout,
        scale=scale,
        frames=frames,
        names=tuple(p.name for p in paths),
        source=source,
    )


def check_one_size(inputs_dir: Path) -> None:
    """The frames of ``--inputs`` for the anchors are one stream: one picture size. An image of
    another size is refused with one line (a video codec codes frames of one size)."""
    from PIL import Image, UnidentifiedImageError

    sizes: dict[tuple[int, int], str] = {}
    for path in image_files(Path(inputs_dir)):
        try:
            with Image.open(path) as img:
                sizes.setdefault(img.size, path.name)
        except (OSError, UnidentifiedImageError) as exc:
            raise SplitbenchError(f"cannot read image {path}: {exc}") from None
    if len(sizes) > 1:
        (a, first), (b, other) = list(sizes.items())[:2]
        raise SplitbenchError(
            f"--inputs {inputs_dir}: {other} is {b[0]}x{b[1]} but {first} is {a[0]}x{a[1]}; the "
            "anchors code the frames of one stream: give images of one size (or --anchor-codec raw)"
        )


def inputs_from_pictures(
    model_path: Path, pictures: Pictures, *, seed: int
) -> list[dict[str, np.ndarray]]:
    """One input set per frame: the frame at the image input, seeded random values elsewhere."""
    details = input_details(model_path)
    rng = np.random.default_rng(seed)
    sets = []
    for frame in pictures.frames:
        values = random_inputs(details, rng)
        values[pictures.input_name] = pictures.to_input(frame)
        sets.append(values)
    return sets
