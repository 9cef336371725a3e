"""Stage 0 of the pipe: turn the user's MODEL argument into one ``.tflite`` file.

A model comes from a file (``.tflite``, Keras ``.keras``/``.h5``, TF1 frozen graph ``.pb``), a
SavedModel folder, or a built-in name (``posenet``, ``mediapipe:<name>``). Everything that is not
already TFLite is converted once into ``workdir`` (see :mod:`splitbench.convert`), so the stages
after this one only ever see a ``.tflite`` path. Whether a ``.tflite`` file is complete and
well-formed is the graph loader's job (:mod:`splitbench.graph`); this module only refuses files
it cannot even classify.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from splitbench.errors import ModelError
from splitbench.formats import FORMAT_NAMES

KINDS = ("tflite", "keras", "savedmodel", "frozen_graph", "builtin", "mediapipe", "pytorch", "onnx")
BUILTIN_NAMES = ("posenet",)
MEDIAPIPE_PREFIX = "mediapipe:"

_KERAS_SUFFIXES = {".keras", ".h5", ".hdf5"}
_MODEL_SUFFIXES = {".tflite", ".pb", ".onnx", ".pt2", ".py", *_KERAS_SUFFIXES}
_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
_ZIP_MAGIC = b"PK\x03\x04"
SOURCE_PREFIX = "source:"  # a converted model's identity (its source), not a file's sha256


@dataclass(frozen=True)
class ResolvedModel:
    """A model ready for the graph loader."""

    path: Path  # a model file of a format in splitbench.formats (.tflite, .onnx)
    name: str  # display name: "posenet", "mediapipe:pose_detection", a file stem
    kind: str  # one of KINDS
    source: str  # the spec as the user gave it
    torch_export: Path | None = None  # the .pt2 a PyTorch model was converted from
    # The file already has static input shapes (a PyTorch export, an ONNX copy made with
    # ``--input-shape``): nothing is left for the graph loader to fix.
    shapes_in_file: bool = False

    @property
    def converted(self) -> bool:
        """The kit made the file (a conversion, a copy with static shapes): the user's own
        split-format files and the built-ins are used as they are."""
        return self.kind not in ("builtin", "mediapipe") and (
            self.kind not in FORMAT_NAMES or self.shapes_in_file
        )

    @property
    def format(self) -> str:
        from splitbench.formats import format_of_file

        return format_of_file(self.path).name


def resolve_model(
    spec: str,
    *,
    workdir: Path,
    input_names: list[str] | None = None,
    output_names: list[str] | None = None,
    input_shapes: dict[str, tuple[int, ...]] | None = None,
    fmt: str | None = None,
) -> ResolvedModel:
    """Resolve a MODEL argument to a model file, converting or building it if needed.

    ``input_names``/``output_names`` are required for a frozen graph and ignored otherwise;
    ``input_shapes`` fixes input shapes at conversion (a ``.tflite`` file is taken as it is).
    ``fmt`` (``--format``) picks what a PyTorch model becomes: ``tflite`` (default) or ``onnx``;
    any other model is already in its one format, which ``fmt`` must then match.
    """
    if spec not in BUILTIN_NAMES and _is_pytorch_spec(spec):
        return _from_pytorch(spec, workdir, input_shapes, fmt or "tflite")
    resolved = _resolve_other(spec, workdir, input_names, output_names, input_shapes)
    if fmt is not None and resolved.format != fmt:
        raise ModelError(
            f"--format {fmt} applies to PyTorch models; {spec} is a {resolved.format} model"
        )
    return resolved


def source_identity(
    spec: str,
    *,
    input_names: list[str] | None = None,
    output_names: list[str] | None = None,
    input_shapes: dict[str, tuple[int, ...]] | None = None,
    fmt: str | None = None,
) -> str | None:
    """What MODEL is, known before anything is converted or written: the sha256 of the model
    file when it is used as it is (the ``model_sha`` a sweep records), else ``source:`` and a
    digest of the source and of the options that shape its conversion. None when MODEL names
    no file that can be read (resolving it then says why); a file no format can read is the
    :class:`ModelError` resolving it would give."""
    try:
        direct = _direct_file(spec, input_shapes)
        if direct is not None:
            return _file_digest(direct)
        source = _source_digest(spec)
    except OSError:
        return None
    if source is None:
        return None
    options = {
        "source": source,
        "format": fmt,
        "input_shapes": sorted((k, list(v)) for k, v in (input_shapes or {}).items()),
        "input_names": input_names,
        "output_names": output_names,
    }
    text = json.dumps(options, sort_keys=True)
    return SOURCE_PREFIX + hashlib.sha256(text.encode()).hexdigest()


def _direct_file(spec: str, input_shapes: dict[str, tuple[int, ...]] | None) -> Path | None:
    """The model file MODEL resolves to without a conversion, or None."""
    if spec in BUILTIN_NAMES:
        from splitbench_models.posenet import build_posenet_tflite

        return Path(build_posenet_tflite())
    if spec.startswith(MEDIAPIPE_PREFIX):
        from splitbench_models.mediapipe_wheel import mediapipe_model_path

        return Path(mediapipe_model_path(spec))
    path = Path(spec).expanduser()
    if _is_pytorch_spec(spec) or not path.is_file() or path.suffix.lower() == ".pte":
        return None
    kind = _file_kind(path)
    if kind not in FORMAT_NAMES:
        return None
    from splitbench.formats import get_format

    return path if not input_shapes or not get_format(kind).input_shapes_in_file else None


def _source_digest(spec: str) -> str | None:
    """A digest of what a converted model is made from: a name, a file, or a folder."""
    if _is_pytorch_spec(spec):
        from splitbench_models.torch_zoo import is_zoo_name

        if is_zoo_name(spec):
            return spec
        file_part, sep, factory = spec.rpartition(":")
        if not (sep and file_part.lower().endswith(".py")):
            file_part, factory = spec, ""
        path = Path(file_part).expanduser()
        return f"{_file_digest(path)}:{factory}" if path.is_file() else None
    path = Path(spec).expanduser()
    if path.is_file():
        return _file_digest(path)
    if path.is_dir():
        digest = hashlib.sha256()
        for item in sorted(p for p in path.rglob("*") if p.is_file()):
            digest.update(str(item.relative_to(path)).encode() + b"\0")
            digest.update(_file_digest(item).encode())
        return digest.hexdigest()
    return None


def _file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _is_pytorch_spec(spec: str) -> bool:
    # Imported here: the PyTorch intake and the TensorFlow converters are not on the path of a
    # .tflite file or a built-in model (`split posenet --all` starts in a fraction of a second).
    from splitbench.intake.pytorch import is_pytorch_spec

    return is_pytorch_spec(spec)


def _from_pytorch(
    spec: str, workdir: Path, input_shapes: dict[str, tuple[int, ...]] | None, fmt: str
) -> ResolvedModel:
    from splitbench.intake.convert_torch import convert_export
    from splitbench.intake.pytorch import intake

    export = intake(spec, workdir=workdir, input_shapes=input_shapes)
    converted = convert_export(export, fmt)
    return ResolvedModel(
        converted, export.name, "pytorch", spec, torch_export=export.path, shapes_in_file=True
    )


def _resolve_other(
    spec: str,
    workdir: Path,
    input_names: list[str] | None,
    output_names: list[str] | None,
    input_shapes: dict[str, tuple[int, ...]] | None,
) -> ResolvedModel:
    if spec in BUILTIN_NAMES:
        from splitbench_models.posenet import build_posenet_tflite

        return ResolvedModel(build_posenet_tflite(), spec, "builtin", spec)
    if spec.startswith(MEDIAPIPE_PREFIX):
        from splitbench_models.mediapipe_wheel import mediapipe_model_path

        path = mediapipe_model_path(spec)
        return ResolvedModel(path, spec, "mediapipe", spec)

    path = Path(spec).expanduser()
    if not path.exists():
        raise ModelError(_missing_message(spec))
    if path.is_dir():
        return _from_folder(path, spec, workdir, input_shapes)
    if path.suffix.lower() == ".pte":
        from splitbench.formats.executorch.model import NOT_SPLITTABLE

        raise ModelError(f"{path.name}: {NOT_SPLITTABLE}")
    kind = _file_kind(path)
    name = path.stem
    if kind in FORMAT_NAMES:  # a file of a format the kit splits as it is
        from splitbench.formats import get_format

        fmt = get_format(kind)
        fixed = fmt.with_input_shapes(path, input_shapes, workdir) if input_shapes else None
        return ResolvedModel(fixed or path, name, kind, spec, shapes_in_file=fixed is not None)
    from splitbench.convert import convert_frozen_graph, convert_keras, frozen_graph_placeholders

    if kind == "keras":
        converted = convert_keras(path, workdir=workdir, input_shapes=input_shapes)
        return ResolvedModel(converted, name, kind, spec)
    if path.name == "saved_model.pb":  # the user pointed at the file inside a SavedModel
        return _from_folder(path.parent, spec, workdir, input_shapes)
    placeholders = frozen_graph_placeholders(path)  # also refuses a .pb that is no GraphDef
    if not input_names or not output_names:
        hint = f" (its placeholders: {', '.join(placeholders[:5])})" if placeholders else ""
        raise ModelError(
            f"{path.name} is a TF1 frozen graph: pass --input-names and --output-names{hint}"
        )
    converted = convert_frozen_graph(
        path,
        workdir=workdir,
        input_names=input_names,
        output_names=output_names,
        input_shapes=input_shapes,
    )
    return ResolvedModel(converted, name, "frozen_graph", spec)


def parse_input_shape(text: str) -> tuple[str, tuple[int, ...]]:
    """Parse the CLI's ``--input-shape name:1,224,224,3`` into ``("name", (1, 224, 224, 3))``.

    The name is everything before the last colon, so TensorFlow names such as ``image:0`` work.
    Without a name (``1,3,224,224``) the name is ``""``: the model's only input.
    """
    name, sep, dims = text.rpartition(":")
    if sep and not name.strip():
        raise ModelError(f"--input-shape '{text}' must look like NAME:1,224,224,3 or 1,224,224,3")
    try:
        shape = tuple(int(d) for d in dims.replace(" ", "").split(","))
    except ValueError:
        raise ModelError(
            f"--input-shape '{text}': dimensions must be integers separated by commas"
        ) from None
    if any(d <= 0 for d in shape):
        raise ModelError(f"--input-shape '{text}': every dimension must be at least 1")
    return name.strip(), shape


def builtin_models_text() -> str:
    """The built-in model names for messages, listing mediapipe names only if already cached."""
    from splitbench_models.mediapipe_wheel import cached_mediapipe_models

    cached = cached_mediapipe_models()
    if cached:
        mediapipe = ", ".join(MEDIAPIPE_PREFIX + n for n in cached)
    else:
        mediapipe = (
            f"{MEDIAPIPE_PREFIX}<name> (models of the mediapipe wheel, e.g. "
            f"{MEDIAPIPE_PREFIX}pose_landmark_full)"
        )
    return ", ".join((*BUILTIN_NAMES, mediapipe))


# --------------------------------------------------------------------------- helpers


def _missing_message(spec: str) -> str:
    looks_like_path = "/" in spec or "\\" in spec or Path(spec).suffix.lower() in _MODEL_SUFFIXES
    if looks_like_path:
        return f"model file not found: {spec}"
    return f"unknown model '{spec}' (no such file either); built-in models: " + (
        builtin_models_text()
    )


def _from_folder(
    path: Path, spec: str, workdir: Path, input_shapes: dict[str, tuple[int, ...]] | None
) -> ResolvedModel:
    if not ((path / "saved_model.pb").is_file() or (path / "saved_model.pbtxt").is_file()):
        raise ModelError(f"{path} is a folder but not a SavedModel (no saved_model.pb in it)")
    from splitbench.convert import convert_saved_model

    converted = convert_saved_model(path, workdir=workdir, input_shapes=input_shapes)
    return ResolvedModel(converted, path.resolve().name, "savedmodel", spec)


def _file_kind(path: Path) -> str:
    """A format's name (a file the kit splits as it is), ``keras`` or ``frozen_graph``: by
    extension, else by the file's first bytes."""
    from splitbench.formats import FORMAT_NAMES, get_format

    suffix = path.suffix.lower()
    for name in FORMAT_NAMES:
        if suffix == get_format(name).suffix:
            return name
    if suffix in _KERAS_SUFFIXES:
        return "keras"
    if suffix == ".pb":
        return "frozen_graph"
    with path.open("rb") as fh:
        head = fh.read(64)
    if head.startswith(_HDF5_MAGIC) or (head.startswith(_ZIP_MAGIC) and _is_keras_zip(path)):
        return "keras"
    for name in FORMAT_NAMES:
        if get_format(name).sniff(path, head):
            return name
    raise ModelError(
        f"{path.name} is not a model splitbench can read: expected a .tflite flatbuffer, "
        "an .onnx model, a Keras .keras/.h5 file, a TF1 frozen graph .pb or a SavedModel folder"
    )


def _is_keras_zip(path: Path) -> bool:
    import zipfile

    try:
        with zipfile.ZipFile(path) as archive:
            return "config.json" in archive.namelist()
    except zipfile.BadZipFile:
        return False
