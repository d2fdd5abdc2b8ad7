"""Caffe rules: Pooling (BVLC master ``PoolingLayer``: 2-D, MAX/AVE, CEIL/FLOOR, global, mask)."""

from __future__ import annotations

from ....layers.pool import PoolAttrs
from ..forks import current_fork
from ._table import Spec, rule


def _pair(p, single: str, h: str, w: str, default: int, what: str) -> tuple[int, int]:
    """Caffe's PoolingParameter pairs: ``x`` alone, or ``x_h`` and ``x_w`` together."""
    has_h, has_w = p.HasField(h), p.HasField(w)
    if has_h or has_w:
        if p.HasField(single) or not (has_h and has_w):
            raise ValueError(f"{what} is {single} OR {h} and {w} (both) in pooling_param")
        return getattr(p, h), getattr(p, w)
    v = getattr(p, single) if p.HasField(single) else default
    return v, v


@rule("Pooling", v1="POOLING")
def pooling(lp, ins):
    p = lp.pooling_param
    method = type(p).PoolMethod.Name(p.pool)
    if method not in ("MAX", "AVE"):
        raise ValueError(f"pooling method {method} is not supported for inference (MAX or AVE)")
    if ins[0].rank != 4:
        raise ValueError(f"Caffe Pooling needs a 4-D input (N, C, H, W), got {ins[0]}")
    tops = len(lp.top)
    if tops not in (1, 2) or (tops == 2 and method != "MAX"):
        raise ValueError(
            f"{method} Pooling takes {'1 or 2 tops' if method == 'MAX' else '1 top'}, got {tops}"
        )
    pad = _pair(p, "pad", "pad_h", "pad_w", 0, "pad")
    stride = _pair(p, "stride", "stride_h", "stride_w", 1, "stride")
    round_mode = type(p).RoundMode.Name(p.round_mode)
    fork = current_fork()
    if fork.pool_round_mode is not None and not p.global_pooling:
        # caffe-yolov3 decides from the first axis and adds to both (see ..forks)
        k, s = _pair(p, "kernel_size", "kernel_h", "kernel_w", 0, "kernel"), stride
        odd = [k_ - s_ > 0 and (k_ - s_) % 2 == 1 for k_, s_ in zip(k, s)]
        if odd[0] != odd[1]:
            raise ValueError(
                f"the {fork.name} fork adds a window to both axes when kernel_h - stride_h is "
                f"odd; kernel {k} with stride {s} makes the axes differ, which graphconv "
                "does not model"
            )
        round_mode = fork.pool_round_mode
    if p.global_pooling:
        if p.HasField("kernel_size") or p.HasField("kernel_h") or p.HasField("kernel_w"):
            raise ValueError(
                "global_pooling takes the kernel from the input; kernel_size/"
                "kernel_h/kernel_w must not be given"
            )
        kernel = None
    else:
        if p.HasField("kernel_size") == (p.HasField("kernel_h") and p.HasField("kernel_w")):
            raise ValueError("pooling_param needs kernel_size OR kernel_h and kernel_w (both)")
        kernel = _pair(p, "kernel_size", "kernel_h", "kernel_w", 0, "kernel")
        if min(kernel) < 1:
            raise ValueError(f"pooling kernel must be positive, got {kernel}")
    return Spec(
        "Pooling",
        PoolAttrs(
            kernel=kernel,
            stride=stride,
            pad=pad,
            method=method,
            round_mode=round_mode,
            global_pooling=p.global_pooling,
            mask=tops == 2,
        ),
    )
