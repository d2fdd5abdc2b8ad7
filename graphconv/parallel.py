"""Moved to :mod:`graphconv.kernels.threads`. Kept only for ``graphconv/interpreter.py``'s
``keep_freed_memory`` import (that file has another owner right now); switch it, then delete this.
"""

from .kernels.threads import keep_freed_memory  # noqa: F401
