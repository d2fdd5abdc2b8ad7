"""Compatibility names only: the layer types once defined here now live in their families.

Identity and Unary in :mod:`.activation`; ConstantBinary and Binary in :mod:`.elementwise`;
Resize in :mod:`.resize`; StridedSlice and BorderPad in :mod:`.slicing`. Nothing is defined
here. Delete this module once ``graphconv/frontends/onnx`` imports from the families.
"""

from .activation import IdentityAttrs, UnaryAttrs  # noqa: F401
from .elementwise import BinaryAttrs, ConstantBinaryAttrs  # noqa: F401
from .resize import ResizeAttrs  # noqa: F401
from .slicing import BorderPadAttrs, StridedSliceAttrs  # noqa: F401
