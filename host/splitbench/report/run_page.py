"""``report.html`` for a whole run directory (every client of the run on one page), and the one
sentence that says when client and server are the same machine.

Why the sentence matters: on a host-only run both sides have the same CPU, so a split never
saves compute; every network then makes "all on one side" look best, and a newcomer would read
that as a property of the model. The page and the CLI summary say it in the same words.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from splitbench import __version__
from splitbench.network import NetworkConfig
from splitbench.report.write import ReportFiles
from splitbench.results import ResultsDB

HTML_NAME = "report.html"


def same_machine_note(
    clients: Sequence[str], server: str, db: ResultsDB | None = None
) -> str | None:
    """The sentence for a run whose clients and server are all this host's CPU — the host, or
    the emulated phone, which runs on it (None otherwise)."""
    from splitbench.targets.base import EMULATED_PHONE, kind_label, runs_on_this_host

    labels = {}
    for name in [*clients, server]:
        record = db.target(name) if db is not None else None
        target = record.info if record else name
        if not runs_on_this_host(target):
            return None
        labels[name] = kind_label(target)
    emulated = [name for name in clients if labels[name] == EMULATED_PHONE]
    who = (
        f"the client {', '.join(emulated)} is the {EMULATED_PHONE}, not a phone: its times are "
        "this host's, and client and server are the same machine"
        if emulated
        else "Client and server are the same machine (this host runs both the head and the tail)"
    )
    return (
        f"{who[0].upper()}{who[1:]}, "
        "so the best split reflects only the network, not a phone against a server. "
        "To measure a real split, put a phone in: enable USB debugging, check it with "
        "`splitbench devices`, and sweep with `--client adb:SERIAL` (docs/phones.md)."
    )


def write_run_html(
    db_path: Path,
    out_dir: Path,
    *,
    clients: Sequence[str],
    server: str,
    networks: Sequence[NetworkConfig],
    files: Mapping[str, ReportFiles],
    extra: Mapping[str, Any] | None = None,
) -> Path:
    """Write ``out_dir/report.html`` from the per-client tables already built by
    :func:`splitbench.report.write_report` (so the page shows exactly what the CSVs hold)."""
    from splitbench.report.export import split_off_notes
    from splitbench.report.html_page import write_html
    from splitbench.report.report_data import ClientSection, RunFacts, report_payload
    from splitbench.report.write import run_notes

    with ResultsDB(db_path, create=False) as db:
        note = same_machine_note(clients, server, db)
    first = files[clients[0]]
    meta = first.meta
    targets: dict[str, Any] = {}
    for client in clients:
        m = files[client].meta
        targets[client] = m.get("client", {"name": client})
        targets[server] = m.get("server", {"name": server})
    sections = []
    notes: dict[str, str] = run_notes(files)
    for client in clients:
        table, found = split_off_notes(files[client].table)
        notes.update(found)
        label = ""
        settings = files[client].meta.get("run_settings", {})
        if isinstance(settings, Mapping) and settings.get("label"):
            label = str(settings["label"])
        sections.append(
            ClientSection(client, table, files[client].best, label, files[client].anchors)
        )
    settings = dict(meta.get("run_settings", {}))
    fed = _inputs_fact(out_dir)
    if fed:
        extra = {**(extra or {}), "inputs": fed}
    facts = RunFacts(
        model=dict(meta.get("model", {})),
        targets=targets,
        settings=settings,
        measurements=dict(meta.get("measurements", {})),
        kit_version=__version__,
        generated_at=datetime.now(UTC).isoformat(timespec="seconds"),
        notes=notes,
        extra=dict(extra or {}),
    )
    payload = report_payload(sections, networks, facts, same_machine=note)
    return write_html(payload, out_dir / HTML_NAME)


def _inputs_fact(out_dir: Path) -> str:
    """What the model was fed, from ``run.json`` (empty for random inputs or old runs)."""
    from splitbench.errors import SplitbenchError
    from splitbench.run_record import RunRecord

    try:
        fed = RunRecord.load(out_dir).inputs
    except SplitbenchError:
        return ""
    if not fed:
        return ""
    return (
        f"{fed.get('source')}: {', '.join(fed.get('pictures', []))} as {fed.get('size')} "
        f"{fed.get('layout')} {fed.get('dtype')}, values {fed.get('value_range')}"
    )
