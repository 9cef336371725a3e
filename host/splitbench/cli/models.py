"""``splitbench models``: the built-in model names."""

from __future__ import annotations

import sys

from splitbench.cli.app import app


@app.command()
def models() -> None:
    """List the built-in models by the names every command accepts, with what each is and its
    input shape."""
    from splitbench_models.mediapipe_wheel import describe_mediapipe_model, list_mediapipe_models
    from splitbench_models.torch_zoo import ZOO

    lines = ["posenet  (PoseNet, MobileNetV1 1.0, output stride 16; built here, input 1,257,257,3)"]
    lines += [describe_mediapipe_model(name) for name in list_mediapipe_models()]
    for entry in ZOO.values():
        shape = ",".join(str(d) for d in entry.input_shape)
        lines.append(f"{entry.name}  ({entry.note}; PyTorch, input {shape})")
    # One plain write: rich's import, markup and highlighting cost more than the listing.
    sys.stdout.write("\n".join(lines) + "\n")
