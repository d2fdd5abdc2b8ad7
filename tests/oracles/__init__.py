"""Brute-force NumPy reference definitions, written independently of graphconv.

Everything here works in float64 (or float32 where Caffe's own rounding is the definition) and
follows the textbook definition as literally as possible (direct sums over kernel taps,
scatter-adds, index maps), trading speed for obviousness. Nothing is imported from graphconv.
Arrays are ``(N, C, *spatial)`` with 1, 2 or 3 spatial axes. One module per layer family; every
public name is re-exported here, so ``import oracles as O`` and ``from oracles import X`` work.
"""

from .activation import leaky_relu, power, prelu, sigmoid, softmax
from .compare import assert_close, rel_err
from .conv import (
    _tup,
    caffe_deconv_out_len,
    conv_direct,
    conv_out_len,
    conv_pointwise_loops,
    deconv_out_len,
    deconv_scatter,
    deconv_scatter_loops,
)
from .detection import (
    assert_same_detections,
    detection_output_ref,
    detections,
    normalize_ref,
    prior_box_ref,
)
from .elementwise import eltwise_reference
from .geometry import caffe_pool_windows, conv_windows, onnx_pool_windows, scatter_deconv
from .linear import inner_product
from .norm import (
    bn_batch,
    bn_caffe_blobs,
    bn_reference,
    bn_stored,
    caffe_scale,
    channel_affine,
    lrn_across,
    lrn_within,
    segnet_learn,
)
from .pool import FLT_MAX, caffe_pool, caffe_pooled_len
from .resample import (
    caffe_interp,
    caffe_unpool,
    pad_crop,
    pad_reference,
    textbook_bilinear,
    upsample_nearest,
    zero_insert,
)
from .resize import (
    align_corners_brute_force,
    bicubic_sample,
    bilinear_sample,
    kernel_oracle,
    onnx_max_unpool,
    resize_coordinate,
    resize_oracle,
)
from .tensor import (
    argmax_ref,
    caffe_reshape_shape,
    concat_ref,
    crop_ref,
    depth_to_space_ref,
    permute_ref,
    row_major_refill,
    shuffle_ref,
    slice_ref,
)

__all__ = [
    "caffe_pool_windows",
    "conv_windows",
    "onnx_pool_windows",
    "scatter_deconv",
    "align_corners_brute_force",
    "bicubic_sample",
    "bilinear_sample",
    "kernel_oracle",
    "onnx_max_unpool",
    "resize_coordinate",
    "resize_oracle",
    "FLT_MAX",
    "_tup",
    "argmax_ref",
    "assert_close",
    "bn_batch",
    "bn_caffe_blobs",
    "bn_reference",
    "bn_stored",
    "caffe_deconv_out_len",
    "caffe_interp",
    "caffe_pool",
    "caffe_pooled_len",
    "caffe_reshape_shape",
    "caffe_scale",
    "caffe_unpool",
    "channel_affine",
    "concat_ref",
    "conv_direct",
    "conv_out_len",
    "conv_pointwise_loops",
    "crop_ref",
    "depth_to_space_ref",
    "deconv_out_len",
    "deconv_scatter",
    "deconv_scatter_loops",
    "eltwise_reference",
    "assert_same_detections",
    "detection_output_ref",
    "detections",
    "normalize_ref",
    "prior_box_ref",
    "inner_product",
    "leaky_relu",
    "lrn_across",
    "lrn_within",
    "pad_crop",
    "pad_reference",
    "permute_ref",
    "power",
    "prelu",
    "rel_err",
    "row_major_refill",
    "segnet_learn",
    "shuffle_ref",
    "sigmoid",
    "slice_ref",
    "softmax",
    "textbook_bilinear",
    "upsample_nearest",
    "zero_insert",
]
