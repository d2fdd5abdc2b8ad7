"""Layer family: norm (being written)."""

from __future__ import annotations
