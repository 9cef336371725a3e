"""``splitbench doctor``: is a run's results database healthy, and what can be recovered."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from splitbench.cli.app import app, console
from splitbench.errors import ResultsError


@app.command()
def doctor(
    out: Annotated[
        Path, typer.Argument(metavar="DIR", help="Run directory (or a results.sqlite file).")
    ],
) -> None:
    """Check a run's results database (PRAGMA integrity_check) and say what is in it. A damaged
    database is never modified: the rows still readable in its intact pages (and its -wal log)
    are copied into results.recovered.sqlite beside it, keeping only whole measurements. An
    empty file, one with no readable row, or a full disk is one line. Exit 0 only when healthy."""
    from splitbench.results.doctor import examine
    from splitbench.results.store import DB_NAME, disk_full_message

    db = out if out.is_file() else out / DB_NAME
    found = examine(db)
    if found.healthy:
        state = "intact (integrity_check ok)" if found.disk_full else "healthy (integrity_check ok)"
    else:
        state = "DAMAGED"
    console.print(f"{db}: {state}")
    for problem in found.problems[:10]:
        console.print(f"  integrity_check: {problem}", highlight=False)
    for table, count in found.counts.items():
        console.print(
            f"  {table}: {count} rows" if isinstance(count, int) else f"  {table}: {count}"
        )
    if found.healthy:
        if found.disk_full:
            raise ResultsError(f"{disk_full_message(db.parent)} (the database itself is intact)")
        return
    if found.recovered_path is None:
        raise ResultsError(f"{db} is damaged and nothing could be recovered from it")
    kept = found.recovered
    if found.header_lost:
        console.print(
            "page 1 (header, schema, free list) is unreadable: rows deleted before it was "
            "damaged (--fresh) cannot be told apart and may be among the recovered ones"
        )
    console.print(
        f"recovered into {found.recovered_path}: "
        + ", ".join(f"{n} {table}" for table, n in kept.items())
        + f"; {found.dropped_measurements} incomplete measurement(s) left out (a rerun measures "
        "them again)"
    )
    raise ResultsError(
        f"{db} is damaged (left as it was); the readable rows are in {found.recovered_path} — "
        f"to use them: mv {db} {db}.damaged && mv {found.recovered_path} {db}"
    )
