"""Model builders (PoseNet) and model sources (trained TFLite models from the mediapipe wheel)."""
