"""``splitbench clean``: remove the kit's files from phones (its part cache, binaries, runs)."""

from __future__ import annotations

from typing import Annotated

import typer

from splitbench.cli.adb_options import AdbPortOpt, AdbServerOpt, AdbTimeoutOpt
from splitbench.cli.app import app, console
from splitbench.units import mb_text


@app.command()
def clean(
    phones: Annotated[
        list[str],
        typer.Argument(
            metavar="PHONE...",
            help="adb:SERIAL, adb:HOST:PORT/SERIAL, adb (the one connected phone) or all.",
        ),
    ],
    adb_server: AdbServerOpt = None,
    adb_port: AdbPortOpt = None,
    adb_timeout: AdbTimeoutOpt = 10.0,
    device_dir: Annotated[
        str, typer.Option(help="The kit's directory on the phone.")
    ] = "/data/local/tmp/splitbench",
) -> None:
    """Remove what the kit pushed to phones: only its own folders inside its device directory
    (parts/, bin/, runs/), never anything outside it. The next sweep pushes what it needs."""
    from splitbench.targets.adb.clean import clean_phone
    from splitbench.targets.adb.devicedir import DeviceDir
    from splitbench.targets.adb.pool import resolve_phones
    from splitbench.targets.adb.server import servers_from

    DeviceDir(device_dir)  # a directory that is not the kit's own: one line before any adb
    refs = resolve_phones(phones, servers_from(adb_server, adb_port), adb_timeout)
    for ref in refs:
        done = clean_phone(ref, device_dir, server_timeout=adb_timeout)
        state = "removed" if done.dir_removed else "kept (it holds files the kit did not put there)"
        console.print(
            f"{done.name}: removed {done.files} entries ({mb_text(done.bytes)}) from "
            f"{done.device_dir}; the directory itself {state}",
            highlight=False,
        )
