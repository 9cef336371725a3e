from pathlib import Path

from ai_edge_litert.interpreter import Interpreter


def test_factory_models_are_real_tflite(chain_tflite: Path, branchy_tflite: Path) -> None:
    for path in (chain_tflite, branchy_tflite):
        interp = Interpreter(model_path=str(path))
        interp.allocate_tensors()
        interp.invoke()
    assert len(Interpreter(model_path=str(branchy_tflite)).get_output_details()) == 2
