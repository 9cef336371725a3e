"""``splitbench devices``: connected phones and the facts that matter for a measurement."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from splitbench.cli.app import app, console
from splitbench.errors import SplitbenchError


@app.command()
def devices(
    adb_port: Annotated[
        int | None, typer.Option(help="adb server port (default $ANDROID_ADB_SERVER_PORT or 5037).")
    ] = None,
) -> None:
    """List connected phones with the facts that matter for a measurement."""
    from splitbench.targets.adb import list_devices

    found = list_devices(adb_port)
    if not found:
        raise SplitbenchError(
            "no phone connected (check `adb devices`, the cable, and USB debugging)"
        )
    for facts in found:
        view = Table(title=facts.serial, show_header=False)
        for key, value in facts.as_rows():
            view.add_row(key, value)
        console.print(view)
