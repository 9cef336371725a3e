"""The compact split table printed by ``sweep`` and ``report`` (the CSV/XLSX hold every column)."""

from __future__ import annotations

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
    view = Table(title=f"splits (client {client}); times in ms, sizes in KB", box=None)
    for col in ("k:N-k", "client", "server", "cut", "head", "lossless"):
        view.add_column(col, justify="right", no_wrap=True)
    for cfg in networks:
        view.add_column(f"e2e {cfg.name}", justify="right", no_wrap=True)
    for _, row in table.iterrows():
        k = int(row["split"])
        lossless = "bit-exact" if row.get("bit_exact") is True else fmt(row["max_abs_diff"], 6)
        cells = [
            f"{row['on_client']}:{row['on_server']}",
            fmt(row["client_ms"]),
            fmt(row["server_ms"]),
            fmt(row["intermediate_bytes"] / 1024, 1),
            fmt(row["head_model_bytes"] / 1024, 1),
            lossless,
        ]
        for cfg in networks:
            cell = fmt(row[f"e2e_ms_{cfg.name}"])
            cells.append(f"[bold green]{cell}[/]" if best.get(cfg.name) == k else cell)
        view.add_row(*cells)
    console.print(view)
    for cfg in networks:
        if cfg.name in best:
            k = best[cfg.name]
            row = table.loc[table["split"] == k].iloc[0]
            console.print(
                f"best split for {cfg.name} ({cfg.uplink_mbps:g}/{cfg.downlink_mbps:g} Mbit/s, "
                f"RTT {cfg.rtt_ms:g} ms): {k}:{int(row['on_server'])}, "
                f"{fmt(row[f'e2e_ms_{cfg.name}'])} ms end to end"
            )
