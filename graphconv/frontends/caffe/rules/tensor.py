"""Caffe rules: tensor plumbing (Concat, Slice, Split, Crop, Flatten, Reshape, Permute,
ShuffleChannel, ArgMax)."""

from __future__ import annotations

from ....layers.argmax import ArgMaxAttrs
from ....layers.slicing import CropAttrs, SliceAttrs
from ....layers.tensor import (
    ConcatAttrs,
    FlattenAttrs,
    PermuteAttrs,
    ReshapeAttrs,
    ShuffleChannelAttrs,
    SplitAttrs,
)
from ._table import Spec, rule


def _param(lp, field: str):
    """``lp.<field>`` or None: V1 layers lack some parameter messages (e.g. flatten_param)."""
    return getattr(lp, field) if field in lp.DESCRIPTOR.fields_by_name else None


@rule("Concat", v1="CONCAT")
def concat(lp, ins):
    """``axis`` (default 1, may be negative) or the legacy ``concat_dim``, not both."""
    p = lp.concat_param
    if p.HasField("axis") and p.HasField("concat_dim"):
        raise ValueError("concat_param: give either axis or concat_dim, not both")
    return Spec("Concat", ConcatAttrs(p.concat_dim if p.HasField("concat_dim") else p.axis))


@rule("Slice", v1="SLICE")
def slice_(lp, ins):
    """``axis`` (default 1) or the legacy ``slice_dim``; ``slice_point`` x (tops - 1), or none
    for equal parts."""
    p = lp.slice_param
    if p.HasField("axis") and p.HasField("slice_dim"):
        raise ValueError("slice_param: give either axis or slice_dim, not both")
    axis = p.slice_dim if p.HasField("slice_dim") else p.axis
    return Spec("Slice", SliceAttrs(len(lp.top), axis, tuple(p.slice_point)))


@rule("Split", v1="SPLIT")
def split(lp, ins):
    return Spec("Split", SplitAttrs(len(lp.top)))


@rule("Crop")
def crop(lp, ins):
    """BVLC Crop: ``axis`` (default 2), ``offset`` (none: 0 on every cropped axis).

    The FCN-era Crop of longjon/caffe, which HED's deploy file was written for, had no
    parameters and derived the offsets from the net's coordinate maps (HED's dsn1 crop would be
    34 = conv1_1's pad 35 - 1). That needs the whole net, which a rule does not see; here a
    parameterless Crop crops at 0, as BVLC master does."""
    p = lp.crop_param
    return Spec("Crop", CropAttrs(p.axis, tuple(p.offset)))


@rule("Flatten", v1="FLATTEN")
def flatten(lp, ins):
    p = _param(lp, "flatten_param")
    return Spec("Flatten", FlattenAttrs(p.axis, p.end_axis) if p is not None else FlattenAttrs())


@rule("Reshape")
def reshape(lp, ins):
    p = lp.reshape_param
    return Spec("Reshape", ReshapeAttrs(tuple(p.shape.dim), p.axis, p.num_axes))


@rule("Permute")
def permute(lp, ins):
    return Spec("Permute", PermuteAttrs(tuple(lp.permute_param.order)))


@rule("ShuffleChannel")
def shuffle_channel(lp, ins):
    return Spec("ShuffleChannel", ShuffleChannelAttrs(lp.shuffle_channel_param.group))


@rule("ArgMax", v1="ARGMAX")
def argmax(lp, ins):
    p = lp.argmax_param
    return Spec(
        "ArgMax", ArgMaxAttrs(p.out_max_val, p.top_k, p.axis if p.HasField("axis") else None)
    )
