"""``splitbench inspect`` and ``splitbench split`` as a user runs them: the operators and the cut
of every split printed, and head/tail files that LiteRT's interpreter loads and runs — chained,
they give the whole model's outputs.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from cli_helpers import CliResult, assert_one_line_error, run_cli, run_many, tensor_nbytes

pytestmark = pytest.mark.slow

POSENET_OPS = 31
SPLIT_LINE = re.compile(r"^split (\d+):(\d+)\s+head (\d+) B\s+tail (\d+) B\s+→ (.+)$", re.M)
CUT_ROW = re.compile(r"^│\s*(\d+):(\d+)\s*│\s*(.*?)\s*│\s*(\d+)\s*│$")
CONTINUATION = re.compile(r"^│\s*│\s*(.*?)\s*│\s*│$")
OP_ROW = re.compile(r"^│\s*(\d+)\s*│\s*([A-Z0-9_]+(?::\w+)?)\s*│", re.M)


def interpreter(path: Path):  # type: ignore[no-untyped-def]
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_path=str(path))
    it.allocate_tensors()
    return it


def run_model(path: Path, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Run a model (or a part) on the inputs it names, return its outputs by name."""
    it = interpreter(path)
    for d in it.get_input_details():
        it.set_tensor(d["index"], feed[d["name"]])
    it.invoke()
    return {d["name"]: it.get_tensor(d["index"]).copy() for d in it.get_output_details()}


def cut_rows(stdout: str, known: set[str] | None = None) -> dict[int, tuple[list[str], int]]:
    """The cut table: split -> (tensor names, bytes).

    A long cell wraps onto continuation rows (empty split and bytes cells), at the space of the
    "; " separator. TFLite names may themselves contain ";", so with ``known`` names the pieces
    are re-joined until each is a real tensor name.
    """
    cells: dict[int, list] = {}
    last = None
    for line in stdout.splitlines():
        row = CUT_ROW.match(line)
        if row:
            last = int(row[1])
            cells[last] = [row[3], int(row[4])]
        elif last is not None and (more := CONTINUATION.match(line)):
            cells[last][0] += " " + more[1]
        else:
            last = None
    rows = {}
    for k, (text, nbytes) in cells.items():
        names, piece = [], ""
        for token in text.split("; "):
            piece = f"{piece}; {token}" if piece else token
            if known is None or piece in known:
                names.append(piece)
                piece = ""
        assert not piece, (k, text)
        rows[k] = (names, nbytes)
    return rows


@pytest.fixture(scope="module")
def inspected(branchy_tflite: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    work = tmp_path_factory.mktemp("inspect_work")
    posenet, branchy = run_many(
        [["inspect", "posenet", "--workdir", work], ["inspect", branchy_tflite, "--workdir", work]]
    )
    return {"posenet": posenet.ok(), "branchy": branchy.ok()}


def test_inspect_posenet_lists_31_operators_and_32_splits(inspected: dict) -> None:
    out = inspected["posenet"].stdout
    assert re.search(rf"^posenet: {POSENET_OPS} operators, \d+ bytes", out, re.M), out
    ops = OP_ROW.findall(out)
    assert [int(i) for i, _ in ops] == list(range(POSENET_OPS))
    kinds = [kind for _, kind in ops]
    assert kinds[0] == "CONV_2D" and kinds[1] == "DEPTHWISE_CONV_2D"
    assert kinds.count("DEPTHWISE_CONV_2D") == 13  # MobileNetV1's 13 separable blocks
    cuts = cut_rows(out)
    assert sorted(cuts) == list(range(POSENET_OPS + 1))
    assert cuts[0] == (["image"], 257 * 257 * 3 * 4)
    assert cuts[POSENET_OPS][1] == 17 * 17 * (17 + 34 + 32 + 32) * 4
    assert len(cuts[POSENET_OPS][0]) == 4  # the four heads


def test_inspect_branchy_model_shows_multi_tensor_cuts(
    inspected: dict, branchy_tflite: Path
) -> None:
    from ai_edge_litert.interpreter import Interpreter

    details = Interpreter(model_path=str(branchy_tflite)).get_tensor_details()
    sizes = {d["name"]: tensor_nbytes(d) for d in details}
    cuts = cut_rows(inspected["branchy"].stdout, set(sizes))
    assert sorted(cuts) == list(range(7))
    for k, (names, nbytes) in cuts.items():
        assert nbytes == sum(sizes[n] for n in names), (k, names, nbytes)
    widest = max(len(names) for names, _ in cuts.values())
    assert widest >= 3, cuts  # two branches and the kept early feature map cross at once
    assert len(cuts[6][0]) == 2  # both model outputs


@pytest.fixture(scope="module")
def split_all(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    out = tmp_path_factory.mktemp("split_all")
    result = run_cli("split", "posenet", "--all", "--out", out)
    yield result, out
    shutil.rmtree(out, ignore_errors=True)  # ~400 MB of parts


def test_split_all_writes_every_split_with_true_sizes(split_all) -> None:  # type: ignore[no-untyped-def]
    result, out = split_all
    result.ok()
    two = (os.cpu_count() or 1) >= 2
    assert f"wrote {2 * POSENET_OPS} parts" in result.stdout
    # The kit's one size convention (docs/columns.md): 1 MB = 1,048,576 bytes.
    total = sum(p.stat().st_size for p in out.glob("split_*/*.tflite"))
    assert f"parts, {total / 1048576:.1f} MB," in result.stdout, (total, result.stdout)
    assert ("(tails written by a second process)" in result.stdout) == two, result.stdout
    lines = SPLIT_LINE.findall(result.stdout)
    assert [int(k) for k, *_ in lines] == list(range(POSENET_OPS + 1)), result.stdout
    for k, rest, head_b, tail_b, folder in lines:
        assert int(k) + int(rest) == POSENET_OPS
        head, tail = Path(folder) / "head.tflite", Path(folder) / "tail.tflite"
        assert Path(folder).parent == out
        if int(k) == 0:
            assert int(head_b) == 0 and not head.exists()
        else:
            assert head.stat().st_size == int(head_b)
        if int(k) == POSENET_OPS:
            assert int(tail_b) == 0 and not tail.exists()
        else:
            assert tail.stat().st_size == int(tail_b)


def test_split_all_parts_chain_to_the_whole_model(split_all) -> None:  # type: ignore[no-untyped-def]
    """Every head and tail loads and runs in LiteRT; head then tail gives posenet's outputs."""
    from splitbench_models.posenet import build_posenet_tflite

    _, out = split_all
    whole_path = build_posenet_tflite()
    rng = np.random.default_rng(5)
    image = rng.uniform(-1, 1, (1, 257, 257, 3)).astype(np.float32)
    whole = run_model(whole_path, {"image": image})
    for k in range(POSENET_OPS + 1):
        folder = out / f"split_{k:03d}"
        values = {"image": image}
        if k > 0:
            values.update(run_model(folder / "head.tflite", values))
        if k < POSENET_OPS:
            values.update(run_model(folder / "tail.tflite", values))
        for name, expected in whole.items():
            np.testing.assert_allclose(values[name], expected, atol=1e-5, err_msg=f"{k}: {name}")


def test_split_all_in_two_processes_writes_the_parts_of_write_parts(
    branchy_tflite: Path, tmp_path: Path
) -> None:
    """The command forks a child for the tails (a fresh process has no other threads): its
    files are byte for byte those of write_parts in one process."""
    from splitbench.splitter import ModelSplitter

    result = run_cli("split", branchy_tflite, "--all", "--out", tmp_path / "cli").ok()
    if (os.cpu_count() or 1) >= 2:
        assert "(tails written by a second process)" in result.stdout, result.stdout
    alone = ModelSplitter(branchy_tflite)
    for k in range(alone.num_splits):
        files = alone.write_parts(k, tmp_path / "alone")
        for role, path in (("head", files.head_path), ("tail", files.tail_path)):
            ours = alone.split_dir(tmp_path / "cli", k) / f"{role}.tflite"
            assert ours.exists() == (path is not None), (k, role)
            if path is not None:
                assert ours.read_bytes() == path.read_bytes(), (k, role)
    assert not list((tmp_path / "cli").rglob("*.partial"))


def test_split_all_when_the_tail_writer_finishes_long_before_the_heads(tmp_path: Path) -> None:
    """Heavy heads, tiny tails: the forked tail writer is done and gone while this process still
    writes heads. Its end is not a fault: every split is printed and every part is there."""
    import model_factory

    model = tmp_path / "front_heavy.tflite"
    model.write_bytes(model_factory.front_heavy_model())
    result = run_cli("split", model, "--all", "--out", tmp_path / "out").ok()
    lines = SPLIT_LINE.findall(result.stdout)
    assert [int(k) for k, *_ in lines] == list(range(len(lines)))
    assert len(lines) >= 13
    for k, _, head_b, tail_b, folder in lines:
        for role, size in (("head", int(head_b)), ("tail", int(tail_b))):
            part = Path(folder) / f"{role}.tflite"
            assert part.exists() == (size > 0), (k, role)
            if size:
                assert part.stat().st_size == size
    assert int(lines[1][2]) > 8_000_000 and int(lines[1][3]) < 200_000
    if (os.cpu_count() or 1) >= 2:
        assert "(tails written by a second process)" in result.stdout


def test_split_all_a_tail_that_cannot_be_written_is_one_line(
    branchy_tflite: Path, tmp_path: Path
) -> None:
    from splitbench.splitter import ModelSplitter

    in_the_way = ModelSplitter(branchy_tflite).split_dir(tmp_path / "out", 2) / "tail.tflite"
    in_the_way.mkdir(parents=True)  # a folder where split 2's tail must go
    result = run_cli("split", branchy_tflite, "--all", "--out", tmp_path / "out")
    assert_one_line_error(result, str(in_the_way), "Is a directory")
    assert [int(k) for k, *_ in SPLIT_LINE.findall(result.stdout)] == [0, 1]  # finished first
    assert not list((tmp_path / "out").rglob("*.partial"))


def test_split_at_writes_one_split(chain_tflite: Path, tmp_path: Path) -> None:
    result = run_cli("split", chain_tflite, "--at", "2", "--out", tmp_path).ok()
    ((k, rest, head_b, tail_b, folder),) = SPLIT_LINE.findall(result.stdout)
    assert (k, rest) == ("2", "2")
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith("split_")] == ["split_002"]
    head, tail = Path(folder) / "head.tflite", Path(folder) / "tail.tflite"
    assert head.stat().st_size == int(head_b) and tail.stat().st_size == int(tail_b)
    head_it, tail_it = interpreter(head), interpreter(tail)
    # The cut tensor is the head's only output and the tail's only input.
    (head_out,) = head_it.get_output_details()
    (tail_in,) = tail_it.get_input_details()
    assert head_out["name"] == tail_in["name"]
    assert list(head_out["shape"]) == list(tail_in["shape"])


def test_split_needs_exactly_one_of_at_or_all(chain_tflite: Path, tmp_path: Path) -> None:

    neither: CliResult = run_cli("split", chain_tflite, "--out", tmp_path)
    assert_one_line_error(neither, "--at", "--all")
    both = run_cli("split", chain_tflite, "--at", "1", "--all", "--out", tmp_path)
    assert_one_line_error(both, "--at", "--all")
    assert not list(tmp_path.glob("split_*"))
