"""Lowering parts to ``.pte``: decompositions once, parts cached by content, workers in parallel.

Lowering is the cost of the ExecuTorch route. ``to_edge_transform_and_lower`` on a part
exported from the eager module runs ``torch.export`` and two rounds of decompositions before
the XNNPACK partitioner and the emitter ever see it. Here the whole model goes through the
decompositions **once** (:func:`edge_model`, with exactly the operators XNNPACK asks to keep,
as ``to_edge_transform_and_lower`` would), every part is cut out of that edge program
(:mod:`.splitter`), and only ``to_backend(XnnpackPartitioner())`` and ``to_executorch()`` run
per part.

Parts are cached under a key made of the edge program's content hash, the part's unit range
and boundary, and the lowering settings (ExecuTorch version, partitioner mode), so a rerun or
a second sweep of the same model lowers nothing twice. Many parts are lowered in parallel in
worker processes (``jobs``); each worker loads the edge program once from the cache (ExecuTorch's
own serializer, as ETRecord uses), so workers never redo the decompositions either.

Operators XNNPACK does not take stay on ExecuTorch's portable kernels; every lowered part says
how many of its operators were delegated.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import io
import json
import os
import signal
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from splitbench.errors import ModelError
from splitbench.formats.executorch.fold import fold_batch_norms
from splitbench.formats.executorch.splitter import PartSpec, part_program
from splitbench.formats.executorch.units import ProgramUnits, program_units
from splitbench.orphans import Parent, Spawner, die_with_parent
from splitbench.signals import interrupts_deferred

if TYPE_CHECKING:
    from torch.export import ExportedProgram

LOWERING_VERSION = 2  # bump when the way parts are made changes, so caches are not reused


def executorch_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("executorch")
    except PackageNotFoundError:
        return "unknown"


class LoweringError(ModelError):
    """A part (or the whole model) could not be lowered; the message names the operator (and
    the split it breaks, once the part maker adds it): one line, no traceback."""


@dataclass(frozen=True)
class LoweredPart:
    """One ``.pte`` file and what the lowering did."""

    path: Path
    nbytes: int
    units: int  # split units in the part
    delegated: int  # of them, run by XNNPACK
    delegates: int  # XNNPACK delegate blocks in the program
    portable_ops: tuple[str, ...]  # operators left on the portable kernels
    seconds: float  # wall time of the lowering (0 when read from the cache)
    cached: bool = False

    def manifest(self) -> dict[str, Any]:
        data = asdict(self)
        data["path"] = str(self.path)
        return data


@dataclass
class EdgeModel:
    """The whole model in edge dialect, decomposed once; parts are cut out of it."""

    program: ExportedProgram
    units: ProgramUnits
    sha256: str  # content hash of the edge program (graph + weights)
    preserved_ops: tuple[Any, ...]  # operators kept for XNNPACK (not decomposed)
    saved: Path | None = None  # the edge program serialized for worker processes

    def __post_init__(self) -> None:
        # A tuple, handed to ExecuTorch as a fresh list each time: its verifier factories
        # (executorch 1.5.1) append the config's exception list to the list they are handed, in
        # place. Handed this list itself, they doubled it with every part lowered, and every
        # verification scans it: a resnet18 part went from seconds to minutes within 20 parts.
        self.preserved_ops = tuple(self.preserved_ops)


def _config(preserved: Sequence[Any] | None = None) -> Any:
    """The edge compile config; ``preserved`` are the operators kept out of decompositions for
    XNNPACK, which every later verifier must accept (as ``to_edge_transform_and_lower`` does)."""
    from executorch.exir import EdgeCompileConfig

    return EdgeCompileConfig(_core_aten_ops_exception_list=list(preserved or []))


def edge_model(exported: ExportedProgram) -> EdgeModel:
    """Run the decompositions of ``to_edge_transform_and_lower`` once, for the whole model."""
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.exir.program._program import _gen_edge_manager_for_partitioners

    config = _config()
    with _quiet():
        manager = _gen_edge_manager_for_partitioners(
            {"forward": [XnnpackPartitioner()]}, {"forward": exported}, config, None
        )
    program = manager.exported_program()
    return EdgeModel(
        program=program,
        units=program_units(program),
        sha256=_program_sha(program),
        preserved_ops=tuple(config._core_aten_ops_exception_list),
    )


def _program_sha(program: ExportedProgram) -> str:
    """Hash of what determines every part: the graph's code, signature and weight bytes."""
    import torch

    h = hashlib.sha256()
    h.update(program.graph_module.code.encode())
    h.update(str(program.graph_signature).encode())
    for name, tensor in sorted({**program.state_dict, **program.constants}.items()):
        h.update(name.encode())
        if isinstance(tensor, torch.Tensor):
            t = tensor.detach().contiguous().cpu()
            h.update(str((t.dtype, tuple(t.shape))).encode())
            h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


IO_METHOD = "splitbench_io"  # constant method in every .pte made here: its boundary, as JSON


def part_meta(spec: PartSpec, **extra: Any) -> dict[str, Any]:
    """What a part file says about itself: input and output names (``.pte`` programs have
    positional inputs only), its unit range, and for the whole model the export it came from."""
    return {
        "inputs": list(spec.inputs),
        "outputs": list(spec.outputs),
        "units": [spec.start, spec.stop],
        **extra,
    }


def part_key(
    edge: EdgeModel, spec: PartSpec, per_op_mode: bool = False, meta: dict[str, Any] | None = None
) -> str:
    text = json.dumps(
        [
            meta or part_meta(spec),
            edge.sha256,
            spec.start,
            spec.stop,
            list(spec.inputs),
            list(spec.outputs),
            per_op_mode,
            executorch_version(),
            LOWERING_VERSION,
        ]
    )
    return hashlib.sha256(text.encode()).hexdigest()


def lower_part(
    edge: EdgeModel,
    spec: PartSpec,
    out: Path,
    *,
    per_op_mode: bool = False,
    etrecord: Path | None = None,
    meta: dict[str, Any] | None = None,
) -> LoweredPart:
    """Lower units ``spec`` of ``edge`` to the ``.pte`` file ``out`` (written atomically).

    The program gets a constant method :data:`IO_METHOD` with ``meta`` (default
    :func:`part_meta`), so a part file names its own inputs and outputs."""
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.exir.program._program import EdgeProgramManager

    started = time.perf_counter()
    config = _config(edge.preserved_ops)
    try:
        # Ctrl-C/SIGTERM held until torch is done: raised inside its C++ callbacks, they abort
        # the process (std::terminate on python_error) instead of unwinding it
        with _quiet(), interrupts_deferred():
            program = part_program(edge.program, edge.units, spec, _verifier(edge))
            if per_op_mode:  # the profiling program: batch norms folded as XNNPACK would
                program = fold_batch_norms(program)
            if etrecord is None and not per_op_mode:
                _drop_provenance(program)
            manager = EdgeProgramManager(
                {"forward": program},
                {IO_METHOD: json.dumps(meta or part_meta(spec))},
                config,
                core_aten_ops_exception_list=list(edge.preserved_ops),
            )
            kept = copy.deepcopy(manager) if etrecord is not None else None
            lowered = manager.to_backend(XnnpackPartitioner(per_op_mode=per_op_mode))
            delegated_graph = lowered.exported_program().graph_module
            result = lowered.to_executorch()
            if etrecord is not None:
                from executorch.devtools import generate_etrecord

                generate_etrecord(str(etrecord), kept, result)
    except Exception as exc:
        raise LoweringError(_describe(exc, edge, spec)) from None
    finally:
        _release_library_caches()
    delegated, delegates, portable = _delegation(delegated_graph, edge.units, spec)
    data = result.buffer
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + f".{os.getpid()}.tmp")
    tmp.write_bytes(data)
    tmp.replace(out)
    return LoweredPart(
        path=out,
        nbytes=len(data),
        units=spec.stop - spec.start,
        delegated=delegated,
        delegates=delegates,
        portable_ops=portable,
        seconds=time.perf_counter() - started,
    )


def _release_library_caches() -> None:
    """Forget what a lowering leaves in process-wide caches, so a long-lived process lowering
    part after part stays the size it was (checked in executorch 1.5.1 with torch 2.13).

    ``to_backend`` checks that the partitioner left the graph alone with ``is_same_node``, an
    unbounded ``lru_cache`` keyed by FX nodes: it kept every node of every part, with its graph.
    FakeTensor's dispatch cache keys the delegate call by its ``LoweredBackendModule``: it kept
    every part's XNNPACK payload and program, weights included (a resnet18 part: ~45 MB). Both
    caches only help within one lowering; they are cleared after each."""
    from executorch.exir.backend import utils as backend_utils
    from torch._subclasses.fake_tensor import FakeTensorMode

    FakeTensorMode.cache_clear()
    cache_clear = getattr(backend_utils.is_same_node, "cache_clear", None)
    if cache_clear is not None:
        cache_clear()


def _drop_provenance(program: ExportedProgram) -> None:
    """Forget where each node came from (``meta["from_node"]``): every one of XNNPACK's ~20
    passes deep-copies that history into each node it makes, which was about a seventh of
    lowering a MobileNetV2 part. Only parts nobody profiles drop it; the profiling program
    keeps it for its ETRecord."""
    for node in program.graph.nodes:
        node.meta.pop("from_node", None)


def _verifier(edge: EdgeModel) -> Any:
    """The edge verifier class that accepts the operators kept for XNNPACK (as the one
    ``to_edge_transform_and_lower`` attaches; a program read back from disk loses it)."""
    from executorch.exir.verification.verifier import EXIREdgeDialectVerifier

    return EXIREdgeDialectVerifier(
        edge_compile_config=_config(edge.preserved_ops),
        class_only=True,
        core_aten_ops_exception_list=list(edge.preserved_ops),
        preserve_ops=list(edge.preserved_ops),
    )


def _delegation(gm: Any, units: ProgramUnits, spec: PartSpec) -> tuple[int, int, tuple[str, ...]]:
    """(units delegated, delegate blocks, operators left on portable kernels)."""
    import operator

    from executorch.exir.delegate import executorch_call_delegate

    in_part = {u.name: u for u in units.units[spec.start : spec.stop]}
    delegates = 0
    portable: list[str] = []
    for node in gm.graph.nodes:
        if node.op != "call_function" or node.target is operator.getitem:
            continue
        if node.target is executorch_call_delegate:
            delegates += 1
        elif node.name in in_part:
            portable.append(in_part[node.name].op)
    return len(in_part) - len(portable), delegates, tuple(portable)


def _describe(exc: BaseException, edge: EdgeModel, spec: PartSpec) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    ops = {u.op for u in edge.units.units[spec.start : spec.stop]}
    named = sorted(op for op in ops if op.split(".")[1] in text) if ops else []
    head = f"operator {named[0]}: " if len(named) == 1 else ""
    return f"{head}{text[:300]}"


@contextlib.contextmanager
def _quiet() -> Any:
    """ExecuTorch's lowering logs deprecation warnings per part; keep the user's terminal clean."""
    import logging
    import warnings

    logger = logging.getLogger("executorch")
    level = logger.level
    logger.setLevel(logging.ERROR)
    xnn = logging.getLogger("executorch.backends.xnnpack.partition.xnnpack_partitioner")
    xnn_level = xnn.level
    xnn.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)
        xnn.setLevel(xnn_level)


def load_program(path: Path) -> ExportedProgram:
    """An edge program saved by :func:`save_program`, with its calls as the lowering expects.

    ExecuTorch's deserializer gives trailing schema arguments back as keyword arguments (a
    ``linear``'s bias); XNNPACK's partitioner reads them by position, so they are put back."""
    from executorch.exir.serde.serialize import load

    program = load(str(path))
    for node in program.graph.nodes:
        schema = getattr(node.target, "_schema", None)
        if node.op != "call_function" or not node.kwargs or schema is None:
            continue
        args, kwargs = list(node.args), dict(node.kwargs)
        for i, arg in enumerate(schema.arguments):
            if arg.kwarg_only:
                break
            if i < len(args):
                continue
            if arg.name not in kwargs:
                break
            args.append(kwargs.pop(arg.name))
        node.args, node.kwargs = tuple(args), kwargs
    program.graph_module.recompile()
    return program


def save_program(program: ExportedProgram, path: Path) -> None:
    """An edge program to a file, with ExecuTorch's serializer (the one ETRecord uses)."""
    from executorch.exir.serde.serialize import save

    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    save(program, buf)
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    tmp.write_bytes(buf.getvalue())
    tmp.replace(path)


# -- the cache and the worker pool ---------------------------------------------------------------

_WORKER_EDGE: EdgeModel | None = None


def _worker_init(saved: str, preserved: list[str], sha: str, parent: Parent) -> None:
    global _WORKER_EDGE
    die_with_parent(parent)  # never outlive a killed sweep (each worker holds ~0.5 GB)
    import torch

    torch.set_num_threads(1)
    program = load_program(Path(saved))
    _WORKER_EDGE = EdgeModel(
        program=program,
        units=program_units(program),
        sha256=sha,
        preserved_ops=_ops_by_name(preserved),
    )


def _ops_by_name(names: list[str]) -> list[Any]:
    """``aten.linear.default`` back to the OpOverload (what a worker process is sent)."""
    import torch

    ops = []
    for name in names:
        ns, op, overload = name.split(".")
        ops.append(getattr(getattr(getattr(torch.ops, ns), op), overload))
    return ops


def _op_name(op: Any) -> str:
    return str(op)  # OpOverload prints as "aten.linear.default"


def _worker_lower(
    spec: PartSpec, out: str, per_op_mode: bool, meta: dict[str, Any] | None
) -> LoweredPart | str:
    assert _WORKER_EDGE is not None
    try:
        return lower_part(_WORKER_EDGE, spec, Path(out), per_op_mode=per_op_mode, meta=meta)
    except LoweringError as exc:
        return str(exc)


class PartCache:
    """Lowered parts on disk, named by :func:`part_key`; lowers what is missing, in parallel."""

    def __init__(self, edge: EdgeModel, root: Path, jobs: int = 1) -> None:
        self.edge = edge
        self.root = Path(root)
        self.jobs = max(1, jobs)
        self._pool: ProcessPoolExecutor | None = None
        self._pending: dict[str, Future[LoweredPart | str]] = {}
        self._queued: dict[str, tuple[PartSpec, bool]] = {}  # what each pending future lowers

    def path(
        self, spec: PartSpec, per_op_mode: bool = False, meta: dict[str, Any] | None = None
    ) -> Path:
        key = part_key(self.edge, spec, per_op_mode, meta)
        return self.root / key[:2] / f"{key[:32]}.pte"

    def _manifest(self, pte: Path) -> Path:
        return pte.with_suffix(".json")

    def cached(
        self, spec: PartSpec, per_op_mode: bool = False, meta: dict[str, Any] | None = None
    ) -> LoweredPart | None:
        """The part from the cache, None when not lowered yet; a cached failure raises."""
        found = self._lookup(spec, per_op_mode, meta)
        if isinstance(found, str):
            raise LoweringError(found)
        return found

    def _lookup(
        self, spec: PartSpec, per_op_mode: bool, meta: dict[str, Any] | None = None
    ) -> LoweredPart | str | None:
        pte = self.path(spec, per_op_mode, meta)
        meta = self._manifest(pte)
        if not meta.is_file():
            return None
        data = json.loads(meta.read_text())
        if "error" in data:
            return str(data["error"])
        if not pte.is_file():
            return None
        data["path"] = pte
        data["portable_ops"] = tuple(data["portable_ops"])
        data["seconds"] = 0.0
        data["cached"] = True
        return LoweredPart(**data)

    def _record(self, part: LoweredPart | str, pte: Path) -> LoweredPart:
        meta = self._manifest(pte)
        if isinstance(part, str):  # a lowering error is a result too: never retried in vain
            meta.parent.mkdir(parents=True, exist_ok=True)
            meta.write_text(json.dumps({"error": part}))
            raise LoweringError(part)
        meta.write_text(json.dumps(part.manifest()))
        return part

    def get(
        self,
        spec: PartSpec,
        per_op_mode: bool = False,
        meta: dict[str, Any] | None = None,
        etrecord: Path | None = None,
    ) -> LoweredPart:
        """The lowered part, from the cache, from a worker already on it, or lowered here.
        ``etrecord``: also write the ETRecord of this lowering there (never from the cache)."""
        found = self.cached(spec, per_op_mode, meta)
        if found is not None and (etrecord is None or etrecord.is_file()):
            return found
        pte = self.path(spec, per_op_mode, meta)
        key = str(pte)
        future = self._pending.get(key)
        if future is not None:
            self._queued.pop(key, None)
            self._help_until(future)
            # Left in _pending until its result is in: a wait interrupted here (Ctrl-C,
            # SIGTERM) leaves it running, and close() must see that to kill its worker instead
            # of waiting for the part (popped before the wait, it took a SIGTERMed sweep 10 s
            # to exit, one time in five)
            try:
                result = future.result()
            except BrokenProcessPool:
                self._pending.pop(key, None)
                raise LoweringError(
                    "a lowering worker process died (out of memory or killed); rerun to resume"
                ) from None
            self._pending.pop(key, None)
            return self._record(result, pte)
        try:
            part: LoweredPart | str = lower_part(
                self.edge, spec, pte, per_op_mode=per_op_mode, etrecord=etrecord, meta=meta
            )
        except LoweringError as exc:
            part = str(exc)
        return self._record(part, pte)

    def prefetch(self, specs: Iterable[PartSpec], per_op_mode: bool = False) -> None:
        """Start lowering ``specs`` in worker processes; :meth:`get` collects them."""
        todo = [s for s in specs if not s.empty and self._lookup(s, per_op_mode) is None]
        todo = [s for s in todo if str(self.path(s, per_op_mode)) not in self._pending]
        if not todo or self.jobs < 2:
            return
        pool = self._ensure_pool()
        for spec in dict.fromkeys(todo):
            pte = self.path(spec, per_op_mode)
            self._pending[str(pte)] = pool.submit(_worker_lower, spec, str(pte), per_op_mode, None)
            self._queued[str(pte)] = (spec, per_op_mode)

    def _help_until(self, future: Future[LoweredPart | str]) -> None:
        """While ``future`` is not done, lower here the last queued part no worker has taken.

        This process holds the edge program already, while each worker first spends about
        12 CPU-s starting (imports, reading the program back): without this, it would only wait.
        A part a worker has started cannot be cancelled and stays the worker's.
        """
        while not future.done():
            for key in reversed(list(self._queued)):
                if self._pending[key].cancel():  # still in the pool's queue: take it
                    spec, per_op_mode = self._queued.pop(key)
                    try:
                        part: LoweredPart | str = lower_part(
                            self.edge, spec, Path(key), per_op_mode=per_op_mode
                        )
                    except LoweringError as exc:
                        part = str(exc)
                    done: Future[LoweredPart | str] = Future()
                    done.set_result(part)
                    self._pending[key] = done
                    break
            else:
                return  # every other part is with a worker: wait for this one

    def lower_all(
        self,
        specs: list[PartSpec],
        per_op_mode: bool = False,
        on_done: Callable[[int, int], None] | None = None,
    ) -> list[LoweredPart | LoweringError]:
        """Lower every spec (parallel with ``jobs`` > 1); errors come back in place."""
        self.prefetch(specs, per_op_mode)
        results: list[LoweredPart | LoweringError] = []
        for i, spec in enumerate(specs):
            try:
                results.append(self.get(spec, per_op_mode))
            except LoweringError as exc:
                results.append(exc)
            if on_done:
                on_done(i + 1, len(specs))
        return results

    def _ensure_pool(self) -> ProcessPoolExecutor:
        if self._pool is None:
            import multiprocessing

            saved = self._save_edge()
            self._pool = ProcessPoolExecutor(
                max_workers=self.jobs,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_worker_init,
                initargs=(
                    str(saved),
                    [_op_name(op) for op in self.edge.preserved_ops],
                    self.edge.sha256,
                    Spawner(),
                ),
            )
        return self._pool

    def _save_edge(self) -> Path:
        if self.edge.saved is None or not self.edge.saved.is_file():
            path = self.root / f"edge-{self.edge.sha256[:32]}.ep"
            if not path.is_file():
                save_program(self.edge.program, path)
            self.edge.saved = path
        return self.edge.saved

    def worker_pids(self) -> list[int]:
        """The worker processes lowering in the background now (none before :meth:`prefetch`
        and after :meth:`close`): what a timed run on this host stops while it runs."""
        if self._pool is None:
            return []
        processes = getattr(self._pool, "_processes", None) or {}
        for _ in range(3):  # the pool's own thread may replace a worker meanwhile
            with contextlib.suppress(RuntimeError):
                return [p.pid for p in list(processes.values()) if p.pid is not None]
        return []

    def close(self) -> None:
        """Stop the workers. A part still being lowered that nobody will collect (an
        interrupted sweep) is not waited for: its worker is killed, so the sweep stops now."""
        if self._pool is not None:
            running = [f for f in self._pending.values() if not f.cancel() and not f.done()]
            self._pending.clear()
            self._queued.clear()
            processes = list((getattr(self._pool, "_processes", None) or {}).values())
            if running:  # ProcessPoolExecutor.terminate_workers() from Python 3.14
                for process in processes:
                    process.kill()
            # A worker stopped for a timed run still being finished (an interrupted sweep) must
            # run to read its stop sentinel; shutdown would otherwise wait for that run.
            for process in processes:
                if process.pid is not None:
                    with contextlib.suppress(OSError):
                        os.kill(process.pid, signal.SIGCONT)
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
