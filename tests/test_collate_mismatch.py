"""`collate` refuses an op profile of another model (operator count or operator types differ)
with one line, before it maps anything: it once mapped a 77-operator profile onto PoseNet (31)
without a word and exited 0."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from published_graph import DATA, graph_from_json
from splitbench_collect.collate import ProfileMismatchError, read_side

SPLITBENCH = str(Path(sys.executable).parent / "splitbench")
CPU = DATA / "poco_x3_mnv3_seg_float_cpu_stdout.txt"
GPU = DATA / "poco_x3_mnv3_seg_float_gpu_stdout.txt"


def test_the_profile_of_a_77_operator_model_is_refused_for_posenet(tmp_path: Path) -> None:
    proc = subprocess.run(
        [
            SPLITBENCH,
            "collate",
            "--client",
            str(CPU),
            "--server",
            str(CPU),
            "--model",
            "posenet",
            "--out",
            str(tmp_path / "out"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert proc.returncode != 0 and "Traceback" not in proc.stderr, proc.stderr
    assert len(lines) == 1 and "77" in lines[0] and "31" in lines[0], proc.stderr
    assert not (tmp_path / "out").exists()  # refused before any work


def test_operator_types_that_differ_are_refused(tmp_path: Path) -> None:
    doc = json.loads((DATA / "mnv3_seg_float.graph.json").read_text())
    doc["operators"][2]["opcode"] = "MAX_POOL_2D"  # same count, one type differs
    other = tmp_path / "other.graph.json"
    other.write_text(json.dumps(doc))
    with pytest.raises(ProfileMismatchError, match="operator 2 is DEPTHWISE_CONV_2D"):
        read_side(CPU, graph_from_json(other))


def test_a_delegate_profile_tells_the_operator_count() -> None:
    graph = graph_from_json(DATA / "mnv3_seg_float.graph.json")
    read_side(GPU, graph)  # the right model: accepted
    fewer = replace(graph, operators=graph.operators[:-1])
    with pytest.raises(ProfileMismatchError, match="profiles a model with 77 operators"):
        read_side(GPU, fewer)
