"""Frontends: model files -> Graph. Translation into the IR and nothing else.

A frontend reads one model format and translates it into the immutable :class:`Graph`; that is
all that lives here. No export (``graphconv/export.py``), no kernels or layer semantics
(``graphconv/layers/``), no rewriting (``passes/``). Both frontends make their graphs through the
public :class:`graphconv.builder.GraphBuilder`, the same one Python code uses.

* ``caffe/``: prototxt (+ caffemodel) -> Graph: schema, reader, fillers, ``rules/<family>.py``.
* ``onnx/``: ModelProto -> Graph: the translator (constant folding, bookkeeping) and
  ``rules/<family>.py`` with the same family names as Caffe's.

:func:`load` picks a frontend by file type.
"""

from __future__ import annotations

import os
from typing import Mapping, Sequence

from ..errors import ParseError
from ..ir import Graph

CAFFE_SUFFIXES = (".prototxt", ".pbtxt", ".pt")


def load(
    path: str,
    weights: str | None = None,
    input_shapes: Mapping[str, Sequence[int]] | None = None,
    seed: int = 0,
    caffe_fork: str | None = None,
) -> Graph:
    """Read a model file into a Graph.

    ``.prototxt`` is read as a Caffe net (``weights``: a ``.caffemodel``; without one, parameters
    come from the prototxt's fillers, seeded by ``seed``). ``input_shapes`` supplies or overrides
    input shapes by input name. ``caffe_fork`` names the Caffe fork a prototxt was written for,
    where forks compute differently (see :mod:`graphconv.frontends.caffe.forks`).
    """
    graph = _load(os.fspath(path), weights, input_shapes, seed, caffe_fork)
    unknown = [n for n in (input_shapes or {}) if n not in graph.inputs]
    if unknown:
        raise ParseError(
            f"input shape given for '{unknown[0]}', which is not a graph input "
            f"(inputs: {', '.join(graph.inputs)})",
            file=os.fspath(path),
        )
    warnings = tuple(nonfinite_parameters(graph))
    if not warnings:
        return graph
    return Graph(graph.layers, graph.outputs, graph.name, graph.notes + warnings, reuse=graph)


def nonfinite_parameters(graph: Graph) -> list[str]:
    """A warning per layer whose weights (read or drawn from fillers) hold NaN or Inf."""
    import numpy as np

    found = []
    for layer in graph.layers:
        for key, p in layer.params.items():
            bad = ~np.isfinite(p)
            if bad.any():
                found.append(
                    f"warning: layer '{layer.name}' ({layer.type}): parameter '{key}' "
                    f"holds {int(np.isnan(p).sum())} NaN and {int(np.isinf(p).sum())} "
                    f"Inf of {p.size} values"
                )
    return found


def _load(path: str, weights, input_shapes, seed, caffe_fork=None) -> Graph:
    if not os.path.isfile(path):
        raise ParseError("no such file", file=path)
    lower = path.lower()
    if lower.endswith(CAFFE_SUFFIXES):
        from .caffe import load_caffe

        return load_caffe(
            path, weights=weights, input_shapes=input_shapes, seed=seed, caffe_fork=caffe_fork
        )
    if lower.endswith(".onnx"):
        from .onnx import load_onnx

        return load_onnx(path, input_shapes=input_shapes)
    kinds = ", ".join(CAFFE_SUFFIXES)
    raise ParseError(
        f"unknown model file type (expected a Caffe net: {kinds}; or an ONNX model: .onnx)",
        file=path,
    )
