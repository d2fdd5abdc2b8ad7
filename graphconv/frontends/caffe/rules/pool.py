"""Caffe rules: pool family (being written)."""

from __future__ import annotations
