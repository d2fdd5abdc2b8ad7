"""Layer family: linear (being written)."""

from __future__ import annotations
