"""The compact split table printed by ``sweep`` and ``report`` (the CSV/XLSX hold every column)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.table import Table

from splitbench.cli.app import console


def fmt(value: object, digits: int = 2) -> str:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return "-"
    return "-" if number != number else f"{number:.{digits}f}"


def print_table(table, networks, client: str, best: dict[str, int]) -> None:  # type: ignore[no-untyped-def]
    """A compact view of the split table; the CSV/XLSX hold every column."""
    from splitbench.report.split_stats import STATISTIC, verdicts_of

    quick = _preset(table) == "quick"
    statistic = table.attrs.get(STATISTIC)
    verdicts = verdicts_of(table)
    unit = f"ms ({statistic})" if statistic else "ms"
    who = _client(table, client)
    title = f"splits (client {who}); times in {unit}, sizes in KB"
    if quick:
        title = f"QUICK first look — splits (client {who}); times in {unit} ± std, sizes in KB"
    title += "; ! unstable part, * tied for best"
    view = Table(title=title, box=None)
    modules = "after_module" in table.columns  # a model from PyTorch: "cut after layer2"
    for col in ("k:N-k", *(("after",) if modules else ()), "client", "server", "cut", "head"):
        view.add_column(col, justify="right", no_wrap=True)
    view.add_column("lossless", justify="right", no_wrap=True)
    for cfg in networks:
        view.add_column(f"e2e {cfg.name}", justify="right", no_wrap=True)
    raced = "race" in table.columns  # --strategy race: which splits it stopped measuring
    if raced:
        view.add_column("race", no_wrap=True)
    for _, row in table.iterrows():
        k = int(row["split"])
        lossless = "bit-exact" if row.get("bit_exact") is True else fmt(row["max_abs_diff"], 6)
        cells = [
            f"{row['on_client']}:{row['on_server']}",
            *((str(row["after_module"]),) if modules else ()),
            _time(row, "client", quick),
            _time(row, "server", quick),
            fmt(row["intermediate_bytes"] / 1024, 1),
            fmt(row["head_model_bytes"] / 1024, 1),
            lossless,
        ]
        for cfg in networks:
            cell = fmt(row[f"e2e_ms_{cfg.name}"])
            v = verdicts.get(cfg.name)
            if v is not None and v.tied and k in v.contenders:
                cell = f"[bold yellow]{cell}*[/]"
            elif best.get(cfg.name) == k:
                cell = f"[bold green]{cell}[/]"
            cells.append(cell)
        if raced:
            cells.append(str(row["race"]))
        view.add_row(*cells)
    console.print(view)
    if "cut_coded_bytes" in table.columns:
        _print_coded_table(table, networks, client)
    for cfg in networks:
        if cfg.name in best:
            line = best_line(table, cfg, best[cfg.name], verdicts.get(cfg.name))
            console.print(line, highlight=False, soft_wrap=True)
    print_spread_note(table)
    print_unstable(table)


def print_notes(notes: dict[str, str]) -> None:
    """The run-level notes (e.g. why splits have no per-operator prediction), once each."""
    for key, text in notes.items():
        console.print(f"note: {key.replace('_', ' ')}: {text}", highlight=False, soft_wrap=True)


def print_wrote(paths: list[Path]) -> None:
    """The files written, on one line (never wrapped inside a path)."""
    console.print("wrote " + ", ".join(str(p) for p in paths), highlight=False, soft_wrap=True)


def print_removed(removed: list[Path]) -> None:
    """The files an earlier report wrote that this one does not (e.g. the charts of a network
    no longer in --network), now removed."""
    if removed:
        console.print(
            "removed " + ", ".join(str(p) for p in removed), highlight=False, soft_wrap=True
        )


def _print_coded_table(table, networks, client: str) -> None:  # type: ignore[no-untyped-def]
    """With ``--cut-codec``: the coded cut and its end to end per network, beside the table
    above (one table of both would not fit a terminal)."""
    codec = table["cut_codec"].iloc[0]
    view = Table(
        title=f"with --cut-codec {codec} (client {client}); times in ms, sizes in KB", box=None
    )
    for col in ("k:N-k", "cut", "coded", "encode", "decode"):
        view.add_column(col, justify="right", no_wrap=True)
    for cfg in networks:
        view.add_column(f"coded {cfg.name}", justify="right", no_wrap=True)
    for _, row in table.iterrows():
        view.add_row(
            f"{row['on_client']}:{row['on_server']}",
            fmt(row["intermediate_bytes"] / 1024, 1),
            fmt(row["cut_coded_bytes"] / 1024, 1),
            fmt(row["cut_encode_ms"]),
            fmt(row["cut_decode_ms"]),
            *(fmt(row[f"e2e_coded_ms_{cfg.name}"]) for cfg in networks),
        )
    console.print(view)


def _client(table, client: str) -> str:  # type: ignore[no-untyped-def]
    """The client's name with what it is when that is not this host (the emulated phone's
    numbers are this host's CPU's: the title says so)."""
    kind = str(table["client_kind"].iloc[0]) if "client_kind" in table and len(table) else ""
    return client if kind in ("", "this host") else f"{client}: {kind}"


def _preset(table) -> str:  # type: ignore[no-untyped-def]
    """The measurement preset the table's rows were taken with ('' when unknown)."""
    if "preset" not in table.columns or table.empty:
        return ""
    return str(table["preset"].iloc[0])


def best_line(table, cfg, k: int, v) -> str:  # type: ignore[no-untyped-def]
    """The best split of one network with its 95 % interval; when the data cannot separate
    several splits, that, plainly (the verdict's sentence), instead of a winner by noise."""
    row = table.loc[table["split"] == k].iloc[0]
    where = (
        f"best split for {cfg.name} ({cfg.uplink_mbps:g}/{cfg.downlink_mbps:g} Mbit/s, "
        f"RTT {cfg.rtt_ms:g} ms{_transport(cfg)})"
    )
    e2e = f"{fmt(row[f'e2e_ms_{cfg.name}'])} ms end to end{_interval(row, cfg.name)}"
    label = f"{k}:{int(row['on_server'])}"
    if v is not None and v.tied:
        return f"{where}: no single best — {v.text()} (lowest estimate {label}, {e2e})"
    return f"{where}: {label}, {e2e}{_tcp_note(cfg, row)}"


def _interval(row, network: str) -> str:  # type: ignore[no-untyped-def]
    lo, hi = fmt(row.get(f"e2e_lo_ms_{network}")), fmt(row.get(f"e2e_hi_ms_{network}"))
    return "" if "-" in (lo, hi) else f" (95 % interval {lo}–{hi})"


def print_unstable(table, shown: int = 3) -> None:  # type: ignore[no-untyped-def]
    """How many parts are unstable, the first few with the reason and what to do."""
    from splitbench.report.split_stats import unstable_parts

    n = int(table["on_client"].iloc[0]) + int(table["on_server"].iloc[0]) if len(table) else 0
    lines = unstable_parts(table, n)
    if not lines:
        return
    console.print(
        f"[yellow]{len(lines)} unstable part(s)[/] (marked ! above; every one in the "
        "client_unstable / server_unstable columns):",
        highlight=False,
    )
    for line in lines[:shown]:
        console.print(f"  {line}", highlight=False, soft_wrap=True)


def _time(row, side: str, spread: bool) -> str:  # type: ignore[no-untyped-def]
    """A part's time, with the standard deviation of its samples when the spread is asked
    for, and ! when the part is unstable."""
    text = fmt(row[f"{side}_ms"])
    std = fmt(row.get(f"{side}_std_ms"))
    text = f"{text} ±{std}" if spread and text != "-" and std != "-" else text
    unstable = row.get(f"{side}_unstable")
    return f"{text}!" if isinstance(unstable, str) and unstable else text


def print_spread_note(table) -> None:  # type: ignore[no-untyped-def]
    """After a quick table: how wide the spread is, and how to get the careful figures."""
    if _preset(table) != "quick":
        return
    parts = []
    for side in ("client", "server"):
        rel = (table[f"{side}_std_ms"] / table[f"{side}_ms"]).where(table[f"{side}_ms"] > 0)
        if rel.notna().any():
            parts.append(f"{side} {100 * rel.median():.0f} %")
    console.print(
        "quick: spread (std / mean, median over splits) "
        + (", ".join(parts) or "unknown")
        + "; rerun without --quick into the same --out for the careful measurements"
    )


def _transport(cfg: Any) -> str:
    if not cfg.simulated:
        return ""
    loss = f", {100 * cfg.loss:g} % loss" if cfg.loss else ""
    return f", TCP {cfg.connection} connection{loss}"


def _tcp_note(cfg: Any, row: Any) -> str:
    """For a tcp profile: the 90th percentile and the arithmetic at the same split."""
    p90, ideal = f"e2e_p90_ms_{cfg.name}", f"e2e_ideal_ms_{cfg.name}"
    if p90 not in row.index or ideal not in row.index:
        return ""
    return f" (90th percentile {fmt(row[p90])} ms; ideal arithmetic {fmt(row[ideal])} ms)"
