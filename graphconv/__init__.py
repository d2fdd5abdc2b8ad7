# ruff: noqa: E402  (the OpenBLAS setting must precede the imports that load NumPy)
"""graphconv: a Caffe/ONNX-style layer graph compiler.

Public API::

    g = graphconv.load("model.prototxt")           # -> Graph
    outs = graphconv.run(g, {"data": x})            # NumPy interpreter
    model = graphconv.to_onnx(g, opset=17)          # onnx.ModelProto
    report = graphconv.validate(g)                  # interpreter vs onnxruntime
"""

import os as _os
import sys as _sys

# OpenBLAS's idle workers spin-wait about 0.1 s after every multi-threaded call (2^28 cycles),
# taking a core from whatever runs next: the interpreter's own kernel threads, or onnxruntime in
# a benchmark. 2^4 cycles puts them to sleep at once. OpenBLAS reads this when NumPy is first
# imported, so it only takes effect when graphconv is imported first (as by the CLI).
OPENBLAS_TIMEOUT_SET = "numpy" not in _sys.modules
_os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")

from . import layers  # noqa: F401  (first: fills the layer table before any Layer is made)
from .builder import GraphBuilder
from .errors import ExportError, GraphconvError, GraphError, ParseError, UsageError
from .export import to_onnx
from .frontends import load
from .interpreter import random_feeds, run
from .ir import Graph, Layer, TensorSpec
from .layers import *  # noqa: F401,F403  (every layer type's attrs class)
from .layers import ATTRS
from .plugins import load_plugins, register_layer
from .registry import LayerType
from .validate import ValidationReport, validate

__version__ = "0.1.0"

__all__ = [
    "load",
    "run",
    "to_onnx",
    "validate",
    "random_feeds",
    "Graph",
    "GraphBuilder",
    "Layer",
    "TensorSpec",
    "ValidationReport",
    "LayerType",
    "register_layer",
    "load_plugins",
    *ATTRS,
    "GraphconvError",
    "GraphError",
    "ParseError",
    "ExportError",
    "UsageError",
]
