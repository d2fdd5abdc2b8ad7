"""Caffe forks whose layers compute differently from BVLC Caffe on the same prototxt.

A model runs as the fork it was written for computes it; the prototxt does not say which, so the
user says it (``graphconv --caffe-fork NAME``, ``graphconv.load(..., caffe_fork=NAME)``). Each
fork names its source of truth: the file and commit whose rule graphconv follows.

``bvlc`` (the default): BVLC/caffe master, ``src/caffe/layers/pooling_layer.cpp``
``PoolingLayer::Reshape``: ``ceil((H + 2p - k) / s) + 1`` (or floor with ``round_mode: FLOOR``),
then one less when ``p > 0`` and the last window starts at or past ``H + p``.

``caffe-yolov3``: ChenYingpeng/caffe-yolov3 @ 7bf540261908,
``caffe_layers/pooling_layer/pooling_layer.cpp`` ``PoolingLayer::Reshape``: the BVLC ceil length,
then, "for darknet yolov3 tiny maxpool layer stride=1,size=2", one more on BOTH axes when
``(kernel_h - stride_h) % 2 == 1`` (C++ remainder, so only for a positive odd difference), then
the BVLC clip rule. A 2x2 stride-1 pooling keeps the size (13 -> 13, where BVLC gives 12); a
3x3 stride-2 pooling also gets one window more than under BVLC. The fork's windows are BVLC's
(MAX clipped to the input, AVE divided by the window clipped to ``[-p, H + p)``), and it has no
``round_mode`` field: its rule applies to every Pooling. graphconv's ``round_mode`` for it is
``ceil_odd_extra`` (:mod:`graphconv.geometry`).
"""

from __future__ import annotations

import contextvars
from dataclasses import dataclass

from ...errors import UsageError


@dataclass(frozen=True)
class Fork:
    name: str
    pool_round_mode: str | None  # None: the file's round_mode (BVLC)
    source: str


FORKS = {
    "bvlc": Fork("bvlc", None, "BVLC/caffe master src/caffe/layers/pooling_layer.cpp"),
    "caffe-yolov3": Fork(
        "caffe-yolov3",
        "ceil_odd_extra",
        "ChenYingpeng/caffe-yolov3 @ 7bf540261908 caffe_layers/pooling_layer/pooling_layer.cpp",
    ),
}

_CURRENT: contextvars.ContextVar[Fork] = contextvars.ContextVar("caffe_fork", default=FORKS["bvlc"])


def fork_named(name: str | None) -> Fork:
    """The fork called ``name`` (None: BVLC); an unknown name is a UsageError listing them."""
    if name is None:
        return FORKS["bvlc"]
    try:
        return FORKS[name.lower()]
    except KeyError:
        raise UsageError(
            f"unknown Caffe fork '{name}' (known: {', '.join(sorted(FORKS))})"
        ) from None


def current_fork() -> Fork:
    """The fork of the net being read (set by the reader for the duration of a load)."""
    return _CURRENT.get()


def use_fork(fork: Fork) -> contextvars.Token:
    return _CURRENT.set(fork)


def reset_fork(token: contextvars.Token) -> None:
    _CURRENT.reset(token)


def pooling_hint(layers, specs) -> str:
    """For a shape error under BVLC rounding: the first stride-1 pooling that the caffe-yolov3
    fork sizes differently, as a clause suggesting the flag ('' when there is none)."""
    from ...geometry import pooled_length

    for layer in layers:
        a = layer.attrs
        if layer.type != "Pooling" or a.global_pooling or a.round_mode != "ceil":
            continue
        if any(s != 1 for s in a.stride):
            continue
        h = specs[layer.inputs[0]].shape[2]
        bvlc = pooled_length(h, a.kernel[0], 1, a.pad[0], "ceil")
        if bvlc != pooled_length(h, a.kernel[0], 1, a.pad[0], "ceil_odd_extra"):
            return (
                f"; the cause may be layer '{layer.name}', a stride-1 "
                f"{'x'.join(map(str, a.kernel))} pooling that BVLC Caffe's rounding shrinks "
                f"({h} -> {bvlc}) and the caffe-yolov3 fork keeps: if the net was written for "
                "that fork, load it with --caffe-fork caffe-yolov3"
            )
    return ""
