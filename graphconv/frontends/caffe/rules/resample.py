"""Caffe rules: Upsample (one bottom: nearest, YOLO forks; two bottoms: max-unpooling,
caffe-segnet) and Interp (PSPNet / DeepLab bilinear, aligned corners)."""

from __future__ import annotations

from ....layers import UpsampleAttrs
from ....layers.resample import InterpAttrs, MaxUnpoolAttrs
from ._table import Spec, rule


@rule("Upsample")
def upsample(lp, ins):
    if len(lp.bottom) == 2:
        return _max_unpool(lp, ins)
    if len(lp.bottom) != 1:
        raise ValueError(
            f"Upsample takes 1 bottom (nearest) or 2 (values and a pooling mask), "
            f"got {len(lp.bottom)}"
        )
    p = lp.upsample_param
    n = ins[0].rank - 2
    if p.HasField("scale_h") or p.HasField("scale_w"):
        if n != 2:
            raise ValueError("scale_h/scale_w need a 2-D input")
        scale = (p.scale_h or p.scale, p.scale_w or p.scale)
    else:
        scale = (p.scale,) * n
    return Spec("Upsample", UpsampleAttrs(scale))


def _max_unpool(lp, ins):
    """caffe-segnet ``UpsampleLayer``: ``upsample_h``/``upsample_w`` (both, each > 1) give the
    output size; otherwise ``scale`` or ``scale_h``/``scale_w`` (> 1) and ``pad_out_h``/
    ``pad_out_w`` (only with a scale of 2) give ``out = in * scale - pad_out``."""
    p = lp.upsample_param
    values, mask = ins
    if values.rank != 4 or mask.rank != 4:
        raise ValueError(f"Upsample with a mask needs 4-D bottoms, got {values} and {mask}")
    if values.shape != mask.shape:
        raise ValueError(f"Upsample bottoms differ in shape: values {values}, mask {mask}")
    has_size = p.HasField("upsample_h") and p.HasField("upsample_w")
    has_hw = p.HasField("scale_h") or p.HasField("scale_w")
    if (
        not has_size
        and has_hw
        and (p.HasField("scale") or not (p.HasField("scale_h") and p.HasField("scale_w")))
    ):
        raise ValueError(
            "upsample_param needs upsample_h and upsample_w, else scale OR "
            "scale_h and scale_w (both)"
        )
    if has_size:
        size = (p.upsample_h, p.upsample_w)
        if min(size) <= 1:
            raise ValueError(f"upsample_h/upsample_w must be > 1, got {size}")
        return Spec("MaxUnpool", MaxUnpoolAttrs(size=size))
    scale = (p.scale_h, p.scale_w) if has_hw else (p.scale, p.scale)
    if min(scale) <= 1:
        raise ValueError(f"the unpooling scale must be > 1, got {scale}")
    pad_out = (int(p.pad_out_h), int(p.pad_out_w))
    for axis, (f, po) in enumerate(zip(scale, pad_out)):
        if po and f != 2:
            raise ValueError(f"pad_out_{'hw'[axis]} needs scale_{'hw'[axis]} == 2, got {f}")
    return Spec("MaxUnpool", MaxUnpoolAttrs(scale=scale, pad_out=pad_out))


@rule("Interp")
def interp(lp, ins):
    """The DeepLab-v2 InterpLayer PSPNet ships: ``shrink_factor`` alone, ``zoom_factor`` alone,
    ``height`` and ``width``, or shrink then zoom, in that order of precedence; a second bottom
    (the earlier hszhao/PSPNet layer) gives the size instead. Only zero pads are supported."""
    p = lp.interp_param
    if p.pad_beg != 0 or p.pad_end != 0:
        raise ValueError(
            f"Interp pad_beg/pad_end ({p.pad_beg}, {p.pad_end}) are not supported (only 0)"
        )
    if ins[0].rank != 4:
        raise ValueError(f"Interp needs a 4-D input (N, C, H, W), got {ins[0]}")
    has_zoom, has_shrink = p.HasField("zoom_factor"), p.HasField("shrink_factor")
    has_size = p.HasField("height") and p.HasField("width")
    if len(lp.bottom) == 2:
        if has_zoom or has_shrink or has_size:
            raise ValueError(
                "Interp with two bottoms takes the size from the second; "
                "zoom_factor/shrink_factor/height/width must not be given"
            )
        return Spec("Interp", InterpAttrs())
    if len(lp.bottom) != 1:
        raise ValueError(f"Interp takes 1 or 2 bottoms, got {len(lp.bottom)}")
    for what, given in (("zoom_factor", has_zoom), ("shrink_factor", has_shrink)):
        if given and getattr(p, what) < 1:
            raise ValueError(f"{what} must be >= 1, got {getattr(p, what)}")
    if has_shrink and not has_zoom:
        attrs = InterpAttrs(shrink_factor=p.shrink_factor)
    elif has_zoom and not has_shrink:
        attrs = InterpAttrs(zoom_factor=p.zoom_factor)
    elif has_size:
        if p.height < 1 or p.width < 1:
            raise ValueError(f"Interp height/width must be positive, got {p.height}x{p.width}")
        attrs = InterpAttrs(size=(p.height, p.width))
    elif has_shrink and has_zoom:
        attrs = InterpAttrs(zoom_factor=p.zoom_factor, shrink_factor=p.shrink_factor)
    else:
        raise ValueError("interp_param needs zoom_factor, shrink_factor, or height and width")
    return Spec("Interp", attrs)
