"""Caffe rules: tensor plumbing family (being written)."""

from __future__ import annotations
