"""The main job, end to end: ``splitbench sweep posenet`` as a user runs it, then every file it
writes checked against the model itself (sizes from the interpreter, part files on disk, the
network arithmetic written out by hand), and ``report`` rebuilding the files for new networks.

One sweep of a subset of PoseNet's splits (both ends and a middle one) is shared by the module;
``verify`` with the same PNG images runs beside it.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import shutil
import statistics
from pathlib import Path

import pytest
from cli_helpers import (
    FAST,
    RUNS,
    CliResult,
    assert_real_png,
    csv_header,
    measured_count,
    num,
    query,
    rows_by_split,
    run_cli,
    run_many,
    tensor_nbytes,
    write_network_toml,
    write_png_images,
)

pytestmark = pytest.mark.slow

N = 31  # PoseNet operators
SPLITS = [0, 1, 2, 14, 29, 30, 31]
MIDDLE = 14
NETWORKS = [("slowlink", 2.5, 12.0, 80.0), ("fast_link-5G", 120.0, 400.0, 6.0)]
OTHER_NETWORKS = [
    ("edge-a", 5.0, 20.0, 30.0),
    ("edge_b", 50.0, 100.0, 10.0),
    ("sat", 1.0, 5.0, 600.0),
]
REQUIRED = (
    "split", "cut_tensors", "client_ms", "server_ms", "intermediate_bytes",
    "head_model_bytes", "tail_model_bytes", "max_abs_diff",
)  # fmt: skip
IMAGES = 2
PROGRESS_ENV = "SPLITBENCH_PROGRESS_SECS"


def transfer_ms(nbytes: float, mbps: float) -> float:
    return nbytes * 8 / (mbps * 1e6) * 1e3


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("posenet_sweep")
    images = root / "images"
    write_png_images(images, IMAGES)
    net = write_network_toml(root / "two.toml", NETWORKS)
    out = root / "run"
    os.environ[PROGRESS_ENV] = "0"  # a plain progress line for every step (stderr is a pipe)
    try:
        sweep, verify = _run_sweep_and_verify(out, net, images)
    finally:
        del os.environ[PROGRESS_ENV]
    sweep.ok()
    db = out / "results.sqlite"
    (model_path,) = query(db, "SELECT path FROM models")[0]
    return {
        "out": out,
        "sweep": sweep,
        "verify": verify,
        "rows": rows_by_split(out / "splits.csv"),
        "db": db,
        "model_path": Path(model_path),
        "images": images,
        "root": root,
    }


def _run_sweep_and_verify(out: Path, net: Path, images: Path) -> list:
    return run_many(
        [
            [
                "sweep", "posenet", "--out", out, "--splits", "0-2,14,29-31",
                "--network", net, "--inputs", images, "--keep-parts", *FAST,
            ],
            ["verify", "posenet", "--at", "0,14,31", "--inputs", images],
        ]
    )  # fmt: skip


@pytest.fixture(scope="module")
def posenet_tensors(run: dict) -> dict[str, dict]:
    """Tensor details of the very file the sweep split, from LiteRT's own interpreter."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(run["model_path"]))
    details = interpreter.get_tensor_details()
    by_name = {d["name"]: d for d in details}
    assert len(by_name) == len(details), "tensor names are not unique"
    outputs = [d["name"] for d in interpreter.get_output_details()]
    return {"by_name": by_name, "outputs": outputs}


# --------------------------------------------------------------------------- the command


def test_sweep_shows_progress_and_best_splits(run: dict) -> None:
    stdout, stderr = run["sweep"].stdout, run["sweep"].stderr
    # stderr is not a terminal here: progress comes as plain lines, not as a bar
    # it counts split points, one stage per bout (FAST: one bout)
    done = rf"^progress: bout 1/1: splits {len(SPLITS)}/{len(SPLITS)} \(100 %\)"
    assert re.search(done, stderr, re.M), stderr
    assert "\r" not in stderr and "━" not in stderr
    for name, *_ in NETWORKS:
        assert re.search(rf"best split for {re.escape(name)} \(", stdout), stdout
    assert measured_count(stdout) >= 2 * len(SPLITS) - 2  # every head and tail, maybe more


def test_sweep_writes_every_deliverable(run: dict) -> None:
    out: Path = run["out"]
    for name in ("results.sqlite", "splits.csv", "splits.xlsx"):
        assert (out / name).is_file(), name
    assert_real_png(out / f"latency_stacked_{NETWORKS[0][0]}.png")
    assert_real_png(out / "best_split_vs_uplink.png")


# --------------------------------------------------------------------------- splits.csv


def test_csv_columns_and_one_e2e_column_per_configuration(run: dict) -> None:
    header = csv_header(run["out"] / "splits.csv")
    assert set(REQUIRED) <= set(header), sorted(set(REQUIRED) - set(header))
    e2e = {c for c in header if c.startswith("e2e_ms_")}
    assert e2e == {f"e2e_ms_{name}" for name, *_ in NETWORKS}
    delivery = {c for c in header if c.startswith("delivery_ms_")}
    assert delivery == {f"delivery_ms_{name}" for name, *_ in NETWORKS}


def test_tables_hold_the_asked_splits_and_say_run_notes_once(run: dict) -> None:
    """No filler: splits.csv, the CLI table and the workbook hold the splits asked for, and the
    run-level prediction note is said once (CLI, run.json, workbook metadata), not per row."""
    from openpyxl import load_workbook

    rows = run["rows"]
    assert sorted(rows) == SPLITS
    for k, row in rows.items():
        assert json.loads(row["cut_tensors"]), k
    assert "prediction_note" not in csv_header(run["out"] / "splits.csv")
    stdout = run["sweep"].stdout
    printed = re.findall(r"^\s*(\d+):(\d+)\s", stdout, re.M)
    assert [int(k) for k, _ in printed] == SPLITS, stdout
    note = json.loads((run["out"] / "run.json").read_text())["notes"]["prediction_note"]
    assert "no per-operator profile" in note
    assert stdout.count(note) == 1, stdout
    wb = load_workbook(run["out"] / "splits.xlsx", read_only=True)
    table = [r[0] for r in list(wb.worksheets[0].iter_rows(values_only=True))[1:] if r[0]]
    assert table[: len(SPLITS)] == [f"{k}:{N - k}" for k in SPLITS]
    assert not any(re.fullmatch(r"\d+:\d+", str(v)) for v in table[len(SPLITS) :])
    meta = [v for r in wb["Metadata"].iter_rows(values_only=True) for v in r]
    assert meta.count(note) == 1 and "notes.prediction_note" in meta
    kpis = list(wb["KPIs per split"].iter_rows(values_only=True))
    assert len(kpis) == 1 + len(SPLITS) and "prediction_note" not in kpis[0]
    wb.close()


def test_every_csv_column_has_a_meaning_on_the_columns_page(run: dict) -> None:
    """Every column a real sweep writes (head_model_ratio, intermediate_ratio, verify_error,
    client_kind, ...) is defined in report/columns.py and so on docs/columns.md."""
    from splitbench.report import columns

    page = (Path(__file__).resolve().parents[1] / "docs" / "columns.md").read_text()
    for name in csv_header(run["out"] / "splits.csv"):
        found = columns.definition(name)
        assert found is not None and found.meaning.strip(), name
        assert ", ".join(f"`{n}`" for n in found.names) in page, name


def test_times_are_sane(run: dict) -> None:
    for k in SPLITS:
        row = run["rows"][k]
        client, server = num(row["client_ms"]), num(row["server_ms"])
        assert math.isfinite(client) and math.isfinite(server), row
        assert (client == 0) == (k == 0), (k, client)  # split 0 has no head
        assert (server == 0) == (k == N), (k, server)  # split N has no tail
        assert client >= 0 and server >= 0
        assert row["client_error"] == "" and row["server_error"] == "", row


def test_every_swept_split_is_lossless(run: dict) -> None:
    for k in SPLITS:
        row = run["rows"][k]
        diff = num(row["max_abs_diff"])
        assert 0 <= diff <= 1e-3, (k, row["max_abs_diff"])
        assert row["lossless"] == "True", (k, row["lossless"])
        assert row["bit_exact"] in ("True", "False")
        assert (row["bit_exact"] == "True") == (diff == 0), (k, row)


def test_intermediate_bytes_are_the_cut_tensors_sizes(run: dict, posenet_tensors: dict) -> None:
    by_name = posenet_tensors["by_name"]
    for k in SPLITS:
        row = run["rows"][k]
        names = json.loads(row["cut_tensors"])
        expected = sum(tensor_nbytes(by_name[name]) for name in names)
        # At split N the outputs stay on the phone: nothing crosses, in every table.
        assert int(row["intermediate_bytes"]) == (0 if k == N else expected), (k, names)
    assert re.search(rf"^\s*{N}:0\s+[\d.]+\s+[\d.]+\s+0\.0\s", run["sweep"].stdout, re.M)
    assert json.loads(run["rows"][0]["cut_tensors"]) == ["image"]
    assert int(run["rows"][0]["intermediate_bytes"]) == 257 * 257 * 3 * 4
    assert sorted(json.loads(run["rows"][N]["cut_tensors"])) == sorted(posenet_tensors["outputs"])
    # The last backbone map plus the heads already computed: a multi-tensor cut.
    assert len(json.loads(run["rows"][30]["cut_tensors"])) == 4


def test_part_sizes_are_the_kept_files_sizes(run: dict) -> None:
    parts: Path = run["out"] / "parts"
    for k in SPLITS:
        row = run["rows"][k]
        folder = parts / f"split_{k:03d}"
        head, tail = folder / "head.tflite", folder / "tail.tflite"
        if k == 0:
            assert int(row["head_model_bytes"]) == 0 and not head.exists()
        else:
            assert int(row["head_model_bytes"]) == head.stat().st_size, k
        if k == N:
            assert int(row["tail_model_bytes"]) == 0 and not tail.exists()
        else:
            assert int(row["tail_model_bytes"]) == tail.stat().st_size, k
    unswept = {p.name for p in parts.iterdir()} - {f"split_{k:03d}" for k in SPLITS}
    assert not unswept


def test_e2e_and_delivery_arithmetic(run: dict, posenet_tensors: dict) -> None:
    output_bytes = sum(
        tensor_nbytes(posenet_tensors["by_name"][n]) for n in posenet_tensors["outputs"]
    )
    for name, up, down, rtt in NETWORKS:
        for k in SPLITS:
            row = run["rows"][k]
            client, server = num(row["client_ms"]), num(row["server_ms"])
            inter, head = int(row["intermediate_bytes"]), int(row["head_model_bytes"])
            e2e = num(row[f"e2e_ms_{name}"])
            if k == N:  # all on the phone: nothing crosses the network
                assert e2e == pytest.approx(client, rel=1e-9), (name, k)
            else:
                expected = (
                    client + rtt + transfer_ms(inter, up) + server
                    + transfer_ms(output_bytes, down)
                )  # fmt: skip
                assert e2e == pytest.approx(expected, rel=1e-9), (name, k)
            delivery = num(row[f"delivery_ms_{name}"])
            expected_delivery = 0.0 if head == 0 else rtt + transfer_ms(head, down)
            assert delivery == pytest.approx(expected_delivery, rel=1e-9), (name, k)
    # The middle split pays a real network bill on the slow link.
    middle = run["rows"][MIDDLE]
    assert num(middle["e2e_ms_slowlink"]) > num(middle["client_ms"]) + 80.0


def test_best_split_line_matches_the_csv(run: dict) -> None:
    """The line names the lowest end to end of the CSV, and when the CSV's p_best has more
    than one split at 5 % or more, says plainly that they are tied."""
    for name, *_ in NETWORKS:
        values = {k: num(run["rows"][k][f"e2e_ms_{name}"]) for k in SPLITS}
        best = min(values, key=lambda k: (values[k], k))
        line = next(
            x for x in run["sweep"].stdout.splitlines() if x.startswith(f"best split for {name} ")
        )
        assert re.search(rf"(: |lowest estimate ){best}:{N - best},", line), line
        contenders = [k for k in SPLITS if num(run["rows"][k][f"p_best_{name}"]) >= 0.05]
        assert best in contenders
        if len(contenders) > 1:
            assert "no single best" in line and f"are tied for {name}" in line, line
        else:
            lo, hi = (num(run["rows"][best][f"e2e_{e}_ms_{name}"]) for e in ("lo", "hi"))
            assert f"(95 % interval {lo:.2f}–{hi:.2f})" in line, line


# --------------------------------------------------------------------------- results.sqlite


def test_database_holds_raw_samples_of_every_part(run: dict) -> None:
    db = run["db"]
    parts = query(
        db,
        "SELECT id, split, role, target, error, settings_json FROM measurements "
        "WHERE role IN ('head', 'tail')",
    )
    got = sorted((split, role) for _, split, role, *_ in parts)
    wanted = sorted([(k, "head") for k in SPLITS if k > 0] + [(k, "tail") for k in SPLITS if k < N])
    assert got == wanted
    for mid, _split, _role, target, error, settings_json in parts:
        assert target == "host" and error is None
        assert json.loads(settings_json)["num_runs"] == RUNS
        samples = [ms for (ms,) in query(
            db, "SELECT ms FROM samples WHERE measurement_id = ? AND phase = 'steady'", (mid,)
        )]  # fmt: skip
        assert len(samples) >= RUNS, mid
        assert all(math.isfinite(ms) and ms > 0 for ms in samples), samples


def test_database_csv_time_is_the_median_of_the_raw_samples(run: dict) -> None:
    """Median by default (docs/statistics.md); the mean is beside it."""
    (mid,) = query(
        run["db"], "SELECT id FROM measurements WHERE role = 'head' AND split = ?", (MIDDLE,)
    )[0]
    samples = [ms for (ms,) in query(
        run["db"], "SELECT ms FROM samples WHERE measurement_id = ? AND phase = 'steady'", (mid,)
    )]  # fmt: skip
    row = run["rows"][MIDDLE]
    assert num(row["client_ms"]) == pytest.approx(statistics.median(samples))
    assert num(row["client_mean_ms"]) == pytest.approx(statistics.fmean(samples))


def test_database_holds_target_and_model_metadata(run: dict) -> None:
    db = run["db"]
    ((name, cpu_model, cores, runtime, kit),) = query(
        db, "SELECT name, cpu_model, cores, runtime, kit_version FROM targets"
    )
    assert name == "host"
    assert cpu_model.strip()
    assert cores >= 1
    assert "litert" in runtime.lower()
    assert kit
    ((sha, num_ops, file_bytes),) = query(
        db, "SELECT sha256, num_operators, file_bytes FROM models"
    )
    data = run["model_path"].read_bytes()
    assert sha == hashlib.sha256(data).hexdigest()
    assert (num_ops, file_bytes) == (N, len(data))
    shas = {s for (s,) in query(db, "SELECT DISTINCT model_sha256 FROM measurements")}
    assert shas == {sha}


# --------------------------------------------------------------------------- splits.xlsx


def test_workbook_has_the_scenario_layout(run: dict) -> None:
    from openpyxl import load_workbook

    wb = load_workbook(run["out"] / "splits.xlsx", read_only=True)
    ws = wb.worksheets[0]
    rows = list(ws.iter_rows(values_only=True))
    header = [h for h in rows[0] if h is not None]
    for title in (
        "Split point (client:server)",
        "Processing time on client (ms)",
        "Intermediate model size (head, KB)",
        "Intermediate data size (KB)",
        "Processing time on server (ms)",
        *(f"End-to-end latency {name} (ms)" for name, *_ in NETWORKS),
    ):
        assert title in header, (title, header)
    col = {title: i for i, title in enumerate(rows[0])}
    middle = next(r for r in rows[1:] if r[0] == f"{MIDDLE}:{N - MIDDLE}")
    csv_row = run["rows"][MIDDLE]
    assert middle[col["Intermediate data size (KB)"]] == pytest.approx(
        int(csv_row["intermediate_bytes"]) / 1024
    )
    assert middle[col["Processing time on client (ms)"]] == pytest.approx(num(csv_row["client_ms"]))
    wb.close()


# --------------------------------------------------------------------------- verify


def test_verify_posenet_passes_bit_exact_on_the_images(run: dict) -> None:
    result: CliResult = run["verify"].ok()
    out = result.stdout
    assert f"({IMAGES} inputs)" in out, out  # the PNG images were used, not random inputs
    for k in (0, MIDDLE, N):
        assert re.search(rf"^\W*{k}:{N - k}\W.*pass \(bit-exact\)", out, re.M), out
    assert "FAIL" not in out


# --------------------------------------------------------------------------- report


@pytest.fixture(scope="module")
def reported(run: dict) -> tuple[CliResult, Path]:
    copy = run["root"] / "copy"
    shutil.copytree(run["out"], copy)
    # A picture the kit did not write, named like its charts: never the kit's to remove.
    shutil.copy(copy / "best_split_vs_uplink.png", copy / "latency_stacked_mine.png")
    net = write_network_toml(run["root"] / "other.toml", OTHER_NETWORKS)
    return run_cli("report", copy, "--network", net), copy


def test_report_rebuilds_files_for_other_networks(run: dict, reported: tuple) -> None:
    result, copy = reported
    result.ok()
    header = csv_header(copy / "splits.csv")
    assert {c for c in header if c.startswith("e2e_ms_")} == {
        f"e2e_ms_{name}" for name, *_ in OTHER_NETWORKS
    }
    rows = rows_by_split(copy / "splits.csv")
    for name, up, _down, rtt in OTHER_NETWORKS:
        row = rows[MIDDLE]
        old = run["rows"][MIDDLE]
        # Same measurements, new link: only the network terms change.
        assert num(row["client_ms"]) == num(old["client_ms"])
        net_part = num(row[f"e2e_ms_{name}"]) - num(row["client_ms"]) - num(row["server_ms"])
        assert net_part > rtt + transfer_ms(int(row["intermediate_bytes"]), up)
    from openpyxl import load_workbook

    wb = load_workbook(copy / "splits.xlsx", read_only=True)
    header_xlsx = next(wb.worksheets[0].iter_rows(values_only=True))
    wb.close()
    for name, *_ in OTHER_NETWORKS:
        assert f"End-to-end latency {name} (ms)" in header_xlsx
    assert not any(f"End-to-end latency {n} (ms)" in header_xlsx for n, *_ in NETWORKS)
    assert_real_png(copy / f"latency_stacked_{OTHER_NETWORKS[0][0]}.png")
    assert_real_png(copy / "best_split_vs_uplink.png")


def test_report_removes_the_charts_of_dropped_networks_and_lists_what_it_wrote(
    run: dict, reported: tuple
) -> None:
    """The sweep's networks (one named with `_`) are gone from the rebuilt run: their charts are
    removed (by the record of what was written, not by guessing from names) and said so."""
    result, copy = reported
    result.ok()
    for name, *_ in NETWORKS:
        png = copy / f"latency_stacked_{name}.png"
        assert not png.exists(), png
        assert str(png) in result.stdout, result.stdout
    assert re.search(r"^removed .*latency_stacked_fast_link-5G\.png", result.stdout, re.M)
    assert (copy / "latency_stacked_mine.png").is_file()  # not written by the kit: kept
    for name, *_ in OTHER_NETWORKS:
        png = copy / f"latency_stacked_{name}.png"
        assert_real_png(png)
        assert re.search(rf"^wrote .*{re.escape(str(png))}", result.stdout, re.M), result.stdout
    assert str(copy / "best_split_vs_uplink.png") in result.stdout
    written = json.loads((copy / "outputs.json").read_text())[""]
    assert f"latency_stacked_{OTHER_NETWORKS[1][0]}.png" in written
    assert not any(NETWORKS[1][0] in name for name in written)
