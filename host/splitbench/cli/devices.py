"""``splitbench devices``: the phones of every adb server asked, and the facts that matter for a
measurement."""

from __future__ import annotations

from rich.table import Table

from splitbench.cli.adb_options import AdbPortOpt, AdbServerOpt, AdbTimeoutOpt
from splitbench.cli.app import app, console, err_console
from splitbench.errors import DeviceError


@app.command()
def devices(
    adb_server: AdbServerOpt = None,
    adb_port: AdbPortOpt = None,
    adb_timeout: AdbTimeoutOpt = 10.0,
) -> None:
    """List the phones of every adb server asked, each with the server it hangs off, and one
    line per server that cannot be reached. Exits 0 when at least one server answered and, if it
    lists phones, the facts of at least one could be read."""
    from splitbench.targets.adb.phone import list_pool
    from splitbench.targets.adb.server import servers_from

    servers = servers_from(adb_server, adb_port)
    listing = list_pool(servers, timeout=adb_timeout)
    if not listing.servers_answered:
        if len(listing.server_errors) == 1:
            raise DeviceError(listing.server_errors[0][1])
        raise DeviceError(
            "no adb server answered: " + "; ".join(line for _s, line in listing.server_errors)
        )
    for ref, facts in listing.phones:
        title = ref.name if ref.qualified else f"{ref.name} on {ref.server.label}"
        view = Table(title=title, show_header=False)
        view.add_row("adb server", ref.server.label)
        for key, value in facts.as_rows():
            view.add_row(key, value)
        console.print(view)
    for _server, line in listing.server_errors:
        err_console.print(f"[yellow]unreachable:[/] {line}", highlight=False, soft_wrap=True)
    if listing.phone_errors and not listing.phones:  # phones listed, none could be read
        raise DeviceError("; ".join(line for _ref, line in listing.phone_errors))
    for ref, line in listing.phone_errors:
        err_console.print(f"[yellow]warning:[/] {ref.name}: {line}", highlight=False)
    if not listing.phones and not listing.phone_errors:
        asked = ", ".join(s.label for s in servers)
        console.print(
            f"no phone connected to {asked} (check `adb devices`, the cable, and USB debugging)"
        )
