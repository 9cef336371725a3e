"""``splitbench models``: the built-in model names."""

from __future__ import annotations

import sys

from splitbench.cli.app import app


@app.command()
def models() -> None:
    """List the built-in model names."""
    from splitbench_models.mediapipe_wheel import list_mediapipe_models
    from splitbench_models.torch_zoo import ZOO

    lines = ["posenet  (PoseNet, MobileNetV1 1.0, 257x257x3, output stride 16; built here)"]
    lines += list_mediapipe_models()
    for entry in ZOO.values():
        shape = ",".join(str(d) for d in entry.input_shape)
        lines.append(f"{entry.name}  ({entry.note}; PyTorch, input {shape})")
    # One plain write: rich's import, markup and highlighting cost more than the listing.
    sys.stdout.write("\n".join(lines) + "\n")
