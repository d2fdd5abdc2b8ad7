"""ONNX frontend: ModelProto (or a ``.onnx`` file) -> Graph (the translator, moved unchanged)."""

from .translator import RULES, Translator, Unsupported, load_onnx, onnx_rule, supported_ops

__all__ = ["RULES", "Translator", "Unsupported", "load_onnx", "onnx_rule", "supported_ops"]
