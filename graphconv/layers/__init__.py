"""Layer definitions, one module per family; importing this package registers them all.

Every registered type's attribute class is re-exported here by its own name
(``ConvAttrs``, ``PoolingAttrs``, ``BatchNormAttrs``, ...).
"""

from .base import LayerType, layer_type, layer_types, register
from . import tensor, argmax, conv, resample, activation, pool, norm, elementwise, linear, onnx_ops  # noqa: F401,E501

for _lt in layer_types().values():
    globals()[_lt.Attrs.__name__] = _lt.Attrs

ATTRS = sorted({lt.Attrs.__name__ for lt in layer_types().values()})
__all__ = ["LayerType", "layer_type", "layer_types", "register", "ATTRS", *ATTRS]
