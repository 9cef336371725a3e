"""Model formats behind one interface (see :mod:`splitbench.formats.base`).

``FORMAT_NAMES`` lists them; each lives in ``splitbench.formats.<name>`` and is imported only
when a file of that format is met.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from splitbench.errors import ModelError
from splitbench.formats.base import Format

FORMAT_NAMES: tuple[str, ...] = ("tflite", "onnx", "executorch")


def get_format(name: str) -> Format:
    """The format called ``name`` (``ModelGraph.format``)."""
    if name not in FORMAT_NAMES:
        raise ModelError(f"unknown model format '{name}' (known: {', '.join(FORMAT_NAMES)})")
    module = importlib.import_module(f"splitbench.formats.{name}")
    return module.FORMAT  # type: ignore[no-any-return]


def format_of_file(path: Path) -> Format:
    """The format of a model file, by its suffix, else by its first bytes.

    A file no format recognises raises a one-line :class:`ModelError`; a file that claims a
    format but is broken is left to that format's loader, which names what is wrong.
    """
    path = Path(path)
    formats = [get_format(name) for name in FORMAT_NAMES]
    for fmt in formats:
        if path.suffix.lower() == fmt.suffix:
            return fmt
    if not path.exists():
        raise ModelError(f"model file not found: {path}")
    if path.is_dir():
        raise ModelError(f"{path} is a directory, not a model file")
    with path.open("rb") as handle:
        head = handle.read(64)
    for fmt in formats:
        if fmt.sniff(path, head):
            return fmt
    # Not recognised: the first format's loader gives its usual one-line refusal.
    return formats[0]
