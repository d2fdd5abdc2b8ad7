"""Layer definitions, one module per family; importing this package registers them all."""

from .base import LayerType, layer_type, layer_types, register
from . import tensor, conv, resample, activation, pool, norm, elementwise, linear  # noqa: F401,E501
from .conv import ConvAttrs, DeconvAttrs, SeparableAttrs
from .resample import UpsampleAttrs, ZeroInsertAttrs
from .tensor import InputAttrs, PadAttrs
from .activation import ReLUAttrs

__all__ = [
    "LayerType", "layer_type", "layer_types", "register",
    "ConvAttrs", "DeconvAttrs", "SeparableAttrs", "UpsampleAttrs", "ZeroInsertAttrs", "InputAttrs", "PadAttrs",
    "ReLUAttrs",
]
