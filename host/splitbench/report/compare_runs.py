"""Reading two run directories for ``splitbench compare``, and refusing what cannot be compared.

Everything is checked before anything is computed or written: each directory exists and is a
sweep run (``run.json``), its database is healthy (read-only ``quick_check``, never modified),
both runs measured the same model (``model_sha``), with the same number of clients, and were
reported for the same networks (the ``e2e_ms_<network>`` columns of their ``splits.csv``).

What a run contributes to the comparison is its raw steady-state samples grouped by bout, per
part, under one settings identity (the one its last sweep used, like ``splitbench report``).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

from splitbench.errors import SplitbenchError
from splitbench.results import ResultsDB
from splitbench.results.store import DB_NAME, check_health
from splitbench.run_record import RunRecord
from splitbench.targets.base import file_label

E2E_PREFIX = "e2e_ms_"  # splits.csv's end-to-end column per network: e2e_ms_<network>

# (split, role, target) -> the part's steady-state samples, one list per successful bout
Bouts = dict[tuple[int, str, str], list[list[float]]]


class CompareError(SplitbenchError):
    """Two runs that cannot be compared (missing, damaged, different models or networks)."""


@dataclass(frozen=True)
class RunSide:
    """One run as the comparison uses it."""

    path: Path
    record: RunRecord
    settings_hash: str
    settings_text: str  # the settings identity as `splitbench report` describes it
    bouts: Bouts
    summary_only: frozenset[tuple[int, str, str]]  # parts with a summary but no raw samples
    networks: tuple[str, ...] | None  # from splits.csv; None when the run has none
    empty: frozenset[tuple[int, str]] = field(default_factory=frozenset)  # (split, role)

    @property
    def db_path(self) -> Path:
        return self.path / DB_NAME


def load_run(path: Path) -> RunSide:
    """One run directory, checked; one-line :class:`CompareError` for anything unusable."""
    if not path.exists():
        raise CompareError(f"{path}: no such run directory")
    if not path.is_dir():
        raise CompareError(f"{path}: not a directory (give a sweep's --out directory)")
    try:
        record = RunRecord.load(path)
    except SplitbenchError as exc:
        raise CompareError(str(exc)) from None
    db_path = path / DB_NAME
    if not db_path.is_file():
        raise CompareError(f"{path}: no {DB_NAME} (not a finished sweep run directory)")
    check_health(db_path)  # a damaged file: one line naming `splitbench doctor`, left as it is
    with ResultsDB(db_path, create=False) as db:
        if db.model(record.model_sha) is None:
            raise CompareError(f"{db_path} holds no measurement of {record.model_name}")
        chosen = _settings_of(db, record)
        bouts, summary_only = _bouts(db, record, chosen.hash)
        empty = _empty_parts(db, record)
    return RunSide(
        path=path,
        record=record,
        settings_hash=chosen.hash,
        settings_text=chosen.describe(),
        bouts=bouts,
        summary_only=frozenset(summary_only),
        networks=_networks(path, record),
        empty=frozenset(empty),
    )


def check_comparable(a: RunSide, b: RunSide) -> None:
    """Refuse two runs of different models, client counts or networks, with one line."""
    ra, rb = a.record, b.record
    if ra.model_sha != rb.model_sha:
        raise CompareError(
            f"{a.path} and {b.path} are runs of different models ({ra.model_name}, sha256 "
            f"{ra.model_sha[:12]}…, and {rb.model_name}, sha256 {rb.model_sha[:12]}…); "
            "compare takes two runs of the same model"
        )
    if len(ra.clients) != len(rb.clients):
        raise CompareError(
            f"{a.path} measured {len(ra.clients)} client(s) ({', '.join(ra.clients)}) and "
            f"{b.path} {len(rb.clients)} ({', '.join(rb.clients)}); compare pairs the clients "
            "of the two runs in order, so both need the same number"
        )
    if a.networks is not None and b.networks is not None and set(a.networks) != set(b.networks):
        raise CompareError(
            f"{a.path} and {b.path} were reported for different networks "
            f"({', '.join(a.networks)} against {', '.join(b.networks)}); rebuild one with "
            "`splitbench report DIR --network FILE` so both use the same set"
        )


def _settings_of(db: ResultsDB, record: RunRecord):  # type: ignore[no-untyped-def]
    from splitbench.report.outputs import latest_settings

    sets = db.settings_sets(record.model_sha, [*record.clients, record.server])
    if not sets:
        raise CompareError(f"{db.path} holds no measurement of {record.model_name} yet")
    return latest_settings(sets, record.settings)


def _bouts(
    db: ResultsDB, record: RunRecord, settings_hash: str
) -> tuple[Bouts, set[tuple[int, str, str]]]:
    """Every successful bout's steady samples per part, pooled as the split table pools them;
    parts known only by a summary (no raw samples) apart."""
    from splitbench.report.bouts import pooled_by_split

    bouts: Bouts = {}
    summary_only: set[tuple[int, str, str]] = set()
    wanted = [(c, "head") for c in record.clients] + [(record.server, "tail")]
    for target, role in wanted:
        found = db.measurements(record.model_sha, target=target, role=role, strategy="direct")
        for split, (m, samples) in pooled_by_split(found, {settings_hash}).items():
            key = (split, role, target)
            if not m.part.ok:
                continue
            if m.part.steady_ms:
                bouts[key] = samples
            elif m.part.steady_summary is not None:
                summary_only.add(key)
    return bouts, summary_only


def _empty_parts(db: ResultsDB, record: RunRecord) -> set[tuple[int, str]]:
    """Parts with no file, which cost exactly 0: split 0's head, split N's tail, and a head or
    tail holding only weight-transforming operators (as the split table has them)."""
    n = record.num_operators
    empty = {(0, "head"), (n, "tail")}
    for rec in db.splits(record.model_sha):
        if rec.head_bytes == 0:
            empty.add((rec.split, "head"))
        if rec.tail_bytes == 0:
            empty.add((rec.split, "tail"))
    return empty


def _networks(path: Path, record: RunRecord) -> tuple[str, ...] | None:
    """The networks the run's table was reported for, from the first client's splits.csv."""
    suffix = "" if len(record.clients) == 1 else f"_{file_label(record.clients[0])}"
    table = path / f"splits{suffix}.csv"
    try:
        with table.open(newline="", encoding="utf-8") as fh:
            header = next(csv.reader(fh), [])
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise CompareError(f"{table}: cannot read it ({exc})") from None
    return tuple(c[len(E2E_PREFIX) :] for c in header if c.startswith(E2E_PREFIX))
