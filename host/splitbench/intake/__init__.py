"""Model intake: from what the user names to one exported program or model file.

:mod:`.pytorch` is the one way PyTorch models come in (``file.py:factory``, ``.pt2``,
``torchvision:*``, ``facenet:*``): eval mode, one ``torch.export``, the export kept in the run
directory named by content. The conversions from that export to a format live beside it
(:mod:`.to_tflite`, :mod:`.to_onnx`); the ExecuTorch format starts from the same export.
"""
