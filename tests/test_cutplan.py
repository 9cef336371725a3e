"""Cut plans of real models: the tensors and bytes crossing every split point."""

from __future__ import annotations

import math
import random
import sys
from pathlib import Path

import pytest
import split_models
from splitbench.cutplan import (
    Cut,
    cut_at,
    input_bytes,
    output_bytes,
    plan_cuts,
    weight_only_operators,
)
from splitbench.errors import SplitPointError
from splitbench.graph import ModelGraph, OperatorInfo, TensorInfo, load_graph


def naive_cut(graph: ModelGraph, k: int) -> set[int]:
    """The issue's definition, written the slow and obvious way."""
    produced_before = set(graph.inputs)
    for op in graph.operators[:k]:
        produced_before.update(op.outputs)
    consumed_after = {t for op in graph.operators[k:] for t in op.inputs}
    return {
        t
        for t in produced_before
        if t >= 0
        and not graph.tensors[t].is_constant
        and (t in consumed_after or t in graph.outputs)
    }


def activation(graph: ModelGraph, op: int) -> int:
    return graph.operators[op].outputs[0]


def test_chain_cuts_are_single_tensors(chain_tflite: Path) -> None:
    graph = load_graph(chain_tflite)
    cuts = plan_cuts(graph)
    assert [c.split for c in cuts] == [0, 1, 2, 3, 4]
    assert cuts[0].tensors == graph.inputs
    assert [c.tensors for c in cuts[1:4]] == [(activation(graph, i),) for i in range(3)]
    assert cuts[4].tensors == graph.outputs
    # 16x16x3 image, 8x8x8, 8x8x8, 8x8x16, 8x8x4 — float32
    assert [c.nbytes for c in cuts] == [3072, 2048, 2048, 4096, 1024]
    assert cuts[4].outputs == graph.outputs and cuts[3].outputs == ()
    assert cuts[0].from_inputs == graph.inputs and cuts[1].from_inputs == ()
    assert [c.names for c in cuts] == [graph.tensor_names(c.tensors) for c in cuts]


def test_branchy_cuts_hold_several_tensors(branchy_tflite: Path) -> None:
    graph = load_graph(branchy_tflite)
    cuts = plan_cuts(graph)
    n = graph.num_operators
    assert len(cuts) == n + 1
    assert max(c.num_tensors for c in cuts) >= 3  # both branches and the shared trunk
    for cut in cuts:
        assert set(cut.tensors) == naive_cut(graph, cut.split)
        assert cut.nbytes == sum(graph.tensors[t].nbytes or 0 for t in cut.tensors)
    assert set(cuts[n].tensors) == set(graph.outputs)
    # A model output made before the last operator stays in every later cut, marked as output.
    for out in graph.outputs:
        made = next(op.index for op in graph.operators if out in op.outputs)
        for cut in cuts[made + 1 :]:
            assert out in cut.tensors and out in cut.outputs
        for cut in cuts[: made + 1]:
            assert out not in cut.tensors


def test_branchy_multi_tensor_cut_bytes(branchy_tflite: Path) -> None:
    graph = load_graph(branchy_tflite)
    widest = max(plan_cuts(graph), key=lambda c: c.num_tensors)
    # trunk + both branches, each 16x16x8 float32
    assert widest.num_tensors == 3
    assert widest.nbytes == 3 * 16 * 16 * 8 * 4


def test_input_consumed_late_crosses_every_cut_until_used(two_input_tflite: Path) -> None:
    graph = load_graph(two_input_tflite)
    side = next(i for i in graph.inputs if graph.tensors[i].name.endswith("side:0"))
    used_at = next(op.index for op in graph.operators if side in op.inputs)
    cuts = plan_cuts(graph)
    for cut in cuts:
        assert (side in cut.tensors) == (cut.split <= used_at)
        assert (side in cut.from_inputs) == (cut.split <= used_at)
        assert side not in cut.head_outputs
    assert cuts[0].nbytes == input_bytes(graph) == (8 * 8 * 3 + 8 * 8 * 4) * 4


def test_int8_cut_bytes_count_one_byte_per_element(tmp_path: Path) -> None:
    graph = load_graph(split_models.write(tmp_path, "int8", split_models.int8_model()))
    cuts = plan_cuts(graph)
    assert cuts[0].nbytes == 12 * 12 * 3
    for cut in cuts:
        assert cut.nbytes == sum(math.prod(graph.tensors[t].shape) for t in cut.tensors)
    assert output_bytes(graph) == 12 * 12 * 4


def test_cut_at_matches_plan_and_is_deterministic(branchy_tflite: Path) -> None:
    graph = load_graph(branchy_tflite)
    cuts = plan_cuts(graph)
    assert cuts == plan_cuts(load_graph(branchy_tflite))
    for k in range(graph.num_operators + 1):
        assert cut_at(graph, k) == cuts[k]


@pytest.mark.parametrize("k", [-1, 5, 40])
def test_split_out_of_range(chain_tflite: Path, k: int) -> None:
    graph = load_graph(chain_tflite)
    with pytest.raises(SplitPointError) as info:
        cut_at(graph, k)
    assert str(info.value) == (
        f"split {k} is out of range: this model has 4 operators, so splits are 0..4"
    )


def test_output_and_input_bytes(branchy_tflite: Path) -> None:
    graph = load_graph(branchy_tflite)
    assert input_bytes(graph) == 16 * 16 * 3 * 4
    assert output_bytes(graph) == 16 * 16 * (2 + 4) * 4
    assert plan_cuts(graph)[-1].nbytes == output_bytes(graph)


def _random_dag(num_ops: int, seed: int) -> ModelGraph:
    """A random operator graph record (branches, skips, early outputs) for the sweep's check."""
    rng = random.Random(seed)
    tensors = [TensorInfo(0, "in0", (1, 4), "float32", False)]
    tensors.append(TensorInfo(1, "in1", (2,), "int8", False))
    available = [0, 1]
    operators = []
    for i in range(num_ops):
        weight = len(tensors)
        tensors.append(TensorInfo(weight, f"w{i}", (3,), "float32", True))
        reads = rng.sample(available, min(len(available), rng.randint(1, 3)))
        out = len(tensors)
        tensors.append(TensorInfo(out, f"t{i}", (rng.randint(1, 9),), "float16", False))
        operators.append(OperatorInfo(i, "ADD", (*reads, weight, -1), (out,)))
        available.append(out)
    outputs = tuple(rng.sample(available[2:], 3))
    return ModelGraph(Path("x"), "0", 0, tuple(operators), tuple(tensors), (0, 1), outputs)


@pytest.mark.parametrize("seed", range(5))
def test_sweep_agrees_with_definition_on_random_graphs(seed: int) -> None:
    graph = _random_dag(60, seed)
    cuts = plan_cuts(graph)
    for cut in cuts:
        assert set(cut.tensors) == naive_cut(graph, cut.split)
        assert len(set(cut.tensors)) == len(cut.tensors)


def _chain(n: int) -> ModelGraph:
    tensors = [TensorInfo(i, f"t{i}", (8,), "float32", False) for i in range(n + 1)]
    operators = [OperatorInfo(i, "RELU", (i,), (i + 1,)) for i in range(n)]
    return ModelGraph(Path("x"), "0", 0, tuple(operators), tuple(tensors), (0,), (n,))


def _lines_executed(graph: ModelGraph) -> tuple[int, list[Cut]]:
    """Lines of Python run inside splitbench while planning: a count of work that does not
    depend on how loaded the machine is (no timing)."""
    count = 0

    def tracer(frame, event, arg):  # type: ignore[no-untyped-def]
        nonlocal count
        if "splitbench" not in frame.f_code.co_filename:
            return None
        if event == "line":
            count += 1
        return tracer

    sys.settrace(tracer)
    try:
        cuts = plan_cuts(graph)
    finally:
        sys.settrace(None)
    return count, cuts


def test_plan_is_linear_not_quadratic() -> None:
    """Doubling a chain's length doubles the planning work (a quadratic plan would quadruple
    it): counted in executed lines, not seconds."""
    small, _ = _lines_executed(_chain(1000))
    large, cuts = _lines_executed(_chain(2000))
    assert large / small < 2.5, (small, large)
    assert all(isinstance(c, Cut) and c.tensors == (c.split,) for c in cuts)


def test_weight_only_operators_never_cross_a_cut(tmp_path: Path) -> None:
    """DEQUANTIZE of float16 weights computes from weights alone: its output is a weight of
    whichever part reads it, never intermediate data."""
    graph = load_graph(split_models.write(tmp_path, "fp16", split_models.float16_weights_model()))
    dequantize = {op.index for op in graph.operators if op.opcode == "DEQUANTIZE"}
    assert len(dequantize) >= 3
    assert weight_only_operators(graph) == dequantize
    dequantized = {t for i in dequantize for t in graph.operators[i].outputs}
    cuts = plan_cuts(graph)
    first_working = min(set(range(graph.num_operators)) - dequantize)
    for cut in cuts:
        assert not set(cut.tensors) & dequantized
        if cut.split <= first_working:  # nothing that reads the image has run yet
            assert cut.tensors == graph.inputs
        assert cut == cut_at(graph, cut.split)
    assert cuts[-1].tensors == graph.outputs


def test_weight_only_excludes_model_outputs_and_input_free_operators(chain_tflite: Path) -> None:
    graph = load_graph(chain_tflite)
    assert weight_only_operators(graph) == frozenset()
    # A graph record where a constant-fed operator's output is a model output: not weight-only.
    w = TensorInfo(1, "w", (2,), "float32", True)
    out = TensorInfo(2, "out", (2,), "float32", False)
    x = TensorInfo(0, "x", (2,), "float32", False)
    ops = (OperatorInfo(0, "DEQUANTIZE", (1,), (2,)), OperatorInfo(1, "ZEROS", (), (3,)))
    extra = TensorInfo(3, "z", (2,), "float32", False)
    record = ModelGraph(Path("x"), "0", 0, ops, (x, w, out, extra), (0,), (2,))
    assert weight_only_operators(record) == frozenset()
