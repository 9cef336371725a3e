"""The published mnv3_seg_float model's operator list as a ModelGraph (names only).

benchmark_csv/mnv3_seg_float.graph.json was read from the published model that the POCO X3
profiles in benchmark_csv/ were made with. It carries tensor names, not shapes, so every tensor
is given one float32 element here: enough to map profile rows to operators, not to size cuts.
"""

from __future__ import annotations

import json
from pathlib import Path

from splitbench.graph import ModelGraph, OperatorInfo, TensorInfo

DATA = Path(__file__).resolve().parents[1] / "benchmark_csv"


def graph_from_json(path: Path) -> ModelGraph:
    doc = json.loads(path.read_text())
    names: dict[str, int] = {}

    def index(name: str) -> int:
        return names.setdefault(name, len(names))

    ops = []
    for op in doc["operators"]:
        ins = tuple(index(n) for n in op["inputs"])
        outs = tuple(index(n) for n in op["outputs"])
        ops.append(OperatorInfo(op["index"], op["opcode"], ins, outs))
    produced = {t for op in ops for t in op.outputs}
    consumed = {t for op in ops for t in op.inputs}
    # weights: consumed, never produced, and not the image input (the first operator's first)
    image = ops[0].inputs[0]
    tensors = tuple(
        TensorInfo(i, n, (1,), "float32", is_constant=(i not in produced and i != image))
        for n, i in names.items()
    )
    outputs = tuple(sorted(produced - consumed))
    return ModelGraph(
        path=path,
        sha256=doc["model_sha256"],
        file_bytes=doc["model_bytes"],
        operators=tuple(ops),
        tensors=tensors,
        inputs=(image,),
        outputs=outputs,
    )
