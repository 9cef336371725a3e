"""The format interface: what a model format supplies so that the one pipeline can split it.

BRIEF, "One pipeline, several model formats": TFLite, ONNX and ExecuTorch are not pipelines of
their own. A format is a plug-in that supplies exactly three things, and every stage around
them — cut plan, lossless check, measurement bouts, results database, network model, tables,
reports, phones — is shared and never looks inside a model file:

1. **A graph** — :meth:`Format.load_graph` reads a file into a
   :class:`~splitbench.graph.ModelGraph`: the split units (operators, nodes, instructions) in
   execution order, the tensors with dtype and static shape, and which tensors are weights
   (``TensorInfo.is_constant``). Weight-only units (computing from weights alone) follow
   from those marks in :func:`splitbench.cutplan.weight_only_operators`, for every format.
2. **A splitter** — :meth:`Format.part_maker` returns a :class:`PartMaker` whose ``head(k, io)``
   and ``tail(k, io)`` give the bytes of a minimal, valid part file. *What* goes into a part
   (its units, its input and output tensors: a :class:`PartIO`) is decided once for every
   format by :class:`splitbench.splitter.ModelSplitter`; the part maker only writes it down.
   Bytes come back as a list of buffers (``Segments``) so that weights can be written straight
   from the original file instead of being copied into every part.
3. **Runners** — on this host, :meth:`Format.open_session` loads a part to run it by tensor
   name (the lossless check, conversion checks) and :meth:`Format.measure_on_host` times it
   like ``benchmark_model`` (init, first inference, warm-up, raw steady samples, memory) into a
   :class:`~splitbench.measure.types.PartMeasurement`, with a per-operator profile among its
   evidence files where the runtime has one. Other targets (phones over adb) decide from
   ``Format.name`` whether they can run a part at all, and say so in one line when not.

A format that cannot do something raises :class:`~splitbench.errors.ModelError` (bad file,
one line) or, for a part the runtime cannot load or run, :class:`PartFailure` (the part's row
then names the reason; the other rows are still measured).

Adding a format: a package ``splitbench/formats/<name>/`` whose ``__init__`` defines ``FORMAT``
(an object with the members of :class:`Format`), and its name in
:data:`splitbench.formats.FORMAT_NAMES`. Imports of heavy runtimes stay inside the methods,
so ``splitbench --help`` does not load TensorFlow, ONNX or PyTorch.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Generic, Protocol, TypeVar

from splitbench.errors import ModelError
from splitbench.measure.types import PartFailure

if TYPE_CHECKING:
    import numpy as np

    from splitbench.graph import ModelGraph
    from splitbench.intake.pytorch import TorchExport
    from splitbench.measure.types import PartMeasurement, RunSettings
    from splitbench.predict import NoPrediction, Prediction

P = TypeVar("P")

__all__ = [
    "Format",
    "InputSpec",
    "ParsedCache",
    "PartFailure",
    "PartIO",
    "PartMaker",
    "Segments",
    "Session",
]

# A part file as a list of byte buffers, written one after the other.
Segments = list[memoryview]


@dataclass(frozen=True)
class PartIO:
    """A part's operators and boundary, as indices and names in the whole model."""

    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    input_names: tuple[str, ...]
    output_names: tuple[str, ...]
    operators: tuple[int, ...] = ()  # operator indices in the part, in execution order


@dataclass(frozen=True)
class InputSpec:
    """One input of a model file, as its runtime sees it."""

    name: str
    shape: tuple[int, ...]
    dtype: str  # numpy dtype name
    layout: str = "NHWC"  # where the channels of an image input are: "NHWC" or "NCHW"


class PartMaker(Protocol):
    """Writes parts of one loaded graph; made once per model, asked for many splits.

    The segments of a head must stay unchanged until the next ``head`` call, those of a tail
    until the next ``tail`` call: ``ModelSplitter.write_all`` writes one while packing the other.
    """

    def head(self, k: int, io: PartIO) -> Segments:
        """The head of split ``k``: exactly the units ``io.operators``, boundary ``io``."""
        ...

    def tail(self, k: int, io: PartIO) -> Segments:
        """The tail of split ``k``: exactly the units ``io.operators``, boundary ``io``."""
        ...

    def prefetch(self, ios: Sequence[PartIO], jobs: int) -> None:
        """The parts that are coming, for makers that prepare them in ``jobs`` worker processes
        (ExecuTorch lowers in parallel); a maker that packs in-process does nothing."""
        ...


class Session(Protocol):
    """A model file loaded on this host, run by tensor name."""

    @property
    def input_names(self) -> list[str]: ...

    @property
    def output_names(self) -> list[str]: ...

    def run(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run once; ``feeds`` may hold more tensors than the model reads. Raises
        :class:`PartFailure` when the runtime cannot run it."""
        ...


class Format(Protocol):
    """A model format: its graph, its splitter and its runners (see the module docstring)."""

    name: str  # "tflite", "onnx", ... (ModelGraph.format)
    suffix: str  # file suffix of its parts: ".tflite", ".onnx", ...
    # Parts are packed in this process from the parsed model, so a forked child can write the
    # tails while this process writes the heads (``ModelSplitter.write_all``).
    packs_in_process: bool
    # Model Explorer's built-in adapter reads this format's files and names nodes by tensor, so
    # ``explore`` can put the measured costs on the graph.
    shown_in_model_explorer: bool
    # The benchmark runner phones run this format's parts with (None: phones cannot run them).
    phone_runner: str | None
    # ``--delivery-codec`` can code this format's head weights (splitbench.compress reads and
    # rewrites its parameters).
    codes_head_weights: bool
    # ``--input-shape`` is fixed in a copy of the file (:meth:`with_input_shapes`) rather than
    # applied by :meth:`load_graph`.
    input_shapes_in_file: bool

    def sniff(self, path: Path, head: bytes) -> bool:
        """Is ``path`` (first bytes ``head``) a file of this format?"""
        ...

    def load_graph(
        self, path: Path, input_shapes: Mapping[str, tuple[int, ...]] | None = None
    ) -> ModelGraph: ...

    def part_maker(self, graph: ModelGraph) -> PartMaker: ...

    def input_specs(self, path: Path) -> list[InputSpec]:
        """The file's inputs without running it (works even if the runtime cannot run it)."""
        ...

    def open_session(self, path: Path, threads: int = 1) -> Session: ...

    def measure_on_host(
        self, path: Path, settings: RunSettings, *, profile_dir: Path | None = None
    ) -> PartMeasurement:
        """Time one part file on this machine; failures of the part set ``error``. With
        ``profile_dir``, also write a per-operator profile there (where the runtime has one)
        and list it in ``evidence``."""
        ...

    def host_runtime(self) -> str:
        """The runtime and version that runs this format on the host, e.g. ``onnxruntime 1.2``."""
        ...

    def with_input_shapes(
        self, path: Path, input_shapes: Mapping[str, tuple[int, ...]], workdir: Path
    ) -> Path | None:
        """A copy of ``path`` in ``workdir`` with these static input shapes, for a format that
        fixes shapes in the file (ONNX); None where :meth:`load_graph` applies them."""
        ...

    def from_torch(self, export: TorchExport) -> Path:
        """This format's file of a PyTorch export (:mod:`splitbench.intake`), converted once
        and kept beside the export."""
        ...

    def predict(
        self, graph: ModelGraph, whole: PartMeasurement, evidence: Sequence[Path]
    ) -> Prediction | NoPrediction | None:
        """Per-split times predicted from the per-operator profile among ``evidence`` (the
        whole model's measurement files) in the form this format's runtimes write it; None when
        none of them is such a profile."""
        ...


class ParsedCache(Generic[P]):
    """A format's parsed model behind each :class:`ModelGraph` it loaded.

    Loading a graph parses the file once; the splitter and the runners need that parse again.
    The cache holds it as long as the graph lives, and re-reads the file for a graph it does not
    know (one made in another process), refusing a file that changed since the graph was made.
    """

    def __init__(
        self, load_parsed: Callable[[Path, Mapping[str, tuple[int, ...]]], tuple[ModelGraph, P]]
    ) -> None:
        self._load_parsed = load_parsed
        self._parsed: weakref.WeakKeyDictionary[ModelGraph, P] = weakref.WeakKeyDictionary()

    def put(self, graph: ModelGraph, parsed: P) -> None:
        self._parsed[graph] = parsed

    def get(self, graph: ModelGraph) -> P:
        cached = self._parsed.get(graph)
        if cached is not None:
            return cached
        shapes = {graph.tensors[i].name: graph.tensors[i].shape for i in graph.inputs}
        again, parsed = self._load_parsed(graph.path, shapes)
        if again.sha256 != graph.sha256:
            raise ModelError(f"{graph.path} changed since it was loaded; load it again")
        self._parsed[graph] = parsed
        return parsed
