"""Layer definitions, one module per family; importing this package registers them all."""

from .base import LayerType, layer_type, layer_types, register
from . import tensor, conv, resample, activation  # noqa: F401  (registration)
from .conv import ConvAttrs, DeconvAttrs
from .resample import UpsampleAttrs, ZeroInsertAttrs
from .tensor import InputAttrs, PadAttrs
from .activation import ReLUAttrs

__all__ = [
    "LayerType", "layer_type", "layer_types", "register",
    "ConvAttrs", "DeconvAttrs", "UpsampleAttrs", "ZeroInsertAttrs", "InputAttrs", "PadAttrs",
    "ReLUAttrs",
]
