"""Turning the MODEL argument into a model file, shared by the commands that take a model."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from splitbench.model_source import ResolvedModel


def resolve(
    model: str,
    workdir: Path,
    input_names: str | None,
    output_names: str | None,
    input_shape: list[str] | None,
    fmt: str | None = None,
) -> tuple[ResolvedModel, dict[str, tuple[int, ...]] | None]:
    """The model's file (converted into ``workdir`` when needed) and the input shapes the later
    stages still have to apply (None once a conversion has fixed them in the file)."""
    from splitbench.cli_options import parse_input_shapes, parse_names
    from splitbench.model_source import resolve_model

    shapes = parse_input_shapes(input_shape or [])
    resolved = resolve_model(
        model,
        workdir=workdir,
        input_names=parse_names(input_names, "--input-names"),
        output_names=parse_names(output_names, "--output-names"),
        input_shapes=shapes,
        fmt=fmt,
    )
    if resolved.shapes_in_file:
        shapes = None
    if resolved.converted:
        # Check the converted file now, so that an error names what the user gave, not the
        # converted file's name in the run directory.
        from splitbench.errors import ModelError
        from splitbench.graph import load_graph

        try:
            load_graph(resolved.path, shapes)
        except ModelError as exc:
            raise ModelError(_named_as_given(str(exc), resolved.path, model)) from None
    return resolved, shapes


def _named_as_given(message: str, path: Path, model: str) -> str:
    """``message`` with the file the loader read (its path, or its name alone) replaced by what
    the user typed, each mention once: one pass, so a path that already is ``model`` (an ONNX
    file used as it is) is not named twice (``models/models/x.onnx``)."""
    import re

    pattern = "|".join(re.escape(text) for text in (str(path), path.name))
    return re.sub(pattern, lambda _: model, message)
