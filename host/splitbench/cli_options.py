"""Parsing of command-line values that typer cannot parse by itself."""

from __future__ import annotations

from splitbench.errors import SplitPointError


def parse_split_list(text: str) -> list[int]:
    """``"0,5,10-12"`` → ``[0, 5, 10, 11, 12]``.

    A selection that names nothing (``","``, ``"5-2"``) is an error, not an empty sweep: a
    command that measures nothing must not look like one that succeeded."""
    out: list[int] = []
    for piece in text.split(","):
        piece = piece.strip()
        if not piece:
            continue
        try:
            if "-" in piece[1:]:
                cut = piece.index("-", 1)
                lo, hi = int(piece[:cut]), int(piece[cut + 1 :])
                if hi < lo:
                    raise SplitPointError(
                        f"split range '{piece}' is empty (it ends before it starts); "
                        f"did you mean {hi}-{lo}?"
                    )
                out += list(range(lo, hi + 1))
            else:
                out.append(int(piece))
        except ValueError:
            raise SplitPointError(
                f"cannot read split list '{text}': use numbers and ranges like 0,5,10-20"
            ) from None
    if not out:
        raise SplitPointError(
            f"split list '{text}' names no split: use numbers and ranges like 0,5,10-20"
        )
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
