"""graphconv: a Caffe/ONNX-style layer graph compiler.

Public API::

    g = graphconv.load("model.prototxt")           # -> Graph
    outs = graphconv.run(g, {"data": x})            # NumPy interpreter
    model = graphconv.to_onnx(g, opset=17)          # onnx.ModelProto
    report = graphconv.validate(g)                  # interpreter vs onnxruntime
"""

from .errors import ExportError, GraphconvError, GraphError, ParseError, UsageError
from .ir import Graph, GraphBuilder, Layer, TensorSpec
from .layers import *  # noqa: F401,F403  (every layer type's attrs class)
from .layers import ATTRS
from .interpreter import random_feeds, run
from .export import to_onnx
from .validate import ValidationReport, validate
from .frontends import load

__version__ = "0.1.0"

__all__ = [
    "load", "run", "to_onnx", "validate", "random_feeds",
    "Graph", "GraphBuilder", "Layer", "TensorSpec", "ValidationReport",
    *ATTRS,
    "GraphconvError", "GraphError", "ParseError", "ExportError", "UsageError",
]
