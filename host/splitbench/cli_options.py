"""Parsing of command-line values that typer cannot parse by itself."""

from __future__ import annotations

from splitbench.errors import SplitbenchError, SplitPointError


def comma_list(
    text: str,
    option: str,
    example: str,
    what: str = "value",
    error: type[SplitbenchError] = SplitbenchError,
) -> list[str]:
    """The items of a comma-separated option value, stripped — the one parser of every such
    option (``--splits``, ``--at``, ``--qp``, ``--coder``, ``--incremental``, ``--input-names``,
    ``--output-names``).

    A value that names nothing (``","``) or has an empty item (``"-20,,-30"``, ``"5,"``) is
    one line naming the option: skipping the gap would run something else than was asked (the
    default, or fewer items) and look like success."""
    items = [item.strip() for item in text.split(",")]
    if not any(items):
        raise error(f"{option} '{text}' names no {what}: give a list like {example}")
    if "" in items:
        raise error(
            f"{option} '{text}' has an empty {what} (two commas, or one at an end): "
            f"give a list like {example}"
        )
    return items


def parse_int_list(text: str, option: str, example: str) -> list[int]:
    """``"-20,-30"`` → ``[-20, -30]``; anything else is one line naming ``option``."""
    items = comma_list(text, option, example)
    try:
        return [int(item) for item in items]
    except ValueError:
        raise SplitbenchError(
            f"{option} '{text}' must be integers separated by commas, like {example}"
        ) from None


def parse_split_list(text: str, option: str = "--splits") -> list[int]:
    """``"0,5,10-12"`` → ``[0, 5, 10, 11, 12]``.

    A selection that names nothing (``","``, ``"5-2"``) is an error, not an empty sweep: a
    command that measures nothing must not look like one that succeeded."""
    example = "0,5,10-20"
    out: list[int] = []
    for piece in comma_list(text, option, example, what="split", error=SplitPointError):
        try:
            if "-" in piece[1:]:
                cut = piece.index("-", 1)
                lo, hi = int(piece[:cut]), int(piece[cut + 1 :])
                if hi < lo:
                    raise SplitPointError(
                        f"{option}: split range '{piece}' is empty (it ends before it starts); "
                        f"did you mean {hi}-{lo}?"
                    )
                out += list(range(lo, hi + 1))
            else:
                out.append(int(piece))
        except ValueError:
            raise SplitPointError(
                f"{option}: cannot read split list '{text}': use numbers and ranges like {example}"
            ) from None
    return out


def parse_input_shapes(values: list[str]) -> dict[str, tuple[int, ...]] | None:
    """``["image:1,224,224,3"]`` → ``{"image": (1, 224, 224, 3)}`` (None when none given)."""
    if not values:
        return None
    from splitbench.model_source import parse_input_shape

    return dict(parse_input_shape(value) for value in values)


def parse_names(text: str | None, option: str) -> list[str] | None:
    """``--input-names``/``--output-names`` of a frozen graph (None when not given)."""
    if text is None:
        return None
    return comma_list(text, option, "image,scores", what="tensor name")
