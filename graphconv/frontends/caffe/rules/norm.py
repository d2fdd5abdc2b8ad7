"""Caffe rules: norm family (being written)."""

from __future__ import annotations
