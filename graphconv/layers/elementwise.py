"""Layer family: elementwise (being written)."""

from __future__ import annotations
