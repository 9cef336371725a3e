"""Parsing of command-line values that typer cannot parse by itself."""

from __future__ import annotations

from splitbench.errors import SplitPointError


def parse_split_list(text: str) -> list[int]:
    """``"0,5,10-12"`` → ``[0, 5, 10, 11, 12]``."""
    out: list[int] = []
    for piece in text.split(","):
        piece = piece.strip()
        if not piece:
            continue
        try:
            if "-" in piece:
                lo, hi = (int(p) for p in piece.split("-", 1))
                out += list(range(lo, hi + 1))
            else:
                out.append(int(piece))
        except ValueError:
            raise SplitPointError(
                f"cannot read split list '{text}': use numbers and ranges like 0,5,10-20"
            ) from None
    return out


def parse_input_shapes(values: list[str]) -> dict[str, tuple[int, ...]] | None:
    """``["image:1,224,224,3"]`` → ``{"image": (1, 224, 224, 3)}`` (None when none given)."""
    if not values:
        return None
    from splitbench.model_source import parse_input_shape

    return dict(parse_input_shape(value) for value in values)


def parse_names(text: str | None) -> list[str] | None:
    if not text:
        return None
    return [n.strip() for n in text.split(",") if n.strip()]
