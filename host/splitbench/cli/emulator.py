"""``splitbench emulator start``: emulated phones behind a real adb server on loopback."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from splitbench.cli.app import app

emulator_app = typer.Typer(
    help="The emulated phone: an adb server on 127.0.0.1 for CI and for users without a phone.",
    no_args_is_help=True,
)
app.add_typer(emulator_app, name="emulator")


@emulator_app.command("start")
def emulator_start(
    port: Annotated[
        int, typer.Option(help="TCP port on 127.0.0.1 (5037 is adb's default).")
    ] = 5037,
    serial: Annotated[
        list[str] | None, typer.Option(help="Serial of an emulated phone (repeat for several).")
    ] = None,
    fail_after: Annotated[
        int | None, typer.Option(help="Unplug each phone after N commands (fault injection).")
    ] = None,
    storage_bytes: Annotated[
        int | None, typer.Option(help="Storage quota of each phone's /data (full-storage fault).")
    ] = None,
    root: Annotated[
        Path | None,
        typer.Option(
            help="A new or empty folder for the phones' files while they run (default: a "
            "temporary one); left as it was found when they stop."
        ),
    ] = None,
    adb_root: Annotated[
        bool,
        typer.Option(
            "--adb-root",
            help="Run the phones' commands as root of the device (as after `adb root`), not as "
            "Android's shell user (uid 2000).",
        ),
    ] = False,
    address: Annotated[
        str, typer.Option(help="Listening address: 127.0.0.1 only (adb has no authentication).")
    ] = "127.0.0.1",
) -> None:
    """Run emulated phones in the foreground until Ctrl-C.

    Any local user can use them, as with adb; their commands act on the phones' own file
    systems, never on this computer's."""
    from splitbench.emulator import run_emulator

    run_emulator(
        port=port,
        serials=serial or ["sbemu-0001"],
        fail_after=fail_after,
        storage_bytes=storage_bytes,
        root=root,
        as_root=adb_root,
        address=address,
    )
