"""ONNX frontend: ModelProto (or a ``.onnx`` file) -> Graph, static shapes, float32.

``translator.py`` holds the walk and its bookkeeping (constant folding, reserved names, the
collected errors, :class:`Unsupported`); ``rules/<family>.py`` hold one translation per ONNX op
type, grouped as ``frontends/caffe/rules/`` and ``graphconv/layers/`` are. Graphs are made only
through the public :class:`graphconv.builder.GraphBuilder`. Export to ONNX is not here
(``graphconv/export.py``): this package only reads.
"""

from . import rules  # noqa: F401  (registers every rule in RULES)
from .translator import RULES, Translator, Unsupported, load_onnx, onnx_rule, supported_ops

__all__ = ["RULES", "Translator", "Unsupported", "load_onnx", "onnx_rule", "supported_ops"]
