"""The whole model on the ExecuTorch route: its edge program (decomposed once, kept on disk), its
``.pte`` lowered with XNNPACK, and the :class:`~splitbench.graph.ModelGraph` of its split units.

The file the rest of the pipeline sees is the whole model's ``.pte`` (what is measured as "the
whole model" and what head→tail is checked against). It sits beside the ``torch.export`` file it
was lowered from and names it in its :data:`~.lower.IO_METHOD` metadata, so the graph of split
units is read from that export. A ``.pte`` without such an export beside it (the user's own
lowered program, or a part) cannot be split again: a lowered program no longer has the graph.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from splitbench.errors import ModelError
from splitbench.formats.executorch.lower import (
    IO_METHOD,
    LOWERING_VERSION,
    EdgeModel,
    PartCache,
    _op_name,
    _ops_by_name,
    edge_model,
    executorch_version,
    part_meta,
    save_program,
)
from splitbench.formats.executorch.lower import (
    load_program as load_edge_program,
)
from splitbench.formats.executorch.splitter import whole_spec
from splitbench.formats.executorch.units import program_units

_EDGES: dict[str, EdgeModel] = {}  # by export sha256: decompositions once per process
NOT_SPLITTABLE = (
    "a lowered ExecuTorch program (.pte) cannot be split again: give the PyTorch model it came "
    "from (file.py:factory, a torch.export .pt2, torchvision:NAME or facenet:NAME) with "
    "--format executorch"
)


def cache_root(export: Path) -> Path:
    """Where the edge program and the lowered parts of ``export`` are kept: beside it."""
    return Path(export).parent / "executorch"


def _sha(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def load_edge(export: Path) -> EdgeModel:
    """The edge program of ``export``: decomposed once, then read back from the cache."""
    sha = _sha(export)
    if sha in _EDGES:
        return _EDGES[sha]
    root = cache_root(export)
    key = hashlib.sha256(
        json.dumps([sha, executorch_version(), LOWERING_VERSION]).encode()
    ).hexdigest()[:32]
    saved, info = root / f"edge-{key}.ep", root / f"edge-{key}.json"
    edge: EdgeModel | None = None
    if saved.is_file() and info.is_file():
        data = json.loads(info.read_text())
        try:
            program = load_edge_program(saved)
            edge = EdgeModel(
                program=program,
                units=program_units(program),
                sha256=data["sha256"],
                preserved_ops=_ops_by_name(data["preserved_ops"]),
                saved=saved,
            )
        except Exception:
            edge = None
    if edge is None:
        from splitbench.intake.pytorch import load_program

        exported = load_program(export)
        try:
            edge = edge_model(exported)
        except Exception as exc:
            raise ModelError(
                f"ExecuTorch cannot take {export.name} to the edge dialect: {_first(exc)}"
            ) from None
        save_program(edge.program, saved)
        edge.saved = saved
        info.write_text(
            json.dumps(
                {"sha256": edge.sha256, "preserved_ops": [_op_name(o) for o in edge.preserved_ops]}
            )
        )
    _EDGES[sha] = edge
    return edge


def _first(exc: BaseException) -> str:
    """The first line of ``exc``, with the operator it is about where the verifier names one
    further down ("Operator: <EdgeOpOverload: aten.abs.default>: ..."), so the line says which."""
    import re

    text = str(exc)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        return type(exc).__name__
    first = lines[0][:240].rstrip(":")
    found = re.search(r"OpOverload: ([\w.:]+)>", text)
    if found and found.group(1) not in first:
        first = f"operator {found.group(1)}: {first}"
    return f"{type(exc).__name__}: {first}"


def whole_pte(export: Path, jobs: int = 1) -> Path:
    """The whole model lowered with XNNPACK, beside the export (made once)."""
    from splitbench.formats.executorch.lower import LoweringError
    from splitbench.steps import announce

    out = Path(export).with_name(f"{Path(export).stem}.executorch-{executorch_version()}.pte")
    if not out.is_file():
        announce(f"{Path(export).stem}: lowering to ExecuTorch with XNNPACK (first use only)")
    edge = load_edge(export)
    spec = whole_spec(edge.units)
    meta = part_meta(spec, export=Path(export).name, role="whole")
    cache = PartCache(edge, cache_root(export), jobs)
    try:
        part = cache.get(spec, meta=meta)
    except LoweringError as exc:
        raise ModelError(f"ExecuTorch cannot lower {Path(export).name}: {exc}") from None
    if not out.is_file() or out.stat().st_size != part.nbytes:
        tmp = out.with_name(out.name + ".partial")
        tmp.write_bytes(part.path.read_bytes())
        tmp.replace(out)
    return out


def read_meta(pte: Path | bytes) -> dict[str, Any] | None:
    """The :data:`IO_METHOD` metadata of a ``.pte`` made by splitbench, else None."""
    from splitbench.formats.executorch.runner import PteFailure, load_program_only

    try:
        program = load_program_only(pte)
    except PteFailure:
        raise
    if IO_METHOD not in program.method_names:
        return None
    try:
        values = program.load_method(IO_METHOD).execute([])
    except (RuntimeError, ValueError):
        return None
    try:
        data = json.loads(values[0])
    except (TypeError, ValueError, IndexError):
        return None
    return data if isinstance(data, dict) else None


def export_for(pte: Path) -> Path:
    """The export a whole-model ``.pte`` was lowered from; one line when there is none."""
    from splitbench.formats.executorch.runner import PteFailure

    try:
        meta = read_meta(pte)
    except PteFailure as failure:
        raise ModelError(f"{pte.name}: {failure.detail}") from None
    export = meta.get("export") if meta else None
    if not export or not (pte.parent / export).is_file():
        raise ModelError(f"{pte.name}: {NOT_SPLITTABLE}")
    return pte.parent / export
