"""Frontends translate model files into a Graph; :func:`load` picks one by file type."""

from __future__ import annotations

import os
from typing import Mapping, Sequence

from ..errors import ParseError
from ..ir import Graph

CAFFE_SUFFIXES = (".prototxt", ".pbtxt", ".pt")


def load(path: str, weights: str | None = None,
         input_shapes: Mapping[str, Sequence[int]] | None = None, seed: int = 0) -> Graph:
    """Read a model file into a Graph.

    ``.prototxt`` is read as a Caffe net (``weights``: a ``.caffemodel``; without one, parameters
    come from the prototxt's fillers, seeded by ``seed``). ``input_shapes`` supplies or overrides
    input shapes by input name.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ParseError("no such file", file=path)
    lower = path.lower()
    if lower.endswith(CAFFE_SUFFIXES):
        from .caffe import load_caffe

        return load_caffe(path, weights=weights, input_shapes=input_shapes, seed=seed)
    if lower.endswith(".onnx"):
        from .onnx import load_onnx

        return load_onnx(path, input_shapes=input_shapes)
    raise ParseError("unknown model file type (expected .prototxt)", file=path)
