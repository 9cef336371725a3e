"""``splitbench models``: the built-in model names."""

from __future__ import annotations

from splitbench.cli.app import app, console


@app.command()
def models() -> None:
    """List the built-in model names."""
    from splitbench_models.mediapipe_wheel import list_mediapipe_models
    from splitbench_models.torch_zoo import ZOO

    console.print("posenet  (PoseNet, MobileNetV1 1.0, 257x257x3, output stride 16; built here)")
    for name in list_mediapipe_models():
        console.print(name)
    for entry in ZOO.values():
        shape = ",".join(str(d) for d in entry.input_shape)
        console.print(f"{entry.name}  ({entry.note}; PyTorch, input {shape})")
