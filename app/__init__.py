"""The Nightshift model-serving service (Flask, ONNX Runtime, Open Inference Protocol V2)."""
