"""The ExecuTorch format on real exported programs, lowered with XNNPACK and run with the
ExecuTorch runtime: split units, cuts (checked against an independent computation on the FX
graph), every split lossless, part caching and parallel lowering, the host runner's KPIs, the
ETDump profile mapped to split points, and the one-line refusals."""

from __future__ import annotations

import operator
from pathlib import Path

import pytest
from executorch_models import write_models
from splitbench.errors import ModelError
from splitbench.formats.executorch.etdump_times import handle_units, read_events, split_times
from splitbench.formats.executorch.graph import spec_of
from splitbench.formats.executorch.lower import PartCache
from splitbench.formats.executorch.model import load_edge
from splitbench.formats.executorch.profile import (
    make_profiling_program,
    profile_files,
    run_etdump,
)
from splitbench.formats.executorch.runner import measure_pte
from splitbench.intake.convert_torch import conversion_max_abs_diff, convert_export
from splitbench.intake.pytorch import intake
from splitbench.measure.inputs import make_inputs
from splitbench.measure.types import RunSettings
from splitbench.splitter import ModelSplitter
from splitbench.verify import verify_parts


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("et")
    write_models(folder)
    return folder


@pytest.fixture(scope="module")
def forked(work: Path) -> tuple[Path, Path]:
    export = intake(f"{work / 'et_models.py'}:forked", workdir=work / "run")
    return export.path, convert_export(export, "executorch")


def _independent_cuts(program) -> list[set[str]]:  # type: ignore[no-untyped-def]
    """Cuts straight from the FX graph: values (not weights) made before k and read at or after
    k or returned; units = call_function nodes reachable from a user input, getitems folded."""
    from torch.export.graph_signature import InputKind

    user = {
        s.arg.name for s in program.graph_signature.input_specs if s.kind == InputKind.USER_INPUT
    }
    dep = set(user)
    order: dict[str, int] = {n: -1 for n in user}
    units: list[str] = []
    for node in program.graph.nodes:
        if node.op != "call_function" or not any(a.name in dep for a in node.all_input_nodes):
            continue
        dep.add(node.name)
        if node.target is operator.getitem:
            order[node.name] = order[node.args[0].name]
        else:
            order[node.name] = len(units)
            units.append(node.name)
    readers: dict[str, list[int]] = {}
    for node in program.graph.nodes:
        if node.name in dep and node.op == "call_function" and node.target is not operator.getitem:
            for a in node.all_input_nodes:
                readers.setdefault(a.name, []).append(order[node.name])
    out = next(n for n in program.graph.nodes if n.op == "output")
    returned = {a.name for a in out.all_input_nodes}
    cuts = []
    for k in range(len(units) + 1):
        cuts.append(
            {
                v
                for v, p in order.items()
                if p < k
                and (v in returned or any(r >= k for r in readers.get(v, [])))
                and not (v in dep and v not in user and _is_tuple(program, v))
            }
        )
    return cuts


def _is_tuple(program, name: str) -> bool:  # type: ignore[no-untyped-def]
    import torch

    node = next(n for n in program.graph.nodes if n.name == name)
    return not isinstance(node.meta.get("val"), torch.Tensor)


def test_units_and_cuts_match_the_fx_graph(forked: tuple[Path, Path]) -> None:
    export, whole = forked
    splitter = ModelSplitter(whole)
    graph = splitter.graph
    assert graph.format == "executorch"
    ops = [op.opcode for op in graph.operators]
    assert ops.count("aten.convolution") == 3 and "aten.linear" in ops  # linear kept for XNNPACK
    edge = load_edge(export)
    expected = _independent_cuts(edge.program)
    assert len(expected) == graph.num_operators + 1
    weights = set(edge.program.graph_signature.inputs_to_parameters)
    for k in range(graph.num_operators + 1):
        names = set(splitter.cut(k).names)
        assert names == expected[k], k
        assert not names & weights
    # the residual gives 2-tensor cuts, and the early sigmoid output crosses every later cut
    assert max(len(splitter.cut(k).names) for k in range(graph.num_operators + 1)) == 2
    sig = graph.num_operators - 2
    assert any("sigmoid" in n for n in splitter.cut(sig + 1).names)
    # bytes are dtype-aware: float32 [1, 8, 12, 12] = 4608 bytes
    assert splitter.cut(1).nbytes == 1 * 8 * 12 * 12 * 4


def test_every_split_is_lossless_and_sized_by_its_file(
    forked: tuple[Path, Path], tmp_path: Path
) -> None:
    export, whole = forked
    splitter = ModelSplitter(whole)
    inputs = make_inputs(whole, inputs_dir=None, count=2, seed=0)
    portable_seen = False
    for k in range(splitter.num_splits):
        files = splitter.write_parts(k, tmp_path)
        result = verify_parts(whole, files.head_path, files.tail_path, inputs)
        assert result.passed and result.max_abs_diff <= 1e-5, (k, result)
        for path, nbytes in (
            (files.head_path, files.head_bytes),
            (files.tail_path, files.tail_bytes),
        ):
            if path is not None:
                assert path.stat().st_size == nbytes and path.read_bytes()[4:8] == b"ET12"
        for part in splitter._maker.last.values():  # type: ignore[attr-defined]
            assert part.delegated + len(part.portable_ops) == part.units
            portable_seen |= "aten.mean.dim" in part.portable_ops
    assert portable_seen  # XNNPACK leaves this mean to the portable kernels, and the row says so
    assert conversion_max_abs_diff(export, whole, inputs) < 1e-4


def test_parts_are_cached_by_content_and_lowered_alike_in_workers(
    forked: tuple[Path, Path], tmp_path: Path
) -> None:
    export, whole = forked
    splitter = ModelSplitter(whole)
    edge = load_edge(export)
    ios = [io for io in (splitter.head_io(5), splitter.tail_io(5)) if io]
    serial = PartCache(edge, tmp_path / "one", jobs=1)
    first = [serial.get(spec_of(io)) for io in ios]
    assert not any(p.cached for p in first)
    assert all(serial.get(spec_of(io)).cached for io in ios)  # the second time: from the cache
    parallel = PartCache(edge, tmp_path / "two", jobs=2)
    try:
        made = parallel.lower_all([spec_of(io) for io in ios])
    finally:
        parallel.close()
    from splitbench.formats.executorch.runner import input_specs, load, random_inputs, run_once

    for a, b in zip(first, made, strict=True):
        assert not isinstance(b, Exception)
        # A worker reads the edge program back from disk, so the program's metadata (not its
        # computation) may differ: same delegation, same outputs, bit for bit.
        assert (a.delegated, a.delegates, a.portable_ops) == (
            b.delegated,
            b.delegates,
            b.portable_ops,
        )
        _program, method = load(a.path)
        values = random_inputs(input_specs(method.method_meta()))
        for x, y in zip(run_once(a.path, values), run_once(b.path, values), strict=True):
            assert x.numpy().tobytes() == y.numpy().tobytes()


def test_an_interrupted_wait_for_a_worker_does_not_make_close_wait_for_its_part(
    forked: tuple[Path, Path], tmp_path: Path
) -> None:
    """Ctrl-C or SIGTERM while the sweep waits for a part a worker lowers: close() kills the
    worker at once instead of waiting for the part (a worker first spends ~12 CPU-s starting).
    The interrupt is a real signal (SIGALRM, its handler raising as SIGTERM's does) arriving
    during the wait."""
    import signal
    import time

    export, whole = forked
    splitter = ModelSplitter(whole)
    cache = PartCache(load_edge(export), tmp_path, jobs=2)
    spec = spec_of(splitter.tail_io(3))

    def interrupt(_sig: int, _frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGALRM, interrupt)
    try:
        cache.prefetch([spec])
        signal.setitimer(signal.ITIMER_REAL, 0.5)
        with pytest.raises(KeyboardInterrupt):
            cache.get(spec)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        started = time.monotonic()
        cache.close()
        closed_s = time.monotonic() - started
    assert closed_s < 3, closed_s


def test_lowering_part_after_part_keeps_nothing_of_the_parts_done(
    forked: tuple[Path, Path], tmp_path: Path
) -> None:
    """A lowering worker (and the sweep's own process) lowers part after part: nothing one
    lowering leaves behind may grow with the parts done. In executorch 1.5.1 the edge verifier
    extended the operator exception list it was handed, doubling the edge model's list with
    every part (each verification scans it: a resnet18 sweep's parts went from seconds to
    minutes), and two library caches kept every part's graphs and delegate payload."""
    import gc

    import torch.fx
    from executorch.exir.lowered_backend_module import LoweredBackendModule

    export, whole = forked
    splitter = ModelSplitter(whole)
    edge = load_edge(export)
    cache = PartCache(edge, tmp_path, jobs=1)

    def alive(kind: type) -> int:
        gc.collect()
        return sum(issubclass(type(o), kind) for o in gc.get_objects())

    cache.get(spec_of(splitter.tail_io(0)))  # the whole model: the library's one-off set-up
    preserved = list(edge.preserved_ops)
    graphs, lowered = alive(torch.fx.Graph), alive(LoweredBackendModule)
    ks = range(1, splitter.num_splits)
    ios = [io for k in ks for io in (splitter.head_io(k), splitter.tail_io(k))]
    parts = [cache.get(spec_of(io)) for io in ios if io is not None]
    assert len(parts) >= 12 and not any(p.cached for p in parts)
    assert list(edge.preserved_ops) == preserved  # not doubled with every part
    assert alive(torch.fx.Graph) <= graphs
    assert alive(LoweredBackendModule) <= lowered


def test_host_runner_kpis_and_bad_programs(forked: tuple[Path, Path], tmp_path: Path) -> None:
    _export, whole = forked
    m = measure_pte(whole, RunSettings(num_runs=20, min_secs=0.0, warmup_runs=2, warmup_min_secs=0))
    assert m.ok and m.method == "executorch-runtime" and m.runtime == "executorch 1.5.1"
    assert m.init_ms and m.init_ms > 0 and m.first_ms and m.first_ms > 0
    assert len(m.steady_ms) >= 20 and len(m.warmup_ms) >= 1
    assert m.mem_init_mb is not None and m.mem_peak_mb is not None
    other = bytearray(whole.read_bytes())
    other[4:8] = b"ET09"
    (tmp_path / "old.pte").write_bytes(bytes(other))
    bad = measure_pte(tmp_path / "old.pte", RunSettings(num_runs=1))
    assert bad.error and "another ExecuTorch version" in bad.error and "ET09" in bad.error
    (tmp_path / "junk.pte").write_bytes(b"\0" * 64)
    assert "not an ExecuTorch program" in (
        measure_pte(tmp_path / "junk.pte", RunSettings()).error or ""
    )


def test_a_pte_cannot_be_split_again(forked: tuple[Path, Path], tmp_path: Path) -> None:
    from splitbench.model_source import resolve_model

    _export, whole = forked
    copy = tmp_path / "mine.pte"
    copy.write_bytes(whole.read_bytes())  # no export beside it
    with pytest.raises(ModelError, match="cannot be split again"):
        ModelSplitter(copy)
    with pytest.raises(ModelError, match="cannot be split again"):
        resolve_model(str(copy), workdir=tmp_path / "w")


def test_etdump_profile_maps_to_split_points(forked: tuple[Path, Path]) -> None:
    _export, whole = forked
    pte, etrecord = make_profiling_program(whole)
    _, _, etdump = profile_files(whole, 1)
    run_etdump(pte, etdump, 5, 1)
    mapping, units, folded = handle_units(whole)
    ops = [u.op for u in units.units]
    events = read_events(etdump, etrecord, mapping)
    assert events and all(len(e.samples_ms) == 5 for e in events)
    assert not any("::" in e.name or e.name.startswith("native_call_") for e in events)
    covered = {u for e in events for u in e.units}
    assert covered == set(range(len(ops)))  # every unit's time is in exactly the profile
    times = split_times(events, units, folded)
    n = len(ops)
    inner = [k for k in range(1, n) if times.head_ms[k] is not None]
    assert len(inner) >= (n - 1) / 2
    whole_ms = times.head_ms[n]
    assert whole_ms is not None and times.tail_ms[0] == pytest.approx(whole_ms)
    # a split pays the whole model's time plus at most its cut's conversions and, where it
    # cuts a delegate in two, one more delegate call
    extra = sum(e.transpose_in_ms + e.transpose_out_ms for e in events)
    extra += max(e.overhead_ms for e in events)
    for k in inner:
        assert whole_ms - 1e-9 <= times.head_ms[k] + times.tail_ms[k] <= whole_ms + extra + 1e-9
    # a fused block (convolution + relu in one XNNPACK call) has no prediction inside it
    fused = [e for e in events if len(e.units) > 1]
    for e in fused:
        assert times.head_ms[e.units[-1]] is None and "spans the cut" in times.note


def test_etdump_buffer_grows_and_a_runtime_abort_stays_in_its_child(
    forked: tuple[Path, Path], tmp_path: Path
) -> None:
    """executorch 1.5.1: the ETDump event buffer grows with the events (many runs of the
    per-operator program: every event kept, the file grows linearly); the fixed debug buffer
    makes the runtime abort the process when too small — that stays in the profiling child
    and comes back as one line."""
    _export, whole = forked
    pte, etrecord = make_profiling_program(whole)
    few, many = tmp_path / "few.etdump", tmp_path / "many.etdump"
    run_etdump(pte, few, 10, 1)
    run_etdump(pte, many, 3000, 1)
    assert many.stat().st_size / few.stat().st_size == pytest.approx(300, rel=0.05)
    mapping, _units, _folded = handle_units(whole)
    events = read_events(many, etrecord, mapping)
    assert events and all(len(e.samples_ms) == 3000 for e in events)
    tiny = tmp_path / "tiny.etdump"
    with pytest.raises(RuntimeError) as raised:
        run_etdump(pte, tiny, 1, 1, debug_buffer_size=64)
    line = str(raised.value)
    assert "aborted" in line and "debug buffer (64 bytes) is too small" in line, line
    assert "\n" not in line and not tiny.exists()
