"""The one intake for PyTorch models: a module (or an existing export) → one ``.pt2`` export.

Sources:

* ``path/to/file.py:factory`` — the file is imported under a private module name and
  ``factory()`` is called. It returns an ``nn.Module`` (then ``--input-shape`` gives the
  example input shapes), or ``(module, example_inputs)`` with a tensor or a tuple of tensors.
* ``model.pt2`` — an ``ExportedProgram`` written by ``torch.export.save``, used as it is.
* ``torchvision:NAME`` / ``facenet:NAME`` — :mod:`splitbench_models.torch_zoo`.

The module is put in eval mode and exported once with ``torch.export.export`` (non-strict,
static shapes). The export is saved under ``<workdir>/pytorch/<name>-<sha256[:16]>.pt2``, named
by the digest of its own bytes, and an index beside it maps the source (file digest, factory,
shapes, torch version) to that file, so a rerun of the same run directory does not export again.
Every failure — no such factory, a factory that raises or returns something else, an export
that fails — is one line naming the cause (:class:`~splitbench.errors.ModelError`).
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import inspect
import io
import json
import logging
import os
import re
import sys
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from splitbench.errors import ModelError

PT2_SUFFIX = ".pt2"
_EXAMPLE_SEED = 0


@dataclass(frozen=True)
class TorchExport:
    """A PyTorch model after intake: its export file and what the later stages need to know."""

    path: Path  # the .pt2 file (in the run directory, or the user's own .pt2)
    name: str  # display name: "torchvision:mobilenet_v2", "model", ...
    input_names: tuple[str, ...]  # user inputs of the exported program, in order
    input_shapes: tuple[tuple[int, ...], ...]


def is_pytorch_spec(spec: str) -> bool:
    """Does MODEL name a PyTorch source (so the PyTorch intake handles it)?"""
    from splitbench_models.torch_zoo import is_zoo_name

    if is_zoo_name(spec):
        return True
    file_part, _, _ = spec.rpartition(":")
    return spec.lower().endswith((PT2_SUFFIX, ".py")) or file_part.lower().endswith(".py")


def intake(
    spec: str, *, workdir: Path, input_shapes: Mapping[str, tuple[int, ...]] | None = None
) -> TorchExport:
    """Bring a PyTorch MODEL argument to one exported program (see the module docstring)."""
    from splitbench_models.torch_zoo import build_zoo_model, is_zoo_name

    if spec.lower().endswith(PT2_SUFFIX):
        return _existing_export(Path(spec).expanduser())
    if is_zoo_name(spec):
        key = _key("zoo", spec, input_shapes)
        cached = _cached(workdir, key)
        if cached is not None:
            return cached
        module, default_shape = build_zoo_model(spec)
        shapes = _shapes_for(module, input_shapes, spec, default=default_shape)
        return _export(module, _random_inputs(shapes), spec, workdir, key)
    path, factory = _split_factory(spec)
    key = _key("file", hashlib.sha256(path.read_bytes()).hexdigest() + ":" + factory, input_shapes)
    _import_file(path)  # its custom operators, if any, before a cached export is read
    cached = _cached(workdir, key)
    if cached is not None:
        return cached
    module, examples = _call_factory(path, factory)
    if examples is None:
        shapes = _shapes_for(module, input_shapes, f"{path.name}:{factory}")
        examples = _random_inputs(shapes)
    elif input_shapes:
        raise ModelError(
            f"{path.name}:{factory} returns example inputs, so --input-shape is not used;"
            " drop it or return the module alone"
        )
    return _export(module, examples, path.stem, workdir, key)


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """torch.export and the converters print graphs, warnings and progress to stdout/stderr
    (Python logging and native code alike); the kit's contract is one line for an error, which
    the exception carries. Everything printed meanwhile is dropped."""
    from splitbench.measure.quiet import native_stderr_silenced

    sink = io.StringIO()
    with (
        contextlib.redirect_stdout(sink),
        contextlib.redirect_stderr(sink),
        native_stderr_silenced(),
    ):
        yield


def load_program(path: Path) -> Any:
    """The ``torch.export.ExportedProgram`` in ``path`` (one line if it cannot be read).

    The archive is checked first (a zip holding torch's ``archive_format`` record): on a file
    that is not one, ``torch.export.load`` logs its own traceback before raising an error that
    points at "the warnings above". Its logger is also held at ERROR while it reads, so a
    damaged archive that passes the check still ends in the one line."""
    import torch

    _check_archive(path)
    export_log = logging.getLogger("torch.export")
    level = export_log.level
    export_log.setLevel(logging.ERROR)
    try:
        return torch.export.load(str(path))
    except Exception as exc:  # torch raises many types for a bad archive
        raise _unreadable(path, _first(exc)) from None
    finally:
        export_log.setLevel(level)


def _check_archive(path: Path) -> None:
    """One line for a file ``torch.export.save`` cannot have written."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, OSError) as exc:
        reason = "not a zip archive" if isinstance(exc, zipfile.BadZipFile) else _first(exc)
        raise _unreadable(path, reason) from None
    # "version" at the top: the older layout torch.export.load still reads
    if "version" not in names and not any(n.rpartition("/")[2] == "archive_format" for n in names):
        raise _unreadable(path, "a zip archive without torch.export's archive_format record")


def _unreadable(path: Path, reason: str) -> ModelError:
    return ModelError(f"{path} is not a readable torch.export .pt2 file: {reason}")


def example_inputs(program: Any) -> tuple[Any, ...]:
    """Seeded random inputs of the program's input shapes and dtypes (positional order)."""
    import torch

    generator = torch.Generator().manual_seed(_EXAMPLE_SEED)
    out = []
    for spec in _user_input_metas(program):
        if spec.dtype.is_floating_point:
            out.append(torch.rand(spec.shape, generator=generator, dtype=spec.dtype) - 0.5)
        else:
            out.append(torch.randint(0, 100, spec.shape, generator=generator).to(spec.dtype))
    return tuple(out)


# --- sources -----------------------------------------------------------------------------------


def _split_factory(spec: str) -> tuple[Path, str]:
    file_part, sep, factory = spec.rpartition(":")
    if not sep or not file_part.lower().endswith(".py"):
        raise ModelError(f"'{spec}': name the factory in the file, like model.py:make_model")
    path = Path(file_part).expanduser()
    if not path.is_file():
        raise ModelError(f"model file not found: {file_part}")
    if not factory.isidentifier():
        raise ModelError(f"'{factory}' is not a Python function name (in {spec})")
    return path, factory


def _import_file(path: Path) -> Any:
    """The user's model file as a module, imported once per process. Imported before a cached
    export is read too: a file that registers custom operators must have run first, or the
    ``.pt2`` that uses them cannot be loaded."""
    name = "_splitbench_user_" + hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:12]
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ModelError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        del sys.modules[name]
        raise ModelError(f"importing {path.name} failed: {_first(exc)}") from None
    return module


def _call_factory(path: Path, factory: str) -> tuple[Any, tuple[Any, ...] | None]:
    import torch

    module = _import_file(path)
    name = module.__name__
    fn = getattr(module, factory, None)
    if not callable(fn):
        found = sorted(
            n for n, v in vars(module).items() if inspect.isfunction(v) and v.__module__ == name
        )
        hint = f" (its functions: {', '.join(found)})" if found else ""
        raise ModelError(f"{path.name} has no function '{factory}'{hint}")
    try:
        result = fn()
    except Exception as exc:
        raise ModelError(f"{path.name}:{factory}() raised {_first(exc)}") from None
    examples = None
    if isinstance(result, tuple) and len(result) == 2 and isinstance(result[0], torch.nn.Module):
        result, examples = result
        examples = (examples,) if isinstance(examples, torch.Tensor) else tuple(examples)
        if not all(isinstance(e, torch.Tensor) for e in examples):
            raise ModelError(
                f"{path.name}:{factory}() returned example inputs that are not tensors"
            )
    if not isinstance(result, torch.nn.Module):
        raise ModelError(
            f"{path.name}:{factory}() returned {type(result).__name__}, not a torch.nn.Module"
            " (or a (module, example_inputs) pair)"
        )
    return result.eval(), examples


def _forward_inputs(module: Any) -> list[str]:
    params = inspect.signature(module.forward).parameters.values()
    return [
        p.name
        for p in params
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty
    ]


def _shapes_for(
    module: Any,
    given: Mapping[str, tuple[int, ...]] | None,
    where: str,
    default: tuple[int, ...] | None = None,
) -> list[tuple[int, ...]]:
    names = _forward_inputs(module)
    if not given:
        if default is not None and len(names) == 1:
            return [default]
        example = "1,3,224,224" if len(names) <= 1 else ", ".join(f"{n}:1,3,224,224" for n in names)
        raise ModelError(f"{where} needs the shape of its input(s): pass --input-shape {example}")
    if "" in given:
        if len(names) != 1 or len(given) != 1:
            raise ModelError(
                f"{where} has {len(names)} inputs ({', '.join(names)}): name each one,"
                " --input-shape NAME:1,3,224,224"
            )
        return [given[""]]
    unknown = [n for n in given if n not in names]
    missing = [n for n in names if n not in given]
    if unknown or missing:
        raise ModelError(
            f"--input-shape for {where} must name its inputs {', '.join(names)}"
            + (f" (unknown: {', '.join(unknown)})" if unknown else "")
            + (f" (missing: {', '.join(missing)})" if missing else "")
        )
    return [given[n] for n in names]


def _random_inputs(shapes: list[tuple[int, ...]]) -> tuple[Any, ...]:
    import torch

    generator = torch.Generator().manual_seed(_EXAMPLE_SEED)
    return tuple(torch.rand(s, generator=generator) - 0.5 for s in shapes)


# --- export ------------------------------------------------------------------------------------


def _export(
    module: Any, examples: tuple[Any, ...], name: str, workdir: Path, key: str
) -> TorchExport:
    import torch

    from splitbench.steps import announce

    announce(f"{name}: exporting with torch.export (first use only; later runs reuse it)")
    try:
        with torch.no_grad(), quiet():
            program = torch.export.export(module, examples, strict=False)
    except Exception as exc:
        raise ModelError(f"torch.export of {name} failed: {_export_reason(exc)}") from None
    folder = workdir / "pytorch"
    folder.mkdir(parents=True, exist_ok=True)
    partial = folder / f".export-{os.getpid()}.partial.pt2"
    torch.export.save(program, str(partial))
    digest = hashlib.sha256(partial.read_bytes()).hexdigest()
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", name)
    path = folder / f"{stem}-{digest[:16]}{PT2_SUFFIX}"
    os.replace(partial, path)
    index = _read_index(folder)
    index[key] = {"file": path.name, "name": name}
    (folder / "index.json").write_text(json.dumps(index, indent=1))
    return _describe(path, name, program)


def _existing_export(path: Path) -> TorchExport:
    if not path.is_file():
        raise ModelError(f"model file not found: {path}")
    return _describe(path, path.stem, load_program(path))


def _describe(path: Path, name: str, program: Any) -> TorchExport:
    metas = _user_input_metas(program)
    return TorchExport(
        path=path,
        name=name,
        input_names=tuple(m.name for m in metas),
        input_shapes=tuple(tuple(int(d) for d in m.shape) for m in metas),
    )


@dataclass(frozen=True)
class _InputMeta:
    name: str
    shape: tuple[int, ...]
    dtype: Any


def _user_input_metas(program: Any) -> list[_InputMeta]:
    from torch.export.graph_signature import InputKind

    placeholders = {n.name: n for n in program.graph.nodes if n.op == "placeholder"}
    metas = []
    for spec in program.graph_signature.input_specs:
        if spec.kind != InputKind.USER_INPUT:
            continue
        node = placeholders[spec.arg.name]
        value = node.meta.get("val")
        if value is None or not hasattr(value, "shape"):
            raise ModelError(f"input {spec.arg.name} of the exported program is not a tensor")
        try:
            shape = tuple(int(d) for d in value.shape)
        except (TypeError, ValueError):
            raise ModelError(
                f"input {spec.arg.name} of the exported program has a dynamic shape"
                f" {list(value.shape)}: export with static shapes"
            ) from None
        metas.append(_InputMeta(spec.arg.name, shape, value.dtype))
    return metas


def _key(kind: str, source: str, shapes: Mapping[str, tuple[int, ...]] | None) -> str:
    import torch

    text = json.dumps([kind, source, sorted((shapes or {}).items()), torch.__version__])
    return hashlib.sha256(text.encode()).hexdigest()


def _read_index(folder: Path) -> dict[str, Any]:
    try:
        data = json.loads((folder / "index.json").read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _cached(workdir: Path, key: str) -> TorchExport | None:
    folder = workdir / "pytorch"
    entry = _read_index(folder).get(key)
    if not isinstance(entry, dict) or not (folder / str(entry.get("file"))).is_file():
        return None
    path = folder / str(entry["file"])
    return _describe(path, str(entry.get("name", path.stem)), load_program(path))


def _first(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    text = lines[0] if lines else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _export_reason(exc: BaseException) -> str:
    """The informative line of a torch.export failure: the unsupported operator or the
    data-dependent / dynamic-shape problem, not the tracing boilerplate around it."""
    text = str(exc)
    for pattern in (
        r"(Could not guard on data-dependent expression[^\n]*)",
        r"(Could not extract specialized integer from data-dependent expression[^\n]*)",
        r"(Constraints violated[^\n]*)",
        r"(Unsupported[^\n]*)",
        r"(.*is not supported[^\n]*)",
        r"(No such operator[^\n]*)",
        r"(Dynamic control flow[^\n]*)",
    ):
        match = re.search(pattern, text)
        if match:
            return f"{type(exc).__name__}: {match.group(1).strip()}"
    return _first(exc)


# --- the module itself -------------------------------------------------------------------------


@dataclass(frozen=True)
class TorchModule:
    """A PyTorch model as a module (eval mode), for what works on the module itself rather than
    on its export: coding its ``state_dict()``."""

    module: Any  # torch.nn.Module
    name: str
    input_names: tuple[str, ...]
    input_shapes: tuple[tuple[int, ...], ...]
    input_dtypes: tuple[Any, ...]  # torch dtypes


def load_module(
    spec: str, input_shapes: Mapping[str, tuple[int, ...]] | None = None
) -> TorchModule:
    """The module of a built-in name or ``file.py:factory`` (the same factories and one-line
    errors as :func:`intake`); a ``.pt2`` export has no module of its own and is refused."""
    import torch
    from splitbench_models.torch_zoo import build_zoo_model, is_zoo_name

    if spec.lower().endswith(PT2_SUFFIX):
        raise ModelError(
            f"{Path(spec).name} is a torch.export program, not a module with a state dict: give"
            " its factory (file.py:factory), or compress its TFLite conversion (--format tflite)"
        )
    if is_zoo_name(spec):
        module, default_shape = build_zoo_model(spec)
        shapes = _shapes_for(module, input_shapes, spec, default=default_shape)
        name, dtypes = spec, tuple(torch.float32 for _ in shapes)
    else:
        path, factory = _split_factory(spec)
        module, examples = _call_factory(path, factory)
        name = path.stem
        if examples is None:
            shapes = _shapes_for(module, input_shapes, f"{path.name}:{factory}")
            dtypes = tuple(torch.float32 for _ in shapes)
        else:
            shapes = [tuple(int(d) for d in e.shape) for e in examples]
            dtypes = tuple(e.dtype for e in examples)
    names = _forward_inputs(module)
    if len(names) != len(shapes):
        names = [f"input{i}" for i in range(len(shapes))]
    return TorchModule(module.eval(), name, tuple(names), tuple(tuple(s) for s in shapes), dtypes)
