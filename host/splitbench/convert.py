"""Convert Keras files, SavedModel folders and TF1 frozen graphs to ``.tflite`` files.

Why it looks like this:

- **No optimisations, float32 in and out.** The kit measures where to cut a model; the cut must
  not change numerics, so the converter runs with its defaults only (no quantisation, no
  ``optimizations``), and with TFLite builtin operators only, because the parts must run on the
  plain interpreter and on ``benchmark_model`` (no Flex delegate there).
- **Static shapes.** An unknown leading (batch) dimension becomes 1, as in every scenario of the
  seeds; ``input_shapes`` (the CLI's ``--input-shape``) sets any input completely. Other unknown
  dimensions stay unknown and the graph loader reports them.
- **Content-addressed output.** The output name carries a digest of the source bytes, the
  conversion arguments and the TensorFlow version, so a rerun of a sweep reuses the converted
  file instead of paying seconds of conversion again, and a changed source never reuses a stale
  file.
- **Quiet.** The converter prints concrete-function signatures and C++ logs on the process's
  file descriptors; they are captured and only their error lines are used, in a one-line
  :class:`~splitbench.errors.ModelError`.
"""

from __future__ import annotations

import contextlib
import difflib
import hashlib
import importlib
import os
import re
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from splitbench.errors import ModelError

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

# Bump when the conversion settings change, so old content-addressed files are not reused.
CONVERTER_SETTINGS_VERSION = 1

Shapes = dict[str, tuple[int, ...]]

TFLITE_IDENTIFIER = b"TFL3"


def is_tflite_bytes(head: bytes) -> bool:
    """True when ``head`` (the first 8 bytes of a file) carries the TFLite flatbuffer identifier."""
    return len(head) >= 8 and head[4:8] == TFLITE_IDENTIFIER


# --------------------------------------------------------------------------- public entry points


def tensorflow() -> Any:
    """Import TensorFlow lazily and quietly (its import prints oneDNN and absl notices on fd 2)."""
    if "tensorflow" in sys.modules:
        return sys.modules["tensorflow"]
    with _captured_output():
        return importlib.import_module("tensorflow")


def convert_keras(path: Path, *, workdir: Path, input_shapes: Shapes | None = None) -> Path:
    """Convert a Keras ``.keras`` or ``.h5`` model file; returns the ``.tflite`` path."""

    def build() -> bytes:
        model = _load_keras(path)
        workdir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=workdir, prefix=".keras-export-") as tmp:
            _export_keras(model, path, input_shapes or {}, Path(tmp) / "saved_model")
            return _convert_saved_model(Path(tmp) / "saved_model", {}, label=path.name)

    return _cached(path, "keras", (_shapes_key(input_shapes),), workdir, build)


def convert_saved_model(path: Path, *, workdir: Path, input_shapes: Shapes | None = None) -> Path:
    """Convert a SavedModel folder (its ``serving_default`` signature); returns the path."""

    def build() -> bytes:
        return _convert_saved_model(path, input_shapes or {})

    return _cached(path, "savedmodel", (_shapes_key(input_shapes),), workdir, build)


def convert_frozen_graph(
    path: Path,
    *,
    workdir: Path,
    input_names: list[str],
    output_names: list[str],
    input_shapes: Shapes | None = None,
) -> Path:
    """Convert a TF1 frozen GraphDef ``.pb`` between the named tensors; returns the path.

    The names are checked against the graph first, so a typo gives the missing name and the
    closest candidates instead of the converter's "Invalid tensors were found".
    """
    if not input_names or not output_names:
        raise ModelError(
            f"{path.name} is a TF1 frozen graph: pass --input-names and --output-names"
        )
    graph_def = _read_graph_def(path)
    _check_tensor_names(path, graph_def, input_names, output_names)
    shapes = _frozen_graph_shapes(path, graph_def, input_names, input_shapes or {})
    key = (
        ",".join(input_names),
        ",".join(output_names),
        _shapes_key(shapes),
    )

    def build() -> bytes:
        tf = tensorflow()

        def convert() -> bytes:
            converter = tf.compat.v1.lite.TFLiteConverter.from_frozen_graph(
                str(path),
                input_arrays=[_converter_name(n) for n in input_names],
                output_arrays=[_converter_name(n) for n in output_names],
                input_shapes={k: list(v) for k, v in shapes.items()} or None,
            )
            return _configure_and_convert(converter)

        return _run_converter(path, convert)

    return _cached(path, "frozen_graph", key, workdir, build)


def frozen_graph_placeholders(path: Path) -> list[str]:
    """Names of the Placeholder nodes of a frozen graph: the usual ``--input-names``."""
    return [n.name for n in _read_graph_def(path).node if n.op == "Placeholder"]


# --------------------------------------------------------------------------- content addressing


def source_digest(path: Path) -> str:
    """sha256 over a file, or over every file (relative path and bytes) of a folder."""
    digest = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for file in files:
        if path.is_dir():
            digest.update(file.relative_to(path).as_posix().encode() + b"\0")
        with file.open("rb") as fh:
            for block in iter(lambda fh=fh: fh.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def _cached(
    path: Path, kind: str, key: tuple[str, ...], workdir: Path, build: Callable[[], bytes]
) -> Path:
    recipe = "\n".join(
        (kind, source_digest(path), _tensorflow_version(), str(CONVERTER_SETTINGS_VERSION), *key)
    )
    name = hashlib.sha256(recipe.encode()).hexdigest()[:16]
    workdir.mkdir(parents=True, exist_ok=True)
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", path.name.removesuffix(path.suffix)) or "model"
    out = workdir / f"{stem}.{kind}.{name}.tflite"
    if out.is_file() and _looks_like_tflite(out):
        return out
    data = build()
    fd, tmp = tempfile.mkstemp(dir=workdir, prefix=f".{out.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; these are ordinary files
        os.replace(tmp, out)  # atomic: a concurrent run sees no file or the whole file
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return out


def _tensorflow_version() -> str:
    """From the installed distribution, so a reused conversion does not pay TF's import."""
    import importlib.metadata  # 10 ms: only when a conversion is looked up

    for dist in ("tensorflow-cpu", "tensorflow"):
        try:
            return importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            continue
    return str(tensorflow().__version__)


def _looks_like_tflite(path: Path) -> bool:
    with path.open("rb") as fh:
        return is_tflite_bytes(fh.read(8))


def _shapes_key(shapes: Shapes | None) -> str:
    return ";".join(f"{k}:{','.join(map(str, v))}" for k, v in sorted((shapes or {}).items()))


# --------------------------------------------------------------------------- Keras / SavedModel


def _load_keras(path: Path) -> Any:
    tensorflow()
    import keras

    try:
        with _captured_output():
            return keras.models.load_model(path, compile=False)
    except Exception as exc:  # keras raises many types (ValueError, OSError, TypeError, ...)
        raise ModelError(f"cannot load Keras model {path.name}: {_one_line(exc)}") from None


def _export_keras(model: Any, path: Path, input_shapes: Shapes, out: Path) -> None:
    """Export the Keras model as a SavedModel whose signature has the static input shapes.

    Keras' own export is the documented bridge to the converter; converting a Keras 3 model
    through ``from_concrete_functions(..., model)`` instead gave NaN weights in TF 2.21.
    """
    tf = tensorflow()
    inputs = getattr(model, "inputs", None)
    if not inputs:
        raise ModelError(
            f"Keras model {path.name} has no symbolic inputs (subclassed model?): "
            "export it as a SavedModel folder and pass that"
        )
    names = [str(t.name).split(":")[0] for t in inputs]
    _check_shape_names(path, input_shapes, names)
    specs = [
        tf.TensorSpec(_static_shape(path, n, tuple(t.shape), input_shapes), t.dtype, name=n)
        for n, t in zip(names, inputs, strict=True)
    ]
    signature = [specs] if len(specs) > 1 else specs
    try:
        with _captured_output():
            model.export(
                str(out), format="tf_saved_model", verbose=False, input_signature=signature
            )
    except Exception as exc:
        raise ModelError(f"cannot export Keras model {path.name}: {_one_line(exc)}") from None


def _convert_saved_model(path: Path, input_shapes: Shapes, label: str | None = None) -> bytes:
    """Convert the ``serving_default`` signature (else the first one) of a SavedModel.

    When the signature already has the wanted shapes the converter reads the folder directly;
    otherwise the signature is re-traced with the static shapes.
    """
    tf = tensorflow()
    label = label or path.name
    try:
        with _captured_output():
            loaded = tf.saved_model.load(str(path))
    except Exception as exc:
        raise ModelError(f"cannot load SavedModel {label}: {_one_line(exc)}") from None
    signatures = dict(loaded.signatures)
    if not signatures:
        raise ModelError(f"SavedModel {label} has no signatures to convert")
    key = "serving_default" if "serving_default" in signatures else sorted(signatures)[0]
    signature = signatures[key]
    specs_in: dict[str, Any] = signature.structured_input_signature[1]
    _check_shape_names(Path(label), input_shapes, list(specs_in))
    specs = {
        name: tf.TensorSpec(
            _static_shape(Path(label), name, _dims(spec.shape), input_shapes), spec.dtype, name=name
        )
        for name, spec in specs_in.items()
    }
    unchanged = all(specs[n].shape == s.shape for n, s in specs_in.items())

    def call(**kwargs: Any) -> Any:
        return signature(**kwargs)

    def convert() -> bytes:
        if unchanged:
            converter = tf.lite.TFLiteConverter.from_saved_model(str(path), signature_keys=[key])
        else:
            concrete = tf.function(call).get_concrete_function(**specs)
            converter = tf.lite.TFLiteConverter.from_concrete_functions([concrete], loaded)
        return _configure_and_convert(converter)

    return _run_converter(Path(label), convert)


def _check_shape_names(path: Path, input_shapes: Shapes, names: list[str]) -> None:
    unknown = [n for n in input_shapes if n not in names]
    if unknown:
        raise ModelError(
            f"--input-shape names {', '.join(unknown)} but {path.name} has inputs "
            f"{', '.join(names)}"
        )


def _dims(shape: Any) -> tuple[int | None, ...] | None:
    """A TensorShape as a tuple, or None when even its rank is unknown."""
    return None if shape.rank is None else tuple(shape)


def _static_shape(
    path: Path, name: str, shape: tuple[int | None, ...] | None, input_shapes: Shapes
) -> tuple[int | None, ...] | None:
    """The shape to convert with: the user's, else the model's with an unknown batch set to 1."""
    if name in input_shapes:
        given = input_shapes[name]
        if shape is not None and len(given) != len(shape):
            raise ModelError(
                f"--input-shape {name}:{','.join(map(str, given))} has rank {len(given)} but "
                f"input {name} of {path.name} has rank {len(shape)}"
            )
        return tuple(given)
    if shape is None:
        return None
    if shape and shape[0] is None:
        return (1, *shape[1:])
    return shape


# --------------------------------------------------------------------------- frozen graphs


def _read_graph_def(path: Path) -> Any:
    tf = tensorflow()
    from google.protobuf.message import DecodeError

    graph_def = tf.compat.v1.GraphDef()
    try:
        graph_def.ParseFromString(path.read_bytes())
    except (DecodeError, RuntimeWarning, ValueError):
        raise ModelError(f"{path.name} is not a TF1 frozen graph (GraphDef protobuf)") from None
    if not graph_def.node:
        raise ModelError(f"{path.name} is not a TF1 frozen graph: it has no nodes")
    return graph_def


def _node_name(tensor_name: str) -> str:
    """``scope/op:1`` -> ``scope/op``: the node that produces the tensor."""
    base, _, index = tensor_name.rpartition(":")
    return base if base and index.isdigit() else tensor_name


def _converter_name(tensor_name: str) -> str:
    """The TF1 converter names a node's first output ``op`` and the others ``op:1``, ..."""
    return tensor_name.removesuffix(":0")


def _check_tensor_names(
    path: Path, graph_def: Any, input_names: list[str], output_names: list[str]
) -> None:
    nodes = [n.name for n in graph_def.node]
    known = set(nodes)
    placeholders = [n.name for n in graph_def.node if n.op == "Placeholder"]
    for role, names in (("input", input_names), ("output", output_names)):
        for name in names:
            if _node_name(name) in known:
                continue
            pool = placeholders if role == "input" and placeholders else nodes
            close = difflib.get_close_matches(_node_name(name), pool, n=5, cutoff=0.4)
            hint = close or (pool[:5] if role == "input" else pool[-5:])
            raise ModelError(
                f"{role} tensor '{name}' is not in {path.name}; candidates: {', '.join(hint)}"
            )


def _frozen_graph_shapes(
    path: Path, graph_def: Any, input_names: list[str], input_shapes: Shapes
) -> Shapes:
    """Shapes for the converter: the user's, else a Placeholder's shape with batch 1."""
    unknown = [n for n in input_shapes if n not in input_names and _node_name(n) not in input_names]
    if unknown:
        raise ModelError(
            f"--input-shape names {', '.join(unknown)} but the inputs of {path.name} are "
            f"{', '.join(input_names)}"
        )
    by_name = {n.name: n for n in graph_def.node}
    shapes: Shapes = {}
    for name in input_names:
        node = _node_name(name)
        given = input_shapes.get(name, input_shapes.get(node))
        if given is not None:
            shapes[node] = tuple(given)
            continue
        attr = by_name[node].attr
        if by_name[node].op != "Placeholder" or "shape" not in attr:
            continue
        proto = attr["shape"].shape
        if proto.unknown_rank:
            continue
        dims = [d.size for d in proto.dim]
        if dims and dims[0] == -1:
            shapes[node] = (1, *dims[1:])
    return shapes


# --------------------------------------------------------------------------- the converter


def _configure_and_convert(converter: Any) -> bytes:
    tf = tensorflow()

    converter.optimizations = []
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    return bytes(converter.convert())


def _run_converter(path: Path, convert: Callable[[], bytes]) -> bytes:
    """Run the converter quietly; any failure becomes one line naming the model."""
    with _captured_output() as captured:
        try:
            return convert()
        except ModelError:
            raise
        except Exception as exc:
            reason = _converter_reason(str(exc)) or _converter_reason(captured()) or _one_line(exc)
    raise ModelError(f"cannot convert {path.name} to TFLite: {reason}")


_ERROR_LINE = re.compile(r"error:\s*(.+)")
# MLIR prefixes diagnostics with their location: loc(fused["Svd:", "Svd"]): 'tf.Svd' op is ...
_MLIR_LOCATION = re.compile(r"^loc\((?:[^()]|\([^()]*\))*\)\s*:\s*")


def _converter_reason(text: str) -> str:
    """The first ``error: ...`` line of the converter's (MLIR) diagnostics, if any."""
    for line in text.splitlines():
        match = _ERROR_LINE.search(line)
        if match:
            return _shorten(match.group(1))
    return ""


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    for line in text.splitlines():
        if line.strip():
            return _shorten(line.strip())
    return type(exc).__name__


def _shorten(text: str, limit: int = 240) -> str:
    text = _MLIR_LOCATION.sub("", " ".join(text.split()))
    return text if len(text) <= limit else text[: limit - 1] + "…"


@contextlib.contextmanager
def _captured_output() -> Iterator[Callable[[], str]]:
    """Send fd 1 and 2 (C++ logs) and ``sys.stdout``/``sys.stderr`` to a temporary file.

    Yields a function that returns what was captured so far, for error messages.
    """
    with tempfile.TemporaryFile(mode="w+b") as sink:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        saved = []
        for fd in (1, 2):
            try:
                saved.append((fd, os.dup(fd)))
                os.dup2(sink.fileno(), fd)
            except OSError:
                continue

        def captured() -> str:
            sink.flush()
            sink.seek(0)
            return sink.read().decode("utf-8", "replace")

        py_sink = open(os.dup(sink.fileno()), "w", encoding="utf-8", closefd=True)  # noqa: SIM115
        try:
            with contextlib.redirect_stdout(py_sink), contextlib.redirect_stderr(py_sink):
                yield captured
        finally:
            py_sink.flush()
            py_sink.close()
            for fd, copy in saved:
                os.dup2(copy, fd)
                os.close(copy)
