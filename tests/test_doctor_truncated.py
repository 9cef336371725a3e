"""A results database cut short (a copy that stopped, a disk that filled): `splitbench doctor`
recovers every row still readable, or says in one line that nothing is, and never calls an
empty file healthy.

The database comes from a real small sweep and is truncated at several sizes, and at each of its
page boundaries. Which rows are still readable is worked out independently of the doctor, with
SQLite's own ``dbstat`` table on the intact original (which page holds which row), and the
doctor must recover every one of them and nothing that was not in the original.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from cli_helpers import assert_one_line_error, run_cli, run_many
from splitbench.errors import ResultsError
from splitbench.results.doctor import examine

PAGE = 4096
SIZES = (100, 4096, 20000, 40000, 60000)
MANY = ("--runs", "400", "--min-secs", "0", "--warmup", "0", "--warmup-secs", "0")
TABLES = ("targets", "models", "settings", "splits", "measurements", "codec_results", "samples")
Row = tuple[tuple[str, object], ...]


@pytest.fixture(scope="module")
def swept(chain_tflite: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("swept") / "run"
    run_cli("sweep", chain_tflite, "--out", out, *MANY, "--rounds", "3").ok()
    db = out / "results.sqlite"
    assert not db.with_name("results.sqlite-wal").exists()
    assert db.stat().st_size > 30 * PAGE, db.stat().st_size  # samples span many pages
    return db


def rows_of(db: Path, table: str) -> list[Row]:
    """Rows in key order (rowid, or the primary key of the WITHOUT ROWID samples table)."""
    order = "measurement_id, phase, idx" if table == "samples" else "rowid"
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    try:
        found = conn.execute(f"SELECT * FROM {table} ORDER BY {order}").fetchall()
    finally:
        conn.close()
    return [tuple(sorted(dict(r).items())) for r in found]


def pages_per_row(db: Path, table: str) -> list[set[int]]:
    """For each row of ``table`` in key order, the pages its bytes lie on: ``dbstat`` lists the
    b-tree pages by path ("/", "/000/", …; overflow pages as "/000/003+000000"), an in-order walk
    of them gives the page of each row in turn (an index b-tree, as samples is, keeps rows in
    its interior pages too; a table b-tree only in its leaves)."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        stat = conn.execute(
            "SELECT path, pageno, pagetype, ncell FROM dbstat WHERE name = ?", (table,)
        ).fetchall()
    finally:
        conn.close()
    tree = {path: (page, kind, cells) for path, page, kind, cells in stat if kind != "overflow"}
    overflow: dict[str, set[int]] = {}
    for path, page, kind, _ in stat:
        if kind == "overflow":
            overflow.setdefault(path.split("+")[0], set()).add(page)
    index_tree = table == "samples"
    out: list[set[int]] = []

    def walk(path: str) -> None:
        page, kind, cells = tree[path]
        for i in range(cells + (kind == "internal")):
            if kind == "internal":
                walk(f"{path}{i:03x}/")
            if kind == "leaf" or (index_tree and i < cells):
                out.append({page} | overflow.get(f"{path}{i:03x}", set()))

    walk("/")
    return out


def readable(db: Path, size: int, lost: frozenset[int] = frozenset()) -> dict[str, set[Row]]:
    """The rows of the original that a file cut at ``size`` bytes, with the pages ``lost`` also
    unreadable, still holds whole, keeping a measurement only as the doctor must: its model and
    target readable, and all of its samples and the sample rows on either side of them readable
    (else some may be lost unseen). The first and last samples border the ends of the table
    only when the schema and the samples' root page say where the table starts and ends."""
    intact = size // PAGE
    rows = {t: rows_of(db, t) for t in TABLES}
    ok = {
        t: [max(pages) <= intact and not pages & lost for pages in pages_per_row(db, t)]
        for t in TABLES
    }
    frame = {1, *root_and_schema_pages(db)}
    ends_known = max(frame) <= intact and not frame & lost
    for t in TABLES:
        assert len(ok[t]) == len(rows[t]), t
    out = {t: {r for r, good in zip(rows[t], ok[t], strict=True) if good} for t in TABLES}
    models = {dict(r)["sha256"] for r in out["models"]}
    targets = {dict(r)["name"] for r in out["targets"]}
    samples = [dict(r) for r in rows["samples"]]
    kept_m: set[Row] = set()
    kept_s: set[Row] = set()
    for m in out["measurements"]:
        fields = dict(m)
        mine = [i for i, s in enumerate(samples) if s["measurement_id"] == fields["id"]]
        span = range(min(mine, default=0) - 1, max(mine, default=-1) + 2)
        whole = all(ok["samples"][i] if 0 <= i < len(samples) else ends_known for i in span)
        steady = any(samples[i]["phase"] == "steady" for i in mine)
        if (
            fields["model_sha256"] in models
            and fields["target"] in targets
            and (whole if mine else True)
            and (fields["error"] is not None or steady or fields["summary_count"] is not None)
        ):
            kept_m.add(m)
            kept_s.update(rows["samples"][i] for i in mine)
    out["measurements"], out["samples"] = kept_m, kept_s
    return out


def root_and_schema_pages(db: Path) -> list[int]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        found = conn.execute(
            "SELECT pageno FROM dbstat WHERE name = 'sqlite_schema' "
            "UNION SELECT rootpage FROM sqlite_schema WHERE name = 'samples'"
        ).fetchall()
    finally:
        conn.close()
    return [page for (page,) in found]


def truncated(db: Path, size: int, where: Path) -> Path:
    cut = where / f"cut{size}" / "results.sqlite"
    cut.parent.mkdir(parents=True)
    cut.write_bytes(db.read_bytes()[:size])
    return cut


def test_doctor_recovers_every_readable_row_at_every_cut(swept: Path, tmp_path: Path) -> None:
    pages = swept.stat().st_size // PAGE
    original = {t: set(rows_of(swept, t)) for t in TABLES}
    partly = 0  # cuts that keep some measurements but not all: the test is not vacuous
    for size in sorted({*SIZES, *(k * PAGE for k in range(1, pages))}):
        cut = truncated(swept, size, tmp_path)
        expected = readable(swept, size)
        try:
            report = examine(cut)
        except ResultsError as exc:
            message = str(exc)
            assert "nothing is readable" in message and "\n" not in message, (size, message)
            assert not any(expected.values()), (size, {t: len(r) for t, r in expected.items()})
            assert [p.name for p in cut.parent.iterdir()] == ["results.sqlite"]
            continue
        assert not report.healthy and report.recovered_path is not None, size
        for table in TABLES:
            got = set(rows_of(report.recovered_path, table))
            missing = expected[table] - got
            assert not missing, (size, table, len(missing), sorted(missing)[:2])
            invented = got - original[table]
            assert not invented, (size, table, sorted(invented)[:2])
            assert report.recovered[table] == len(got), (size, table)
        partly += 0 < len(expected["measurements"]) < len(original["measurements"])
    assert partly >= 3, partly


def test_doctor_cli_on_truncated_files(swept: Path, tmp_path: Path) -> None:
    cuts = [truncated(swept, size, tmp_path) for size in SIZES]
    results = run_many([["doctor", cut.parent] for cut in cuts])
    for size, cut, result in zip(SIZES, cuts, results, strict=True):
        assert "Traceback" not in result.stderr, result.describe()
        if not any(readable(swept, size).values()):
            assert_one_line_error(result, str(cut), "nothing is readable")
            assert not result.stdout.strip(), result.describe()
            continue
        assert result.returncode != 0 and "DAMAGED" in result.stdout, result.describe()
        recovered = cut.with_name("results.recovered.sqlite")
        assert str(recovered) in result.stderr_lines[-1], result.describe()
        line = next(ln for ln in result.stdout.splitlines() if ln.startswith("recovered into"))
        for table in ("targets", "models", "splits"):
            assert f"{len(rows_of(recovered, table))} {table}" in line, line


def test_empty_database_is_not_healthy(tmp_path: Path) -> None:
    db = tmp_path / "run" / "results.sqlite"
    db.parent.mkdir()
    db.write_bytes(b"")
    result = run_cli("doctor", db.parent)
    assert_one_line_error(result, str(db), "empty", "nothing is readable")
    assert "healthy" not in result.stdout, result.describe()
    assert [p.name for p in db.parent.iterdir()] == ["results.sqlite"]


def test_rows_committed_only_to_the_write_ahead_log_are_recovered(
    swept: Path, tmp_path: Path
) -> None:
    """A sweep killed before its last checkpoint leaves committed rows only in the -wal file;
    SQLite does not merge them into a file it finds malformed, the doctor reads them itself."""
    live = tmp_path / "live" / "results.sqlite"
    live.parent.mkdir()
    live.write_bytes(swept.read_bytes())
    conn = sqlite3.connect(live)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA wal_autocheckpoint = 0")
    with conn:
        conn.execute(
            "INSERT INTO targets VALUES ('adb:late', 'adb', 'Cortex-A53', 8, 'litert', '{}', "
            "'0', 'a', 'b')"
        )
    cut = tmp_path / "cut" / "results.sqlite"
    cut.parent.mkdir()
    cut.write_bytes(live.read_bytes()[:20000])  # copied as if the process had died
    wal = live.with_name("results.sqlite-wal").read_bytes()
    assert len(wal) > 32, len(wal)
    cut.with_name("results.sqlite-wal").write_bytes(wal)
    conn.close()
    report = examine(cut)
    assert report.recovered_path is not None
    names = {dict(r)["name"] for r in rows_of(report.recovered_path, "targets")}
    assert names == {"adb:late", *(dict(r)["name"] for r in rows_of(swept, "targets"))}
    assert cut.with_name("results.sqlite-wal").read_bytes() == wal  # never touched


def test_rows_are_recovered_when_page_one_is_lost(swept: Path, tmp_path: Path) -> None:
    """Page 1 holds the header, the schema's root and the free list: with it overwritten SQLite
    calls the file "not a database", yet every other page still holds its rows."""
    db = tmp_path / "run" / "results.sqlite"
    db.parent.mkdir()
    data = bytearray(swept.read_bytes())
    data[:PAGE] = b"\xa5" * PAGE
    db.write_bytes(bytes(data))
    expected = readable(swept, len(data), frozenset({1}))
    assert expected["measurements"], "the test needs measurements to recover"
    report = examine(db)
    assert report.recovered_path is not None and report.header_lost
    for table in TABLES:
        got = set(rows_of(report.recovered_path, table))
        assert expected[table] <= got, (table, len(expected[table] - got))
        assert got <= set(rows_of(swept, table)), table
