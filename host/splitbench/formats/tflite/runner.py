"""LiteRT on this host for the TFLite format: a part loaded once and run by tensor name.

Timing (KPIs, raw samples, memory) is :mod:`.litert` through the shared loop, which the
on-device runner shares; this module is what the lossless check needs.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from splitbench.errors import ModelError
from splitbench.formats.base import InputSpec
from splitbench.formats.tflite.litert import PartFailure, load_interpreter
from splitbench.measure.quiet import native_stderr_silenced


class InterpreterSession:
    """One interpreter, allocated once, run on many input sets; values in and out by name."""

    def __init__(self, path: Path, threads: int = 1) -> None:
        self.path = Path(path)
        self._interpreter = load_interpreter(self.path, threads)  # raises PartFailure
        self._inputs = self._interpreter.get_input_details()
        self._outputs = self._interpreter.get_output_details()

    @property
    def input_names(self) -> list[str]:
        return [d["name"] for d in self._inputs]

    @property
    def output_names(self) -> list[str]:
        return [d["name"] for d in self._outputs]

    def run(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run once; ``feeds`` may hold more tensors than this model reads."""
        for d in self._inputs:
            if d["name"] not in feeds:
                raise PartFailure(
                    "invoke",
                    f"input tensor {d['name']} of {self.path.name} is neither a model input "
                    "nor an output of the head",
                )
            self._interpreter.set_tensor(d["index"], np.asarray(feeds[d["name"]], d["dtype"]))
        try:
            self._interpreter.invoke()
        except (RuntimeError, ValueError) as exc:
            raise PartFailure("invoke", str(exc)) from None
        return {d["name"]: self._interpreter.get_tensor(d["index"]) for d in self._outputs}


def input_specs(path: Path) -> list[InputSpec]:
    """The model's input tensors without allocating or running it.

    Building an interpreter only maps the file, so this works even for models whose
    operators the runtime cannot resolve (that only fails at allocation).
    """
    from ai_edge_litert.interpreter import Interpreter

    try:
        with native_stderr_silenced():
            interpreter = Interpreter(model_path=str(path))
    except ValueError as exc:
        raise ModelError(f"{path}: not a readable TFLite model ({exc})") from None
    return [
        InputSpec(
            name=d["name"],
            shape=tuple(int(x) for x in d["shape"]),
            dtype=np.dtype(d["dtype"]).name,
            layout="NHWC",
        )
        for d in interpreter.get_input_details()
    ]
