"""A model with a custom operator the runtime cannot resolve still splits and still reports its
sizes; only the parts that contain the operator fail to measure, and the row names it.

Two real cases: a tiny model whose third operator is turned into a custom one (with the real
flatbuffer tools), and mediapipe's ``face_landmark_with_attention``, whose
``Landmarks2TransformMatrix`` operators LiteRT does not have.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import tflite_edits
from cli_helpers import FAST, CliResult, num, rows_by_split, run_cli, run_many

pytestmark = pytest.mark.slow

CHAIN_OPS = 4
CUSTOM_AT = 2  # chain operator 2 becomes the custom one
CUSTOM_CODE = "SbNoSuchKernel"
FACE = "mediapipe:face_landmark_with_attention"
FACE_OP = "Landmarks2TransformMatrix"
OP_ROW = re.compile(r"^│\s*(\d+)\s*│\s*(CUSTOM:\w+|[A-Z0-9_]+)\s*│", re.M)


def assert_incomplete(result: CliResult, *needles: str) -> None:
    """Exit 1, no traceback, and the last line says how many parts failed and why."""
    assert result.returncode == 1, result.describe()
    assert "Traceback" not in result.stderr, result.describe()
    last = result.stderr_lines[-1]
    assert last.startswith("splitbench: error:") and "rerun" in last, last
    for needle in needles:
        assert needle in last, (needle, last)


@pytest.fixture(scope="module")
def custom_chain(chain_tflite: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    dst = tmp_path_factory.mktemp("custom") / "chain_custom.tflite"
    return tflite_edits.with_custom_op(chain_tflite, dst, CUSTOM_AT, CUSTOM_CODE)


@pytest.fixture(scope="module")
def face_ops() -> list[tuple[int, str]]:
    result = run_cli("inspect", FACE).ok()
    return [(int(i), op) for i, op in OP_ROW.findall(result.stdout)]


@pytest.fixture(scope="module")
def face_splits(face_ops: list[tuple[int, str]]) -> list[int]:
    first = next(i for i, op in face_ops if op == f"CUSTOM:{FACE_OP}")
    # Just before it (the head is runnable), and just after it (the head holds it).
    return [first - 1, first, first + 1]


@pytest.fixture(scope="module")
def runs(
    custom_chain: Path, face_splits: list[int], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, tuple[CliResult, Path]]:
    root = tmp_path_factory.mktemp("custom_runs")
    chain_out, face_out, parts_out = root / "chain", root / "face", root / "parts"
    chain, face, split_all, inspect = run_many(
        [
            ["sweep", custom_chain, "--out", chain_out, *FAST],
            ["sweep", FACE, "--out", face_out, "--splits", ",".join(map(str, face_splits)), *FAST],
            ["split", custom_chain, "--all", "--out", parts_out],
            ["inspect", custom_chain, "--workdir", root / "work"],
        ]
    )
    return {
        "chain": (chain, chain_out),
        "face": (face, face_out),
        "split": (split_all, parts_out),
        "inspect": (inspect, root),
    }


def test_inspect_names_the_custom_operator(runs: dict) -> None:
    result, _ = runs["inspect"]
    ops = dict(OP_ROW.findall(result.ok().stdout))
    assert ops[str(CUSTOM_AT)] == f"CUSTOM:{CUSTOM_CODE}"


def test_split_all_still_writes_every_part(runs: dict) -> None:
    result, out = runs["split"]
    result.ok()
    for k in range(CHAIN_OPS + 1):
        folder = out / f"split_{k:03d}"
        assert (folder / "head.tflite").is_file() == (k > 0), k
        assert (folder / "tail.tflite").is_file() == (k < CHAIN_OPS), k


def test_sweep_fails_only_the_parts_holding_the_operator(runs: dict) -> None:
    result, out = runs["chain"]
    # The other parts were measured and the table is written, but the exit is not 0 over holes.
    assert_incomplete(result, "5 of 8 parts not measured", CUSTOM_CODE)
    rows = rows_by_split(out / "splits.csv")
    assert sorted(rows) == list(range(CHAIN_OPS + 1))
    for k, row in rows.items():
        head_has_it = k > CUSTOM_AT  # head = operators 0..k-1
        tail_has_it = k <= CUSTOM_AT  # tail = operators k..N-1
        for side, has_it, empty in (
            ("client", head_has_it, k == 0),
            ("server", tail_has_it, k == CHAIN_OPS),
        ):
            error, ms = row[f"{side}_error"], num(row[f"{side}_ms"])
            if has_it:
                assert CUSTOM_CODE in error, (k, side, error)
                assert ms != ms, (k, side, ms)  # NaN: an unknown time is never a zero
            else:
                assert error == "", (k, side, error)
                assert ms == 0 if empty else ms > 0, (k, side, ms)
        # Sizes do not need the runtime: every row has them (split N: nothing crosses).
        assert (int(row["intermediate_bytes"]) > 0) == (k < CHAIN_OPS)
        assert int(row["head_model_bytes"]) > 0 or k == 0
        assert int(row["tail_model_bytes"]) > 0 or k == CHAIN_OPS
    assert f"not measured: split {CUSTOM_AT + 1} head" in result.stderr
    assert "Traceback" not in result.stderr


def test_unverifiable_split_is_not_reported_as_lossy(runs: dict) -> None:
    """The lossless check cannot run when the whole model cannot: the table must say
    "unknown" (empty), not "False" — a "not lossless" nobody measured."""
    _, out = runs["chain"]
    for k, row in rows_by_split(out / "splits.csv").items():
        assert row["max_abs_diff"] == "", (k, row["max_abs_diff"])
        assert row["lossless"] == "", (k, row["lossless"])
        assert row["bit_exact"] == "", (k, row["bit_exact"])


def test_real_mediapipe_model_with_an_unresolvable_operator(
    runs: dict, face_splits: list[int]
) -> None:
    result, out = runs["face"]
    assert_incomplete(result, "parts not measured", FACE_OP)
    before, at, after = face_splits
    rows = rows_by_split(out / "splits.csv")
    assert sorted(rows) == sorted(face_splits)  # the splits asked for, no filler rows
    for k in face_splits:
        row = rows[k]
        assert int(row["head_model_bytes"]) > 0 and int(row["tail_model_bytes"]) > 0
        assert int(row["intermediate_bytes"]) > 0
        # Every tail here still holds the operator (and later custom ones).
        assert row["server_error"].startswith("unresolved custom operator"), row["server_error"]
        assert FACE_OP in row["server_error"]
    for k in (before, at):  # heads without the operator run
        assert rows[k]["client_error"] == "" and num(rows[k]["client_ms"]) > 0, rows[k]
    assert FACE_OP in rows[after]["client_error"]
    assert num(rows[after]["client_ms"]) != num(rows[after]["client_ms"])  # NaN
