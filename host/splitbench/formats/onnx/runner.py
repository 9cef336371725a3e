"""ONNX Runtime on this host: load, run and time an ONNX part; per-node profile of a model.

Timing is the shared loop's (:mod:`splitbench.measure.loop`), so the KPIs mean the same for
every runtime: init = ``InferenceSession`` construction (graph optimisation, kernel creation,
weight prepacking); each run is one ``run()``; raw samples; RSS growth at init, overall and
peak.

Execution provider: the CPU provider, or CUDA when ``onnxruntime-gpu`` and a GPU are present;
the provider in use is part of ``runtime`` (recorded with every sample). Graph optimisations
are ONNX Runtime's defaults (all levels), as a server would run them.

The lossless check (:class:`OrtSession`) runs at the *extended* level instead: every fusion, but
not the CPU-specific layout transformation to blocked NCHWc convolutions. A cut breaks a chain of
blocked convolutions where the whole model has none, and on AVX-512 CPUs the blocked kernels then
sum in another order: a split of the side-input test model came out 2.4e-7 off the whole model at
level all on an Intel Xeon and bit for bit at every lower level (on the AMD EPYC machines this
suite ran on before, bit for bit at level all too). The check is about
the split, so it compares whole and parts at the level where the CPU does not change the answer.

Per-node profile (the predicted columns): after a whole model is timed, a *separate* session
with ``enable_profiling`` runs it again (one unrecorded run, then ``PROFILE_RUNS`` runs); the
trace and that session's optimised graph (without weights) are kept as evidence. ONNX Runtime
fuses nodes (Conv+Relu, Conv+Add, blocked NCHWc convolutions), so a kernel may compute several
nodes: :mod:`.fusion` reads which from the optimised graph, and a split whose cut runs through
such a kernel gets no prediction. Kernel times are calibrated to the directly measured whole
model (:func:`splitbench.predict.calibrate`).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from splitbench.errors import ModelError
from splitbench.formats.base import InputSpec
from splitbench.measure import loop
from splitbench.measure.inputs import random_value
from splitbench.measure.types import PartFailure, PartMeasurement, RunSettings

METHOD = "onnxruntime"
PROFILE_RUNS = 10
PROFILE_SUFFIX = ".ortprofile.json"
GRAPH_SUFFIX = ".ortgraph.onnx"  # the profiled session's optimised graph, without weights
_SEED = 0


def providers() -> list[str]:
    """CUDA when onnxruntime-gpu sees a GPU, else the CPU provider."""
    import onnxruntime as ort

    available = ort.get_available_providers()
    if "CUDAExecutionProvider" in available:
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    return ["CPUExecutionProvider"]


def runtime_version() -> str:
    import onnxruntime as ort

    return f"onnxruntime {ort.__version__} {providers()[0]}"


def _options(threads: int, profile_prefix: str | None = None, *, exact: bool = False) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    if exact:  # see the module's docstring: no NCHWc layout transformation in the check
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    if profile_prefix:
        options.enable_profiling = True
        options.profile_file_prefix = profile_prefix
    return options


def load_session(
    path: Path, threads: int, profile_prefix: str | None = None, *, exact: bool = False
) -> Any:
    import onnxruntime as ort

    try:
        return ort.InferenceSession(
            str(path), _options(threads, profile_prefix, exact=exact), providers=providers()
        )
    except Exception as exc:  # onnxruntime raises its own exception classes
        raise PartFailure("load", _ort_reason(str(exc))) from None


def _ort_reason(message: str) -> str:
    """One line naming what ONNX Runtime could not do, e.g. the operator it has no kernel for."""
    kernel = re.search(
        r"Could not find an implementation for (\S+)\((\d+)\) node with name '([^']*)'", message
    )
    if kernel:
        op, opset, node = kernel.groups()
        return f"no ONNX Runtime kernel for operator {op} (opset {opset}), node '{node}'"
    unregistered = re.search(r"(\S+)\((-?\d+)\) is not a registered function/op", message)
    if unregistered:
        return f"ONNX Runtime has no operator {unregistered.group(1)}"
    schema = re.search(r"No Op registered for (\S+) with domain_version of (\d+)", message)
    if schema:
        return f"ONNX Runtime does not know operator {schema.group(1)} (opset {schema.group(2)})"
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    text = lines[0] if lines else "unknown ONNX Runtime error"
    text = re.sub(r"^\[ONNXRuntimeError\] : \d+ : \w+ : ", "", text)
    return re.sub(r"^Load model from \S+ failed:\s*", "", text)


_NP_TYPES = {
    "tensor(float)": "float32",
    "tensor(float16)": "float16",
    "tensor(double)": "float64",
    "tensor(int64)": "int64",
    "tensor(int32)": "int32",
    "tensor(int16)": "int16",
    "tensor(int8)": "int8",
    "tensor(uint8)": "uint8",
    "tensor(uint16)": "uint16",
    "tensor(bool)": "bool",
}


class OrtSession:
    """One ONNX Runtime session, run by tensor name (the lossless check's runner, at the
    extended optimisation level: see the module's docstring)."""

    def __init__(self, path: Path, threads: int = 1) -> None:
        self.path = Path(path)
        self._session = load_session(self.path, threads, exact=True)
        self._inputs = self._session.get_inputs()
        self._outputs = [o.name for o in self._session.get_outputs()]

    @property
    def input_names(self) -> list[str]:
        return [i.name for i in self._inputs]

    @property
    def output_names(self) -> list[str]:
        return list(self._outputs)

    def run(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        values = {}
        for i in self._inputs:
            if i.name not in feeds:
                raise PartFailure(
                    "invoke",
                    f"input tensor {i.name} of {self.path.name} is neither a model input "
                    "nor an output of the head",
                )
            values[i.name] = np.asarray(feeds[i.name], dtype=_NP_TYPES.get(i.type))
        try:
            got = self._session.run(self._outputs, values)
        except Exception as exc:
            raise PartFailure("invoke", _ort_reason(str(exc))) from None
        return dict(zip(self._outputs, got, strict=True))


def input_specs(path: Path) -> list[InputSpec]:
    """The file's inputs from its protobuf (no session: works even if ONNX Runtime cannot run
    it); image inputs are NCHW, as PyTorch and ONNX models take them."""
    from splitbench.formats.onnx.graph import load_graph

    graph = load_graph(path)
    return [
        InputSpec(
            name=graph.tensors[i].name,
            shape=graph.tensors[i].shape,
            dtype=graph.tensors[i].dtype,
            layout="NCHW",
        )
        for i in graph.inputs
    ]


def _random_feeds(session: Any) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(_SEED)
    feeds = {}
    for i in session.get_inputs():
        if any(not isinstance(d, int) for d in i.shape):
            raise PartFailure("load", f"input {i.name} has symbolic dimensions {i.shape}")
        dtype = _NP_TYPES.get(i.type)
        if dtype is None:
            raise PartFailure("load", f"input {i.name} has type {i.type}, which cannot be fed")
        feeds[i.name] = random_value(i.shape, dtype, rng)
    return feeds


class _LoadedSession:
    def __init__(self, session: Any) -> None:
        self._session = session
        self._feeds: dict[str, np.ndarray] = {}

    def set_inputs(self, inputs: Mapping[str, np.ndarray] | None) -> None:
        self._feeds = _random_feeds(self._session) if inputs is None else dict(inputs)

    def run_once(self) -> None:
        try:
            self._session.run(None, self._feeds)
        except Exception as exc:  # onnxruntime raises its own exception classes
            raise PartFailure("invoke", _ort_reason(str(exc))) from None


@dataclass(frozen=True)
class OrtRuntime:
    """:class:`splitbench.measure.loop.Runtime` for ONNX Runtime (default optimisations)."""

    method: str = METHOD

    def version(self) -> str:
        return runtime_version()

    def prepare(self, settings: RunSettings) -> None:
        import onnxruntime  # noqa: F401  (loaded before the baseline)

    def warm_key(self, settings: RunSettings) -> Hashable:
        return settings.threads

    def load(self, path: Path, settings: RunSettings) -> _LoadedSession:
        return _LoadedSession(load_session(path, settings.threads))


def measure_file(
    path: Path, settings: RunSettings, *, profile_dir: Path | None = None
) -> PartMeasurement:
    """Measure one ONNX file on this host; with ``profile_dir``, also keep a per-node profile
    of it there (a separate session, after the timed runs) and list it in ``evidence``; a
    profile that cannot be taken is noted (``meta["profile_error"]``), the timing stands."""
    m = loop.measure(OrtRuntime(), Path(path), settings)
    if m.ok and profile_dir is not None:
        try:
            found = profile(Path(path), settings.threads, Path(profile_dir))
        except (PartFailure, OSError) as exc:
            why = exc.reason if isinstance(exc, PartFailure) else str(exc)
            m.meta["profile_error"] = f"the model could not be profiled: {why}"
        else:
            m.evidence += [str(p) for p in found]
    return m


def profile(path: Path, threads: int, out_dir: Path) -> list[Path]:
    """A per-node profile of ``path``: one unrecorded run, then ``PROFILE_RUNS`` profiled ones;
    returns the trace and the session's optimised graph (weights left out), which names what
    each kernel of the trace computes (:mod:`.fusion`)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    graph_path = out_dir / f"{path.stem}{GRAPH_SUFFIX}"
    weights = f"{path.stem}{GRAPH_SUFFIX}.weights"
    options = _options(threads, profile_prefix=str(out_dir / f"{path.stem}.ort"))
    options.optimized_model_filepath = str(graph_path)
    options.add_session_config_entry(
        "session.optimized_model_external_initializers_file_name", weights
    )
    options.add_session_config_entry(
        "session.optimized_model_external_initializers_min_size_in_bytes", "64"
    )
    import onnxruntime as ort

    try:
        session = ort.InferenceSession(str(path), options, providers=providers())
    except Exception as exc:  # onnxruntime raises its own exception classes
        raise PartFailure("load", _ort_reason(str(exc))) from None
    finally:
        (out_dir / weights).unlink(missing_ok=True)  # only the graph is read back
    feeds = _random_feeds(session)
    for _ in range(1 + PROFILE_RUNS):
        session.run(None, feeds)
    written = Path(session.end_profiling())
    target = out_dir / f"{path.stem}{PROFILE_SUFFIX}"
    os.replace(written, target)
    return [target, graph_path]


# --- reading a profile -------------------------------------------------------------------------


def kernel_times(trace_path: Path) -> tuple[dict[str, float], int]:
    """Mean ms per run of each kernel (by name) in an ONNX Runtime profile trace, and the number
    of runs counted; the first run of the trace is a warm-up and is left out."""
    try:
        events = json.loads(trace_path.read_text())
    except (OSError, ValueError) as exc:
        raise ModelError(f"cannot read ONNX Runtime profile {trace_path}: {exc}") from None
    runs = sorted(
        (e["ts"], e["ts"] + e["dur"])
        for e in events
        if e.get("cat") == "Session" and e.get("name") == "model_run"
    )
    if len(runs) < 2:
        raise ModelError(f"{trace_path.name} holds fewer than two runs")
    warm_start, warm_end = runs[0]
    total: dict[str, float] = {}
    for e in events:
        name = e.get("name", "")
        if e.get("cat") != "Node" or not name.endswith("_kernel_time"):
            continue
        if warm_start <= e["ts"] <= warm_end:
            continue
        kernel = name[: -len("_kernel_time")]
        total[kernel] = total.get(kernel, 0.0) + e["dur"] / 1000.0
    n = len(runs) - 1
    return {k: t / n for k, t in total.items()}, n


def profile_groups(
    graph: Any, trace_path: Path, optimized: Path
) -> tuple[list[tuple[tuple[int, ...], float, str]], str]:
    """The profile's kernels as (original node positions, ms per run, label) and a note: a
    fused kernel covers several nodes, a layout change counts at the node whose value it
    moves (:mod:`.fusion`)."""
    from splitbench.formats.onnx.fusion import kernel_nodes
    from splitbench.formats.onnx.graph import parsed_model

    parsed = parsed_model(graph)
    nodes = parsed.model.graph.node
    names = [nodes[i].name or f"#{p}" for p, i in enumerate(parsed.order)]
    kernels = kernel_nodes(graph, names, list(parsed.order), optimized)
    times, runs = kernel_times(trace_path)
    groups = []  # one entry per kernel; the kernels of one group share its nodes and label
    for name, ms in times.items():
        kernel = kernels.get(name)
        if kernel is None:
            raise ModelError(f"kernel {name} of {trace_path.name} is not in {optimized.name}")
        covered = ", ".join(names[i] for i in kernel.nodes)
        if kernel.counted_at:
            label = f"kernel {kernel.name} ({kernel.op_type}) counted at node {covered}"
        else:
            label = f"kernel {kernel.name} ({kernel.op_type}) computes nodes {covered}"
        groups.append((kernel.nodes, ms, label))
    fused = len({label for n, _, label in groups if len(n) > 1})
    note = (
        f"ONNX Runtime per-node profile over {runs} runs, {len(times)} kernels"
        f" ({fused} fused kernels or groups over several nodes)"
    )
    return groups, note


def predict_from_profile(graph: Any, whole: PartMeasurement, paths: list[Path]) -> Any:
    """A :class:`~splitbench.predict.Prediction` from ONNX Runtime's per-node profile, calibrated
    to the measured whole model: head of split k = nodes < k, tail = nodes >= k; no prediction
    where a fused kernel spans the cut (or why there is none at all)."""
    from splitbench.predict import NoPrediction, from_unit_groups

    traces = sorted(p for p in paths if p.name.endswith(PROFILE_SUFFIX))
    graphs = sorted(p for p in paths if p.name.endswith(GRAPH_SUFFIX))
    if not graphs:
        return NoPrediction(
            f"{traces[0].name} was taken without ONNX Runtime's optimised graph, so its fused "
            "kernels cannot be told apart: measure the whole model again"
        )
    try:
        groups, note = profile_groups(graph, traces[0], graphs[0])
    except ModelError as exc:
        return NoPrediction(str(exc))
    return from_unit_groups(
        groups, graph.num_operators, traces[0], note, measured_ms=whole.steady_mean_ms
    )
