"""Sizes as the kit says them, one convention everywhere (stated in docs/columns.md): the CSVs
hold bytes; wherever a size is converted, 1 KB = 1,024 bytes and 1 MB = 1,024 KB (the seeds'
tables and the memory KPIs count the same way)."""

from __future__ import annotations

KB = 1024
MB = 1024 * KB
GB = 1024 * MB


def mb_text(nbytes: float, digits: int = 1) -> str:
    """``nbytes`` in MB, e.g. ``12.7 MB`` for PoseNet's 13,274,584 bytes."""
    return f"{nbytes / MB:.{digits}f} MB"
