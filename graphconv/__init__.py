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

# The public names, imported on first use (PEP 562): ``import graphconv`` and the CLI's start-up
# stay light (``graphconv --help`` needs neither onnx nor NumPy); ``graphconv.run`` etc. load
# what they need when first touched.
_LAZY = {
    "GraphBuilder": "builder",
    "ExportError": "errors",
    "GraphconvError": "errors",
    "GraphError": "errors",
    "ParseError": "errors",
    "UsageError": "errors",
    "to_onnx": "export",
    "load": "frontends",
    "random_feeds": "interpreter",
    "run": "interpreter",
    "Graph": "ir",
    "Layer": "ir",
    "TensorSpec": "ir",
    "ValidationReport": "validate",
    "LayerType": "registry",
    "register_layer": "plugins",
    "load_plugins": "plugins",
}

__version__ = "0.1.0"


def _attrs_names() -> list[str]:
    from .layers import ATTRS

    return ATTRS


def __getattr__(name: str):
    import importlib

    if name == "__all__":
        return [*_LAZY, "validate", *_attrs_names()]
    if name in _LAZY:
        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    else:
        if not name.endswith("Attrs"):  # e.g. a submodule's name, asked by an import
            raise AttributeError(f"module 'graphconv' has no attribute '{name}'")
        layers = importlib.import_module(".layers", __name__)
        if name not in layers.ATTRS:
            raise AttributeError(f"module 'graphconv' has no attribute '{name}'")
        value = getattr(layers, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY, *_attrs_names()})


class _Package(_sys.modules[__name__].__class__):
    """``graphconv.validate`` is both a function and a module's name: importing the module
    ``graphconv.validate`` sets the package attribute to the module. This keeps it the function
    (the module stays in ``sys.modules``, where ``from graphconv.validate import ...`` finds it)."""

    @property
    def validate(self):
        from .validate import validate

        return validate

    @validate.setter
    def validate(self, value) -> None:
        pass


_sys.modules[__name__].__class__ = _Package
