"""Caffe rules: the SSD layers of weiliu89/caffe (Normalize, PriorBox, DetectionOutput)."""

from __future__ import annotations

from ....layers.detection import DetectionOutputAttrs, NormalizeAttrs, PriorBoxAttrs
from ._table import Spec, _filler, rule


@rule("Normalize")
def normalize(lp, ins):
    p = lp.norm_param
    attrs = NormalizeAttrs(
        across_spatial=p.across_spatial, channel_shared=p.channel_shared, eps=p.eps
    )
    return Spec("Normalize", attrs, blobs=[("scale", _filler(p, "scale_filler"))])


def _pair_or_single(p, single: str, h: str, w: str, what: str):
    """PriorBox's ``x`` or ``x_h`` with ``x_w``; (0, 0) when neither is given."""
    if p.HasField(h) or p.HasField(w):
        if p.HasField(single):
            raise ValueError(f"prior_box_param gives {single} or {h}/{w}, not both")
        return getattr(p, h), getattr(p, w)
    if p.HasField(single):
        return getattr(p, single), getattr(p, single)
    return 0, 0


@rule("PriorBox")
def prior_box(lp, ins):
    p = lp.prior_box_param
    img_h, img_w = _pair_or_single(p, "img_size", "img_h", "img_w", "image size")
    step_h, step_w = _pair_or_single(p, "step", "step_h", "step_w", "step")
    attrs = PriorBoxAttrs(
        min_size=tuple(p.min_size),
        max_size=tuple(p.max_size),
        aspect_ratio=tuple(p.aspect_ratio),
        flip=p.flip,
        clip=p.clip,
        variance=tuple(p.variance) or (0.1,),
        img_h=img_h,
        img_w=img_w,
        step_h=step_h,
        step_w=step_w,
        offset=p.offset,
    )
    return Spec("PriorBox", attrs)


@rule("DetectionOutput")
def detection_output(lp, ins):
    p = lp.detection_output_param
    if len(ins) != 3:
        raise ValueError(
            f"DetectionOutput takes loc, conf and priors (3 bottoms), got {len(ins)} "
            "(a fourth, RefineDet's ARM confidence, is not supported)"
        )
    if not p.HasField("num_classes"):
        raise ValueError("detection_output_param needs num_classes")
    nms = p.nms_param
    attrs = DetectionOutputAttrs(
        num_classes=p.num_classes,
        share_location=p.share_location,
        background_label_id=p.background_label_id,
        nms_threshold=nms.nms_threshold,
        top_k=nms.top_k if nms.HasField("top_k") else -1,
        eta=nms.eta,
        code_type=type(p).CodeType.Name(p.code_type),
        variance_encoded_in_target=p.variance_encoded_in_target,
        keep_top_k=p.keep_top_k,
        confidence_threshold=(
            p.confidence_threshold if p.HasField("confidence_threshold") else None
        ),
    )
    return Spec("DetectionOutput", attrs)
