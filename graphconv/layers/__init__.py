"""Layer definitions, one module per family; importing this package registers them all.

What lives here: one class per layer type (registered with :func:`graphconv.registry.register`)
holding its whole meaning: attrs dataclass, shape rule, parameters, ``run``, fusion hooks and
ONNX emission. Families: :mod:`.tensor` (Input, Concat, Split, shapes), :mod:`.argmax`,
:mod:`.slicing` (Pad, Slice, Crop, StridedSlice, BorderPad), :mod:`.conv`, :mod:`.pool`,
:mod:`.linear`, :mod:`.norm`, :mod:`.activation`, :mod:`.elementwise`, :mod:`.resample` and
:mod:`.resize`.
Each family module's docstring says in one line how its overlapping types differ.

What must not: the table and the LayerType protocol (:mod:`graphconv.registry`), the per-channel
affine arithmetic shared with the passes (:mod:`graphconv.affine`), graph plumbing or rewriting
(``passes/``), anything about a file format's reading (``frontends/``), scheduling across layers
(``interpreter``). Layers are grouped by meaning, never by origin (there is no "ONNX ops"
module). No ``if layer.type == ...`` outside a class.

Every registered type's attribute class is re-exported here by its own name
(``ConvAttrs``, ``PoolingAttrs``, ``BatchNormAttrs``, ...).
"""

from ..registry import attrs_classes
from . import (  # noqa: F401  (importing a family registers its types)
    activation,
    argmax,
    conv,
    detection,
    elementwise,
    gather,
    linear,
    norm,
    pointwise,
    pool,
    reduce,
    resample,
    resize,
    slicing,
    statnorm,
    tensor,
)

globals().update(attrs_classes())

ATTRS = sorted(attrs_classes())
__all__ = ["ATTRS", *ATTRS]
