"""Options every phone command shares: which adb servers to ask, and how long to wait.

Kept light (no adbutils at import): ``splitbench --help`` imports every command module."""

from __future__ import annotations

from typing import Annotated

import typer

AdbServerOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--adb-server",
        help="An adb server to ask, HOST:PORT (repeat for several; 'local' = the local server "
        "found the standard way). Default: $SPLITBENCH_ADB_SERVERS (comma-separated), else "
        "only the local server. The kit never starts a server and never opens a port.",
    ),
]
AdbPortOpt = Annotated[
    int | None,
    typer.Option(help="Port of the local adb server (default $ANDROID_ADB_SERVER_PORT or 5037)."),
]
AdbTimeoutOpt = Annotated[
    float,
    typer.Option(
        "--adb-timeout",
        min=0.1,
        help="Seconds an adb server may take to answer before it counts as unreachable.",
    ),
]
DeviceCacheOpt = Annotated[
    float,
    typer.Option(
        "--device-cache-mb",
        min=0.001,
        help="Bound of the kit's part cache on each phone, in MB (least recently used parts "
        "are removed first).",
    ),
]
