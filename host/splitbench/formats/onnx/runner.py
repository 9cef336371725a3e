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
trace is kept as evidence and read by :func:`node_times`. ONNX Runtime fuses nodes (Conv+Clip,
layout conversions to NCHWc), and its kernels are named after the node they come from, after
a tensor that node produced (``<tensor>_nchwc``), or after nothing of ours (``ReorderOutput``).
:func:`node_times` maps a kernel to the node of that name, else to the producer of that tensor,
else to the node of the kernel that ran just before it; the fused-away nodes get no time of
their own, so their time is counted at the node the fused kernel is named after.
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
    of it there (a separate session, after the timed runs) and list it in ``evidence``."""
    m = loop.measure(OrtRuntime(), Path(path), settings)
    if m.ok and profile_dir is not None:
        m.evidence.append(str(profile(Path(path), settings.threads, Path(profile_dir))))
    return m


def profile(path: Path, threads: int, out_dir: Path) -> Path:
    """A per-node profile of ``path``: one unrecorded run, then ``PROFILE_RUNS`` profiled ones."""
    out_dir.mkdir(parents=True, exist_ok=True)
    session = load_session(path, threads, profile_prefix=str(out_dir / f"{path.stem}.ort"))
    feeds = _random_feeds(session)
    for _ in range(1 + PROFILE_RUNS):
        session.run(None, feeds)
    written = Path(session.end_profiling())
    target = out_dir / f"{path.stem}{PROFILE_SUFFIX}"
    os.replace(written, target)
    return target


# --- reading a profile -------------------------------------------------------------------------


def node_times(
    trace_path: Path, node_names: list[str], produced_by: Mapping[str, int]
) -> tuple[list[float], str]:
    """Mean ms per run for each node (by position), from an ONNX Runtime profile trace.

    ``node_names``: the graph's node names in execution order; ``produced_by``: tensor name →
    position of its producer. The first run of the trace is a warm-up and is left out. Returns
    the times and a note on how kernels were mapped (see the module docstring).
    """
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
    counted = runs[1:]
    by_name = {name: i for i, name in enumerate(node_names) if name}
    times = [0.0] * len(node_names)
    how = {"name": 0, "tensor": 0, "previous": 0}
    kernels = sorted(
        (
            e
            for e in events
            if e.get("cat") == "Node" and e.get("name", "").endswith("_kernel_time")
        ),
        key=lambda e: e["ts"],
    )
    last: int | None = None
    for event in kernels:
        ts = event["ts"]
        if any(a <= ts <= b for a, b in runs[:1]):  # the warm-up run
            continue
        name = event["name"][: -len("_kernel_time")]
        node, kind = _map_kernel(name, by_name, produced_by)
        if node is None:
            node, kind = last, "previous"
        if node is None:
            continue
        how[kind] += 1
        times[node] += event["dur"] / 1000.0
        last = node
    n = len(counted)
    note = (
        f"ONNX Runtime per-node profile over {n} runs; kernels mapped to nodes by name"
        f" ({how['name']}), by the tensor a fused kernel is named after ({how['tensor']}),"
        f" or to the node run just before them ({how['previous']}, e.g. layout reorders)"
    )
    return [t / n for t in times], note


def _map_kernel(
    name: str, by_name: Mapping[str, int], produced_by: Mapping[str, int]
) -> tuple[int | None, str]:
    candidates = [name]
    stripped = re.sub(r"(_nchwc|_token_\d+|_fused\w*)+$", "", name)
    if stripped != name:
        candidates.append(stripped)
    for c in candidates:
        if c in by_name:
            return by_name[c], "name"
    for c in candidates:
        if c in produced_by:
            return produced_by[c], "tensor"
    return None, "previous"


def graph_node_times(graph: Any, trace_path: Path) -> tuple[list[float], str]:
    """:func:`node_times` for a loaded ONNX :class:`~splitbench.graph.ModelGraph`."""
    from splitbench.formats.onnx.graph import parsed_model

    parsed = parsed_model(graph)
    nodes = parsed.model.graph.node
    names = [nodes[i].name for i in parsed.order]
    produced_by = {
        graph.tensors[t].name: op.index for op in graph.operators for t in op.outputs if t >= 0
    }
    return node_times(trace_path, names, produced_by)


def predict_from_profile(graph: Any, path: Path) -> Any:
    """A :class:`~splitbench.predict.Prediction` from ONNX Runtime's per-node profile: head of
    split k = nodes < k, tail = nodes >= k (or why there is none)."""
    from splitbench.predict import NoPrediction, from_unit_times

    try:
        times, note = graph_node_times(graph, path)
    except ModelError as exc:
        return NoPrediction(str(exc))
    return from_unit_times(times, path, note)
