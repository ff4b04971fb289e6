"""Inference: the ONNX runtime wrapper, model metadata, face detectors and the classifier."""
