"""Collation of benchmark outputs people already have, on real published outputs."""

from __future__ import annotations

import csv
import io
import subprocess
import sys
from pathlib import Path

import pytest
from published_graph import DATA, graph_from_json
from splitbench_collect.collate import profile_check_lines, read_side

SPLITBENCH = str(Path(sys.executable).parent / "splitbench")
CPU = DATA / "poco_x3_mnv3_seg_float_cpu_stdout.txt"
GPU = DATA / "poco_x3_mnv3_seg_float_gpu_stdout.txt"


def test_collate_profile_prints_the_run_order_that_was_read() -> None:
    proc = subprocess.run(
        [SPLITBENCH, "collate", "--profile", str(CPU)], capture_output=True, text=True, check=True
    )
    rows = list(csv.DictReader(io.StringIO(proc.stdout)))
    assert list(rows[0]) == ["node_type", "name", "first_ms", "avg_ms", "op_indices"]
    assert len(rows) == 77  # the regular runs' Run Order only: no init, no "Top by" rows
    assert rows[0]["node_type"] == "CONV_2D" and rows[0]["op_indices"] == "0"
    assert float(rows[0]["avg_ms"]) == pytest.approx(1.502)
    assert [int(r["op_indices"]) for r in rows] == list(range(77))


def test_collate_profile_of_a_missing_file_is_one_line(tmp_path: Path) -> None:
    proc = subprocess.run(
        [SPLITBENCH, "collate", "--profile", str(tmp_path / "nope.csv")],
        capture_output=True,
        text=True,
    )
    assert proc.returncode != 0
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "no such file" in lines[0] and "Traceback" not in proc.stderr


def test_client_side_maps_rows_to_splits_and_checks_against_the_direct_average() -> None:
    graph = graph_from_json(DATA / "mnv3_seg_float.graph.json")
    side = read_side(CPU, graph)
    assert side.by_split[0].head_ms == 0.0
    assert side.by_split[1].head_ms == pytest.approx(1.502)
    assert side.direct_avg_ms == pytest.approx(17.138)  # "Inference (avg): 17138" us
    lines = profile_check_lines(side, side)
    assert lines[0].startswith("client: per-operator sum")
    assert "direct whole-model average 17.138 ms" in lines[0]


def test_a_single_gpu_delegate_node_gives_no_split_times_but_the_reason() -> None:
    graph = graph_from_json(DATA / "mnv3_seg_float.graph.json")
    side = read_side(GPU, graph)
    assert side.by_split[0].head_ms == 0.0  # nothing before the first operator
    assert side.by_split[graph.num_operators].tail_ms == 0.0
    middle = side.by_split[40]
    assert middle.head_ms is None and middle.tail_ms is None
    assert middle.undetermined_by  # names the delegate partition that straddles the cut
