"""Run a model file on a list of input sets: the one place compression calls a runtime.

Scenarios and cut codecs only need "outputs by name for these inputs": the model's format
(:mod:`splitbench.formats`) opens a session on this host, as the lossless check does.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from splitbench.errors import ModelError


def run_model(path: Path, feeds: Sequence[Mapping[str, np.ndarray]]) -> list[dict[str, np.ndarray]]:
    """Outputs of ``path`` for every input set, by output name."""
    from splitbench.formats import format_of_file
    from splitbench.formats.base import PartFailure

    try:
        session = format_of_file(Path(path)).open_session(Path(path), 1)
        return [session.run(f) for f in feeds]
    except PartFailure as exc:
        raise ModelError(f"{Path(path).name} cannot run here: {exc}") from None


def input_specs(path: Path) -> list[dict]:
    """name, shape and dtype of each model input."""
    from splitbench.formats import format_of_file

    specs = format_of_file(Path(path)).input_specs(Path(path))
    return [
        {"name": s.name, "shape": tuple(s.shape), "dtype": np.dtype(s.dtype), "layout": s.layout}
        for s in specs
    ]
