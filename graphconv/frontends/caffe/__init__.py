"""Caffe frontend: prototxt (+ caffemodel) -> Graph."""

from .reader import load_caffe, read_caffemodel

__all__ = ["load_caffe", "read_caffemodel"]
