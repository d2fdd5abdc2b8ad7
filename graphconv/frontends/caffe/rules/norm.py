"""Caffe rules: BatchNorm, Scale, the forks' BN (caffe-segnet and PSPNet), LRN.

Blob conventions translated here (the IR keeps plain ``(C,)`` vectors):

* BVLC BatchNorm stores ``mean * sf``, ``variance * sf`` and the scale factor ``sf`` (shape
  ``(1,)``); Caffe divides by ``sf`` at inference, and uses 0 when ``sf == 0``.
* caffe-segnet BN (alexgkendall/caffe-segnet ``bn_layer.cpp``) stores ``scale, shift`` as
  ``1xCx1x1``; PSPNet BN (hszhao/PSPNet ``bn_layer.cpp``) stores ``slope, bias, mean, variance``
  as ``1xCx1x1``.
"""

from __future__ import annotations

import numpy as np

from ....layers.norm import BatchNormAttrs, LRNAttrs, ScaleAttrs
from ._table import Spec, _filler, rule


def _channels(ins) -> int:
    return ins[0].shape[1] if ins[0].rank > 1 else 1


@rule("BatchNorm")
def batch_norm(lp, ins):
    """BVLC BatchNorm. Caffe uses the stored statistics unless ``use_global_stats`` is explicitly
    false, in which case even the TEST phase normalises with the batch's own statistics; both are
    kept (``statistics`` "stored" / "batch"). The three blobs are always read and checked."""
    p = lp.batch_norm_param
    batch = p.HasField("use_global_stats") and not p.use_global_stats
    attrs = BatchNormAttrs(eps=p.eps, statistics="batch" if batch else "stored")
    c = _channels(ins)

    def finish(raw: dict) -> dict:
        if batch:
            return {}
        sf = np.float32(raw["scale_factor"].reshape(-1)[0])
        factor = np.float32(0) if sf == 0 else np.float32(1) / sf
        return {"mean": raw["mean"] * factor, "variance": raw["variance"] * factor}

    return Spec(
        "BatchNorm",
        attrs,
        [("mean", None), ("variance", None), ("scale_factor", None)],
        blob_shapes={"mean": (c,), "variance": (c,), "scale_factor": (1,)},
        finish=finish,
    )


@rule("Scale")
def scale(lp, ins):
    """BVLC Scale: one bottom (the scale is a parameter) or two (the scale is bottom[1]; its rank
    replaces ``num_axes``). Blobs: ``[scale, bias]`` or ``[bias]``, bias only with ``bias_term``."""
    p = lp.scale_param
    two = len(ins) == 2
    attrs = ScaleAttrs(axis=p.axis, num_axes=ins[1].rank if two else p.num_axes, bias=p.bias_term)
    blobs = [] if two else [("scale", _filler(p, "filler"))]
    if p.bias_term:
        blobs.append(("bias", _filler(p, "bias_filler")))
    return Spec("Scale", attrs, blobs)


# Fields only one of the two forks' BNParameter has (our schema holds their union).
PSPNET_FIELDS = ("slope_filler", "bias_filler", "momentum", "eps", "frozen", "engine")
SEGNET_FIELDS = ("scale_filler", "shift_filler", "bn_mode")
SEGNET_VAR_EPS = 1e-9  # caffe-segnet's BNLayer hard-codes var_eps_ = 1e-9


def bn_variant(lp) -> str:
    """Which fork's BN a layer is: ``"pspnet"`` or ``"segnet"``.

    Blobs carried by the LayerParameter itself decide first (4: PSPNet, 2: SegNet); the reader
    does not pass a weights file's blobs to rules, so in practice the prototxt decides: a field
    only PSPNet's BNParameter has (slope_filler, bias_filler, momentum, eps, frozen, engine)
    means PSPNet; one only caffe-segnet's has (scale_filler, shift_filler, bn_mode) means SegNet;
    both is an error. With neither, four or more ``param`` entries (PSPNet's slope, bias, mean,
    variance) mean PSPNet, and anything else SegNet (ENet and SegNet use two or none).
    """
    if len(lp.blobs) in (2, 4):
        return "segnet" if len(lp.blobs) == 2 else "pspnet"
    p = lp.bn_param
    psp = [f for f in PSPNET_FIELDS if p.HasField(f)]
    seg = [f for f in SEGNET_FIELDS if p.HasField(f)]
    if psp and seg:
        raise ValueError(
            f"bn_param mixes PSPNet BN fields ({', '.join(psp)}) with caffe-segnet "
            f"BN fields ({', '.join(seg)})"
        )
    if psp:
        return "pspnet"
    if seg:
        return "segnet"
    return "pspnet" if len(lp.param) >= 4 else "segnet"


@rule("BN")
def bn(lp, ins):
    """The forks' BN, told apart by :func:`bn_variant`.

    * PSPNet: ``slope * (x - mean) / sqrt(variance + eps) + bias`` with the stored statistics
      (TEST phase), eps from bn_param (default 1e-5) -> BatchNorm(affine).
    * caffe-segnet INFERENCE: ``scale * x + shift`` -> Scale(axis 1, bias).
    * caffe-segnet LEARN (the default mode): caffe-segnet ignores the phase and normalises with
      the batch's own mean and biased variance (eps 1e-9), then scales and shifts; this is kept
      as BatchNorm(statistics "batch", affine). SegNet's deploy files are INFERENCE after
      compute_bn_statistics.py folds the statistics into scale and shift.
    """
    p = lp.bn_param
    c = _channels(ins)
    blob = (1, c, 1, 1)

    def finish(raw: dict) -> dict:
        return {k: v.reshape(c) for k, v in raw.items()}

    if bn_variant(lp) == "pspnet":
        keys = ["scale", "bias", "mean", "variance"]
        fillers = [_filler(p, "slope_filler"), _filler(p, "bias_filler"), None, None]
        return Spec(
            "BatchNorm",
            BatchNormAttrs(eps=p.eps, affine=True),
            list(zip(keys, fillers)),
            blob_shapes={k: blob for k in keys},
            finish=finish,
        )
    blobs = [("scale", _filler(p, "scale_filler")), ("bias", _filler(p, "shift_filler"))]
    shapes = {"scale": blob, "bias": blob}
    if p.bn_mode == p.INFERENCE:
        return Spec(
            "Scale",
            ScaleAttrs(axis=1, num_axes=1, bias=True),
            blobs,
            blob_shapes=shapes,
            finish=finish,
        )
    return Spec(
        "BatchNorm",
        BatchNormAttrs(eps=SEGNET_VAR_EPS, affine=True, statistics="batch"),
        blobs,
        blob_shapes=shapes,
        finish=finish,
    )


@rule("LRN", v1="LRN")
def lrn(lp, ins):
    """BVLC LRN. WITHIN_CHANNEL is computed by Caffe as AVE pooling of x^2 (kernel local_size,
    pad (local_size-1)/2, so every window divides by local_size^2) followed by
    ``(1 + alpha * mean)^-beta``: ``k`` is not used there, so the IR gets k = 1."""
    p = lp.lrn_param
    within = p.norm_region == p.WITHIN_CHANNEL
    return Spec(
        "LRN",
        LRNAttrs(
            local_size=p.local_size,
            alpha=p.alpha,
            beta=p.beta,
            k=1.0 if within else p.k,
            region="within_channel" if within else "across_channels",
        ),
    )
