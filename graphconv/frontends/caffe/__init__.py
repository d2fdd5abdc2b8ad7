"""Caffe frontend: prototxt (+ caffemodel) -> Graph.

``schema.py`` is caffe.proto as protobuf classes, ``textparse.py`` a fast prototxt parser (with
protobuf's text format as the fallback), ``reader.py`` the walk over the net (phases, in-place
renaming, inputs, weights) that makes the graph through the public
:class:`graphconv.builder.GraphBuilder`, ``fillers.py`` Caffe's parameter fillers, and
``rules/<family>.py`` one translation per Caffe layer type, grouped as ``graphconv/layers/``.
This package only reads: no export, no kernels.
"""

from .reader import load_caffe, read_caffemodel

__all__ = ["load_caffe", "read_caffemodel"]
