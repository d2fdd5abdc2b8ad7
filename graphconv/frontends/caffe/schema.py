"""Caffe's ``caffe.proto`` schema, built at import time without protoc.

The schema is written below as plain Python data (one tuple per field) and
turned into a ``google.protobuf.descriptor_pb2.FileDescriptorProto`` in proto2
syntax, registered in a private ``DescriptorPool`` under the package
``graphconv_caffe`` (so it can never clash with another ``caffe_pb2`` loaded
in the same process), and materialised as message classes with
``message_factory.GetMessageClass``.

Where the facts come from
-------------------------
Field names, numbers, scalar types, labels, packed options, defaults and enum
values follow BVLC Caffe master in its final state (master HEAD ``9b89154018``,
LayerParameter "next available ID 149, last added clip_param").  The index
used to look them up holds no clean copy of BVLC master itself (its
``BVLC/caffe`` entries are fork branches, e.g. 00733bbb / 8a65ae31), so the
table was assembled from master-tracking copies and cross-checked:

* ``Bhanditz/caffe`` @ 8d32dc3582e422d7fbdee99203688e883c81a298, a mirror of
  master at 1.0 (LayerParameter next available ID 147);
* ``eric612/MobileNet-YOLO`` @ 02c455d60c473a8abd460fb83da354a9d0f8a461, built
  on later master: SwishParameter / ``swish_param = 147``,
  ``PoolingParameter.round_mode = 13``, ``InfogainLossParameter.axis = 2``
  (its own SSD/YOLO additions are not taken from it);
* ``ClipParameter`` (``required float min = 1; required float max = 2``) and
  ``clip_param = 148`` as extracted from master's caffe.proto.

SolverParameter / SolverState and the LMDB-only helpers are left out; every
message reachable from ``NetParameter`` is here (plus ``Datum``).

Fork extensions (not in BVLC) are marked ``# fork:`` in the table:

* ``upsample_param = 149`` -> UpsampleParameter, message body from
  alexgkendall/caffe-segnet (scale, scale_h, scale_w, pad_out_h, pad_out_w,
  upsample_h, upsample_w).  SegNet itself uses field 137, which BVLC assigns
  to ``embed_param``; 149 is the number of the YOLOv3 ports
  (ChenYingpeng/caffe-yolov3 via ChenYingpeng/darknet2caffe, "added by chen
  for Yolov3"); eric612/MobileNet-YOLO uses 150.  The YOLO ports declare
  ``int32 scale = 1 [default = 1]``; the SegNet ``uint32 [default = 2]`` is
  used (same wire type).
* ``interp_param = 163`` -> InterpParameter from hszhao/PSPNet.  PSPNet's
  current caffe.proto (c479f4fe) uses 143, which BVLC assigns to
  ``input_param``; 163 is the number an earlier stored revision of
  hszhao/PSPNet's caffe.proto (88d0b3ee) gave the same message.
* ``bn_param = 45`` -> BNParameter, the union of caffe-segnet's (field 45;
  scale_filler 1, shift_filler 2, bn_mode 3) and PSPNet's (field 152;
  slope_filler 1, bias_filler 2, momentum 3, eps 4, frozen 5, engine 6).
  SegNet is listed first, so it keeps 45 and 1..3; PSPNet's three clashing
  fields move to 101..103.
* ``shuffle_channel_param = 164`` -> ShuffleChannelParameter (``group``),
  from farmingyard/ShuffleNet.
* ``permute_param = 202`` -> PermuteParameter (``repeated uint32 order``),
  from weiliu89/caffe (SSD).
"""

from __future__ import annotations

from typing import Any, Dict, List, Mapping, Sequence, Tuple, Union

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.descriptor import Descriptor
from google.protobuf.message import Message

__all__ = [
    "PACKAGE",
    "FILE_NAME",
    "FILE_DESCRIPTOR_PROTO",
    "POOL",
    "message_class",
    "message_names",
    "message_descriptor",
    "NetParameter",
    "NetState",
    "NetStateRule",
    "LayerParameter",
    "V1LayerParameter",
    "V0LayerParameter",
    "ParamSpec",
    "BlobProto",
    "BlobProtoVector",
    "BlobShape",
    "FillerParameter",
    "TransformationParameter",
    "LossParameter",
    "Datum",
]

PACKAGE = "graphconv_caffe"
FILE_NAME = "graphconv_caffe/caffe.proto"

# --------------------------------------------------------------------------
# Table notation
#
#   field  = (name, number, type)  or  (name, number, type, default)
#   type   = "[repeated |packed |required ]<scalar | MessageName | EnumName>"
#            "packed" means repeated with [packed = true].
#   enum names resolve first among the message's own nested enums, then the
#   file-level enums, then messages.
#   enums  = {EnumName: {VALUE: number, ...}}; _seq("A B C") numbers from 0.
# --------------------------------------------------------------------------

Field = Union[Tuple[str, int, str], Tuple[str, int, str, Any]]
Enums = Dict[str, Dict[str, int]]


def _seq(names: str, start: int = 0) -> Dict[str, int]:
    return {name: i for i, name in enumerate(names.split(), start)}


_ENGINE = _seq("DEFAULT CAFFE CUDNN")
_POOL_METHOD = _seq("MAX AVE STOCHASTIC")
_DIM_CHECK = _seq("STRICT PERMISSIVE")

_FILE_ENUMS: Enums = {"Phase": _seq("TRAIN TEST")}

_MESSAGES: Dict[str, Tuple[List[Field], Enums]] = {}


def _msg(name: str, fields: Sequence[Field], **enums: Dict[str, int]) -> None:
    assert name not in _MESSAGES, name
    _MESSAGES[name] = (list(fields), dict(enums))


# ---- blobs, fillers, the net ----------------------------------------------

_msg("BlobShape", [("dim", 1, "packed int64")])

_msg(
    "BlobProto",
    [
        ("shape", 7, "BlobShape"),
        ("data", 5, "packed float"),
        ("diff", 6, "packed float"),
        ("double_data", 8, "packed double"),
        ("double_diff", 9, "packed double"),
        ("num", 1, "int32", 0),
        ("channels", 2, "int32", 0),
        ("height", 3, "int32", 0),
        ("width", 4, "int32", 0),
    ],
)

_msg("BlobProtoVector", [("blobs", 1, "repeated BlobProto")])

_msg(
    "Datum",
    [
        ("channels", 1, "int32"),
        ("height", 2, "int32"),
        ("width", 3, "int32"),
        ("data", 4, "bytes"),
        ("label", 5, "int32"),
        ("float_data", 6, "repeated float"),
        ("encoded", 7, "bool", False),
    ],
)

_msg(
    "FillerParameter",
    [
        ("type", 1, "string", "constant"),
        ("value", 2, "float", 0.0),
        ("min", 3, "float", 0.0),
        ("max", 4, "float", 1.0),
        ("mean", 5, "float", 0.0),
        ("std", 6, "float", 1.0),
        ("sparse", 7, "int32", -1),
        ("variance_norm", 8, "VarianceNorm", "FAN_IN"),
    ],
    VarianceNorm=_seq("FAN_IN FAN_OUT AVERAGE"),
)

_msg(
    "NetParameter",
    [
        ("name", 1, "string"),
        ("input", 3, "repeated string"),
        ("input_shape", 8, "repeated BlobShape"),
        ("input_dim", 4, "repeated int32"),
        ("force_backward", 5, "bool", False),
        ("state", 6, "NetState"),
        ("debug_info", 7, "bool", False),
        ("layer", 100, "repeated LayerParameter"),
        ("layers", 2, "repeated V1LayerParameter"),
    ],
)

_msg(
    "NetState",
    [
        ("phase", 1, "Phase", "TEST"),
        ("level", 2, "int32", 0),
        ("stage", 3, "repeated string"),
    ],
)

_msg(
    "NetStateRule",
    [
        ("phase", 1, "Phase"),
        ("min_level", 2, "int32"),
        ("max_level", 3, "int32"),
        ("stage", 4, "repeated string"),
        ("not_stage", 5, "repeated string"),
    ],
)

_msg(
    "ParamSpec",
    [
        ("name", 1, "string"),
        ("share_mode", 2, "DimCheckMode"),
        ("lr_mult", 3, "float", 1.0),
        ("decay_mult", 4, "float", 1.0),
    ],
    DimCheckMode=_DIM_CHECK,
)

_msg(
    "LayerParameter",
    [
        ("name", 1, "string"),
        ("type", 2, "string"),
        ("bottom", 3, "repeated string"),
        ("top", 4, "repeated string"),
        ("phase", 10, "Phase"),
        ("loss_weight", 5, "repeated float"),
        ("param", 6, "repeated ParamSpec"),
        ("blobs", 7, "repeated BlobProto"),
        ("propagate_down", 11, "repeated bool"),
        ("include", 8, "repeated NetStateRule"),
        ("exclude", 9, "repeated NetStateRule"),
        ("transform_param", 100, "TransformationParameter"),
        ("loss_param", 101, "LossParameter"),
        ("accuracy_param", 102, "AccuracyParameter"),
        ("argmax_param", 103, "ArgMaxParameter"),
        ("batch_norm_param", 139, "BatchNormParameter"),
        ("bias_param", 141, "BiasParameter"),
        ("clip_param", 148, "ClipParameter"),
        ("concat_param", 104, "ConcatParameter"),
        ("contrastive_loss_param", 105, "ContrastiveLossParameter"),
        ("convolution_param", 106, "ConvolutionParameter"),
        ("crop_param", 144, "CropParameter"),
        ("data_param", 107, "DataParameter"),
        ("dropout_param", 108, "DropoutParameter"),
        ("dummy_data_param", 109, "DummyDataParameter"),
        ("eltwise_param", 110, "EltwiseParameter"),
        ("elu_param", 140, "ELUParameter"),
        ("embed_param", 137, "EmbedParameter"),
        ("exp_param", 111, "ExpParameter"),
        ("flatten_param", 135, "FlattenParameter"),
        ("hdf5_data_param", 112, "HDF5DataParameter"),
        ("hdf5_output_param", 113, "HDF5OutputParameter"),
        ("hinge_loss_param", 114, "HingeLossParameter"),
        ("image_data_param", 115, "ImageDataParameter"),
        ("infogain_loss_param", 116, "InfogainLossParameter"),
        ("inner_product_param", 117, "InnerProductParameter"),
        ("input_param", 143, "InputParameter"),
        ("log_param", 134, "LogParameter"),
        ("lrn_param", 118, "LRNParameter"),
        ("memory_data_param", 119, "MemoryDataParameter"),
        ("mvn_param", 120, "MVNParameter"),
        ("parameter_param", 145, "ParameterParameter"),
        ("pooling_param", 121, "PoolingParameter"),
        ("power_param", 122, "PowerParameter"),
        ("prelu_param", 131, "PReLUParameter"),
        ("python_param", 130, "PythonParameter"),
        ("recurrent_param", 146, "RecurrentParameter"),
        ("reduction_param", 136, "ReductionParameter"),
        ("relu_param", 123, "ReLUParameter"),
        ("reshape_param", 133, "ReshapeParameter"),
        ("scale_param", 142, "ScaleParameter"),
        ("sigmoid_param", 124, "SigmoidParameter"),
        ("softmax_param", 125, "SoftmaxParameter"),
        ("spp_param", 132, "SPPParameter"),
        ("slice_param", 126, "SliceParameter"),
        ("swish_param", 147, "SwishParameter"),
        ("tanh_param", 127, "TanHParameter"),
        ("threshold_param", 128, "ThresholdParameter"),
        ("tile_param", 138, "TileParameter"),
        ("window_data_param", 129, "WindowDataParameter"),
        # fork: see the module docstring for sources and number conflicts.
        ("bn_param", 45, "BNParameter"),  # segnet 45, PSPNet 152
        ("upsample_param", 149, "UpsampleParameter"),  # segnet 137 = BVLC embed_param
        ("interp_param", 163, "InterpParameter"),  # PSPNet 143 = BVLC input_param
        ("shuffle_channel_param", 164, "ShuffleChannelParameter"),  # farmingyard/ShuffleNet
        ("permute_param", 202, "PermuteParameter"),  # weiliu89/caffe (SSD)
        # graphconv's own: the SeparableConvolution layer type (geometry in convolution_param).
        ("separable_param", 9001, "SeparableParameter"),
    ],
)

_msg(
    "TransformationParameter",
    [
        ("scale", 1, "float", 1.0),
        ("mirror", 2, "bool", False),
        ("crop_size", 3, "uint32", 0),
        ("mean_file", 4, "string"),
        ("mean_value", 5, "repeated float"),
        ("force_color", 6, "bool", False),
        ("force_gray", 7, "bool", False),
    ],
)

_msg(
    "LossParameter",
    [
        ("ignore_label", 1, "int32"),
        ("normalization", 3, "NormalizationMode", "VALID"),
        ("normalize", 2, "bool"),
    ],
    NormalizationMode=_seq("FULL VALID BATCH_SIZE NONE"),
)

# ---- layer-specific parameters (BVLC) -------------------------------------

_msg(
    "AccuracyParameter",
    [
        ("top_k", 1, "uint32", 1),
        ("axis", 2, "int32", 1),
        ("ignore_label", 3, "int32"),
    ],
)

_msg(
    "ArgMaxParameter",
    [
        ("out_max_val", 1, "bool", False),
        ("top_k", 2, "uint32", 1),
        ("axis", 3, "int32"),
    ],
)

_msg(
    "ClipParameter",
    [
        ("min", 1, "required float"),
        ("max", 2, "required float"),
    ],
)

_msg(
    "ConcatParameter",
    [
        ("axis", 2, "int32", 1),
        ("concat_dim", 1, "uint32", 1),
    ],
)

_msg(
    "BatchNormParameter",
    [
        ("use_global_stats", 1, "bool"),
        ("moving_average_fraction", 2, "float", 0.999),
        ("eps", 3, "float", 1e-5),
    ],
)

_msg(
    "BiasParameter",
    [
        ("axis", 1, "int32", 1),
        ("num_axes", 2, "int32", 1),
        ("filler", 3, "FillerParameter"),
    ],
)

_msg(
    "ContrastiveLossParameter",
    [
        ("margin", 1, "float", 1.0),
        ("legacy_version", 2, "bool", False),
    ],
)

_msg(
    "ConvolutionParameter",
    [
        ("num_output", 1, "uint32"),
        ("bias_term", 2, "bool", True),
        ("pad", 3, "repeated uint32"),
        ("kernel_size", 4, "repeated uint32"),
        ("stride", 6, "repeated uint32"),
        ("dilation", 18, "repeated uint32"),
        ("pad_h", 9, "uint32", 0),
        ("pad_w", 10, "uint32", 0),
        ("kernel_h", 11, "uint32"),
        ("kernel_w", 12, "uint32"),
        ("stride_h", 13, "uint32"),
        ("stride_w", 14, "uint32"),
        ("group", 5, "uint32", 1),
        ("weight_filler", 7, "FillerParameter"),
        ("bias_filler", 8, "FillerParameter"),
        ("engine", 15, "Engine", "DEFAULT"),
        ("axis", 16, "int32", 1),
        ("force_nd_im2col", 17, "bool", False),
    ],
    Engine=_ENGINE,
)

_msg(
    "CropParameter",
    [
        ("axis", 1, "int32", 2),
        ("offset", 2, "repeated uint32"),
    ],
)

_msg(
    "DataParameter",
    [
        ("source", 1, "string"),
        ("batch_size", 4, "uint32"),
        ("rand_skip", 7, "uint32", 0),
        ("backend", 8, "DB", "LEVELDB"),
        ("scale", 2, "float", 1.0),
        ("mean_file", 3, "string"),
        ("crop_size", 5, "uint32", 0),
        ("mirror", 6, "bool", False),
        ("force_encoded_color", 9, "bool", False),
        ("prefetch", 10, "uint32", 4),
    ],
    DB=_seq("LEVELDB LMDB"),
)

_msg("DropoutParameter", [("dropout_ratio", 1, "float", 0.5)])

_msg(
    "DummyDataParameter",
    [
        ("data_filler", 1, "repeated FillerParameter"),
        ("shape", 6, "repeated BlobShape"),
        ("num", 2, "repeated uint32"),
        ("channels", 3, "repeated uint32"),
        ("height", 4, "repeated uint32"),
        ("width", 5, "repeated uint32"),
    ],
)

_msg(
    "EltwiseParameter",
    [
        ("operation", 1, "EltwiseOp", "SUM"),
        ("coeff", 2, "repeated float"),
        ("stable_prod_grad", 3, "bool", True),
    ],
    EltwiseOp=_seq("PROD SUM MAX"),
)

_msg("ELUParameter", [("alpha", 1, "float", 1.0)])

_msg(
    "EmbedParameter",
    [
        ("num_output", 1, "uint32"),
        ("input_dim", 2, "uint32"),
        ("bias_term", 3, "bool", True),
        ("weight_filler", 4, "FillerParameter"),
        ("bias_filler", 5, "FillerParameter"),
    ],
)

_msg(
    "ExpParameter",
    [
        ("base", 1, "float", -1.0),
        ("scale", 2, "float", 1.0),
        ("shift", 3, "float", 0.0),
    ],
)

_msg(
    "FlattenParameter",
    [
        ("axis", 1, "int32", 1),
        ("end_axis", 2, "int32", -1),
    ],
)

_msg(
    "HDF5DataParameter",
    [
        ("source", 1, "string"),
        ("batch_size", 2, "uint32"),
        ("shuffle", 3, "bool", False),
    ],
)

_msg("HDF5OutputParameter", [("file_name", 1, "string")])

_msg("HingeLossParameter", [("norm", 1, "Norm", "L1")], Norm={"L1": 1, "L2": 2})

_msg(
    "ImageDataParameter",
    [
        ("source", 1, "string"),
        ("batch_size", 4, "uint32", 1),
        ("rand_skip", 7, "uint32", 0),
        ("shuffle", 8, "bool", False),
        ("new_height", 9, "uint32", 0),
        ("new_width", 10, "uint32", 0),
        ("is_color", 11, "bool", True),
        ("scale", 2, "float", 1.0),
        ("mean_file", 3, "string"),
        ("crop_size", 5, "uint32", 0),
        ("mirror", 6, "bool", False),
        ("root_folder", 12, "string", ""),
    ],
)

_msg(
    "InfogainLossParameter",
    [
        ("source", 1, "string"),
        ("axis", 2, "int32", 1),
    ],
)

_msg(
    "InnerProductParameter",
    [
        ("num_output", 1, "uint32"),
        ("bias_term", 2, "bool", True),
        ("weight_filler", 3, "FillerParameter"),
        ("bias_filler", 4, "FillerParameter"),
        ("axis", 5, "int32", 1),
        ("transpose", 6, "bool", False),
    ],
)

_msg("InputParameter", [("shape", 1, "repeated BlobShape")])

_msg(
    "LogParameter",
    [
        ("base", 1, "float", -1.0),
        ("scale", 2, "float", 1.0),
        ("shift", 3, "float", 0.0),
    ],
)

_msg(
    "LRNParameter",
    [
        ("local_size", 1, "uint32", 5),
        ("alpha", 2, "float", 1.0),
        ("beta", 3, "float", 0.75),
        ("norm_region", 4, "NormRegion", "ACROSS_CHANNELS"),
        ("k", 5, "float", 1.0),
        ("engine", 6, "Engine", "DEFAULT"),
    ],
    NormRegion=_seq("ACROSS_CHANNELS WITHIN_CHANNEL"),
    Engine=_ENGINE,
)

_msg(
    "MemoryDataParameter",
    [
        ("batch_size", 1, "uint32"),
        ("channels", 2, "uint32"),
        ("height", 3, "uint32"),
        ("width", 4, "uint32"),
    ],
)

_msg(
    "MVNParameter",
    [
        ("normalize_variance", 1, "bool", True),
        ("across_channels", 2, "bool", False),
        ("eps", 3, "float", 1e-9),
    ],
)

_msg("ParameterParameter", [("shape", 1, "BlobShape")])

_msg(
    "PoolingParameter",
    [
        ("pool", 1, "PoolMethod", "MAX"),
        ("pad", 4, "uint32", 0),
        ("pad_h", 9, "uint32", 0),
        ("pad_w", 10, "uint32", 0),
        ("kernel_size", 2, "uint32"),
        ("kernel_h", 5, "uint32"),
        ("kernel_w", 6, "uint32"),
        ("stride", 3, "uint32", 1),
        ("stride_h", 7, "uint32"),
        ("stride_w", 8, "uint32"),
        ("engine", 11, "Engine", "DEFAULT"),
        ("global_pooling", 12, "bool", False),
        ("round_mode", 13, "RoundMode", "CEIL"),
    ],
    PoolMethod=_POOL_METHOD,
    Engine=_ENGINE,
    RoundMode=_seq("CEIL FLOOR"),
)

_msg(
    "PowerParameter",
    [
        ("power", 1, "float", 1.0),
        ("scale", 2, "float", 1.0),
        ("shift", 3, "float", 0.0),
    ],
)

_msg(
    "PythonParameter",
    [
        ("module", 1, "string"),
        ("layer", 2, "string"),
        ("param_str", 3, "string", ""),
        ("share_in_parallel", 4, "bool", False),
    ],
)

_msg(
    "RecurrentParameter",
    [
        ("num_output", 1, "uint32", 0),
        ("weight_filler", 2, "FillerParameter"),
        ("bias_filler", 3, "FillerParameter"),
        ("debug_info", 4, "bool", False),
        ("expose_hidden", 5, "bool", False),
    ],
)

_msg(
    "ReductionParameter",
    [
        ("operation", 1, "ReductionOp", "SUM"),
        ("axis", 2, "int32", 0),
        ("coeff", 3, "float", 1.0),
    ],
    ReductionOp=_seq("SUM ASUM SUMSQ MEAN", start=1),
)

_msg(
    "ReLUParameter",
    [
        ("negative_slope", 1, "float", 0.0),
        ("engine", 2, "Engine", "DEFAULT"),
    ],
    Engine=_ENGINE,
)

_msg(
    "ReshapeParameter",
    [
        ("shape", 1, "BlobShape"),
        ("axis", 2, "int32", 0),
        ("num_axes", 3, "int32", -1),
    ],
)

_msg(
    "ScaleParameter",
    [
        ("axis", 1, "int32", 1),
        ("num_axes", 2, "int32", 1),
        ("filler", 3, "FillerParameter"),
        ("bias_term", 4, "bool", False),
        ("bias_filler", 5, "FillerParameter"),
    ],
)

_msg("SigmoidParameter", [("engine", 1, "Engine", "DEFAULT")], Engine=_ENGINE)

_msg(
    "SliceParameter",
    [
        ("axis", 3, "int32", 1),
        ("slice_point", 2, "repeated uint32"),
        ("slice_dim", 1, "uint32", 1),
    ],
)

_msg(
    "SoftmaxParameter",
    [
        ("engine", 1, "Engine", "DEFAULT"),
        ("axis", 2, "int32", 1),
    ],
    Engine=_ENGINE,
)

_msg("SwishParameter", [("beta", 1, "float", 1.0)])

_msg("TanHParameter", [("engine", 1, "Engine", "DEFAULT")], Engine=_ENGINE)

_msg(
    "TileParameter",
    [
        ("axis", 1, "int32", 1),
        ("tiles", 2, "int32"),
    ],
)

_msg("ThresholdParameter", [("threshold", 1, "float", 0.0)])

_msg(
    "WindowDataParameter",
    [
        ("source", 1, "string"),
        ("scale", 2, "float", 1.0),
        ("mean_file", 3, "string"),
        ("batch_size", 4, "uint32"),
        ("crop_size", 5, "uint32", 0),
        ("mirror", 6, "bool", False),
        ("fg_threshold", 7, "float", 0.5),
        ("bg_threshold", 8, "float", 0.5),
        ("fg_fraction", 9, "float", 0.25),
        ("context_pad", 10, "uint32", 0),
        ("crop_mode", 11, "string", "warp"),
        ("cache_images", 12, "bool", False),
        ("root_folder", 13, "string", ""),
    ],
)

_msg(
    "SPPParameter",
    [
        ("pyramid_height", 1, "uint32"),
        ("pool", 2, "PoolMethod", "MAX"),
        ("engine", 6, "Engine", "DEFAULT"),
    ],
    PoolMethod=_POOL_METHOD,
    Engine=_ENGINE,
)

_msg(
    "PReLUParameter",
    [
        ("filler", 1, "FillerParameter"),
        ("channel_shared", 2, "bool", False),
    ],
)

# ---- legacy layer formats ---------------------------------------------------

_V1_LAYER_TYPES = {
    "NONE": 0,
    "ABSVAL": 35,
    "ACCURACY": 1,
    "ARGMAX": 30,
    "BNLL": 2,
    "CONCAT": 3,
    "CONTRASTIVE_LOSS": 37,
    "CONVOLUTION": 4,
    "DATA": 5,
    "DECONVOLUTION": 39,
    "DROPOUT": 6,
    "DUMMY_DATA": 32,
    "EUCLIDEAN_LOSS": 7,
    "ELTWISE": 25,
    "EXP": 38,
    "FLATTEN": 8,
    "HDF5_DATA": 9,
    "HDF5_OUTPUT": 10,
    "HINGE_LOSS": 28,
    "IM2COL": 11,
    "IMAGE_DATA": 12,
    "INFOGAIN_LOSS": 13,
    "INNER_PRODUCT": 14,
    "LRN": 15,
    "MEMORY_DATA": 29,
    "MULTINOMIAL_LOGISTIC_LOSS": 16,
    "MVN": 34,
    "POOLING": 17,
    "POWER": 26,
    "RELU": 18,
    "SIGMOID": 19,
    "SIGMOID_CROSS_ENTROPY_LOSS": 27,
    "SILENCE": 36,
    "SOFTMAX": 20,
    "SOFTMAX_LOSS": 21,
    "SPLIT": 22,
    "SLICE": 33,
    "TANH": 23,
    "WINDOW_DATA": 24,
    "THRESHOLD": 31,
}

_msg(
    "V1LayerParameter",
    [
        ("bottom", 2, "repeated string"),
        ("top", 3, "repeated string"),
        ("name", 4, "string"),
        ("include", 32, "repeated NetStateRule"),
        ("exclude", 33, "repeated NetStateRule"),
        ("type", 5, "LayerType"),
        ("blobs", 6, "repeated BlobProto"),
        ("param", 1001, "repeated string"),
        ("blob_share_mode", 1002, "repeated DimCheckMode"),
        ("blobs_lr", 7, "repeated float"),
        ("weight_decay", 8, "repeated float"),
        ("loss_weight", 35, "repeated float"),
        ("accuracy_param", 27, "AccuracyParameter"),
        ("argmax_param", 23, "ArgMaxParameter"),
        ("concat_param", 9, "ConcatParameter"),
        ("contrastive_loss_param", 40, "ContrastiveLossParameter"),
        ("convolution_param", 10, "ConvolutionParameter"),
        ("data_param", 11, "DataParameter"),
        ("dropout_param", 12, "DropoutParameter"),
        ("dummy_data_param", 26, "DummyDataParameter"),
        ("eltwise_param", 24, "EltwiseParameter"),
        ("exp_param", 41, "ExpParameter"),
        ("hdf5_data_param", 13, "HDF5DataParameter"),
        ("hdf5_output_param", 14, "HDF5OutputParameter"),
        ("hinge_loss_param", 29, "HingeLossParameter"),
        ("image_data_param", 15, "ImageDataParameter"),
        ("infogain_loss_param", 16, "InfogainLossParameter"),
        ("inner_product_param", 17, "InnerProductParameter"),
        ("lrn_param", 18, "LRNParameter"),
        ("memory_data_param", 22, "MemoryDataParameter"),
        ("mvn_param", 34, "MVNParameter"),
        ("pooling_param", 19, "PoolingParameter"),
        ("power_param", 21, "PowerParameter"),
        ("relu_param", 30, "ReLUParameter"),
        ("sigmoid_param", 38, "SigmoidParameter"),
        ("softmax_param", 39, "SoftmaxParameter"),
        ("slice_param", 31, "SliceParameter"),
        ("tanh_param", 37, "TanHParameter"),
        ("threshold_param", 25, "ThresholdParameter"),
        ("window_data_param", 20, "WindowDataParameter"),
        ("transform_param", 36, "TransformationParameter"),
        ("loss_param", 42, "LossParameter"),
        ("layer", 1, "V0LayerParameter"),
    ],
    LayerType=_V1_LAYER_TYPES,
    DimCheckMode=_DIM_CHECK,
)

_msg(
    "V0LayerParameter",
    [
        ("name", 1, "string"),
        ("type", 2, "string"),
        ("num_output", 3, "uint32"),
        ("biasterm", 4, "bool", True),
        ("weight_filler", 5, "FillerParameter"),
        ("bias_filler", 6, "FillerParameter"),
        ("pad", 7, "uint32", 0),
        ("kernelsize", 8, "uint32"),
        ("group", 9, "uint32", 1),
        ("stride", 10, "uint32", 1),
        ("pool", 11, "PoolMethod", "MAX"),
        ("dropout_ratio", 12, "float", 0.5),
        ("local_size", 13, "uint32", 5),
        ("alpha", 14, "float", 1.0),
        ("beta", 15, "float", 0.75),
        ("k", 22, "float", 1.0),
        ("source", 16, "string"),
        ("scale", 17, "float", 1.0),
        ("meanfile", 18, "string"),
        ("batchsize", 19, "uint32"),
        ("cropsize", 20, "uint32", 0),
        ("mirror", 21, "bool", False),
        ("blobs", 50, "repeated BlobProto"),
        ("blobs_lr", 51, "repeated float"),
        ("weight_decay", 52, "repeated float"),
        ("rand_skip", 53, "uint32", 0),
        ("det_fg_threshold", 54, "float", 0.5),
        ("det_bg_threshold", 55, "float", 0.5),
        ("det_fg_fraction", 56, "float", 0.25),
        ("det_context_pad", 58, "uint32", 0),
        ("det_crop_mode", 59, "string", "warp"),
        ("new_num", 60, "int32", 0),
        ("new_channels", 61, "int32", 0),
        ("new_height", 62, "int32", 0),
        ("new_width", 63, "int32", 0),
        ("shuffle_images", 64, "bool", False),
        ("concat_dim", 65, "uint32", 1),
        ("hdf5_output_param", 1001, "HDF5OutputParameter"),
    ],
    PoolMethod=_POOL_METHOD,
)

# ---- fork extensions ----------------------------------------------------------

# fork: alexgkendall/caffe-segnet (message body; field number in LayerParameter
# is the YOLOv3 ports' 149, see the module docstring).
_msg(
    "UpsampleParameter",
    [
        ("scale", 1, "uint32", 2),
        ("scale_h", 2, "uint32"),
        ("scale_w", 3, "uint32"),
        ("pad_out_h", 4, "bool", False),
        ("pad_out_w", 5, "bool", False),
        ("upsample_h", 6, "uint32"),
        ("upsample_w", 7, "uint32"),
    ],
)

# fork: hszhao/PSPNet
_msg(
    "InterpParameter",
    [
        ("height", 1, "int32", 0),
        ("width", 2, "int32", 0),
        ("zoom_factor", 3, "int32", 1),
        ("shrink_factor", 4, "int32", 1),
        ("pad_beg", 5, "int32", 0),
        ("pad_end", 6, "int32", 0),
    ],
)

# fork: union of caffe-segnet's and PSPNet's BNParameter.  Both forks use 1..3
# for different fields; segnet (listed first) keeps them, PSPNet's move to 10x.
_msg(
    "BNParameter",
    [
        ("scale_filler", 1, "FillerParameter"),  # segnet
        ("shift_filler", 2, "FillerParameter"),  # segnet
        ("bn_mode", 3, "BNMode", "LEARN"),  # segnet
        ("slope_filler", 101, "FillerParameter"),  # PSPNet 1
        ("bias_filler", 102, "FillerParameter"),  # PSPNet 2
        ("momentum", 103, "float", 0.9),  # PSPNet 3
        ("eps", 4, "float", 1e-5),  # PSPNet
        ("frozen", 5, "bool", False),  # PSPNet
        ("engine", 6, "Engine", "DEFAULT"),  # PSPNet
    ],
    BNMode=_seq("LEARN INFERENCE"),
    Engine=_ENGINE,
)

# fork: farmingyard/ShuffleNet
_msg("ShuffleChannelParameter", [("group", 1, "uint32", 1)])

# fork: weiliu89/caffe (SSD)
_msg("PermuteParameter", [("order", 1, "repeated uint32")])

# graphconv's own extension: depthwise k x k with channel multiplier, then pointwise 1x1.
_msg(
    "SeparableParameter",
    [
        ("multiplier", 1, "uint32", 1),
        ("depthwise_bias", 2, "bool", False),
    ],
)


# --------------------------------------------------------------------------
# Table -> FileDescriptorProto -> classes
# --------------------------------------------------------------------------

_FDP = descriptor_pb2.FieldDescriptorProto

_SCALAR_TYPES: Mapping[str, int] = {
    "double": _FDP.TYPE_DOUBLE,
    "float": _FDP.TYPE_FLOAT,
    "int64": _FDP.TYPE_INT64,
    "uint64": _FDP.TYPE_UINT64,
    "int32": _FDP.TYPE_INT32,
    "uint32": _FDP.TYPE_UINT32,
    "bool": _FDP.TYPE_BOOL,
    "string": _FDP.TYPE_STRING,
    "bytes": _FDP.TYPE_BYTES,
}

_LABELS: Mapping[str, int] = {
    "": _FDP.LABEL_OPTIONAL,
    "repeated": _FDP.LABEL_REPEATED,
    "packed": _FDP.LABEL_REPEATED,
    "required": _FDP.LABEL_REQUIRED,
}


def _default_text(value: Any) -> str:
    """A Python default as FieldDescriptorProto.default_value text."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return str(value)


def _field_proto(message: str, spec: Field, enums: Enums) -> descriptor_pb2.FieldDescriptorProto:
    name, number, type_spec = spec[0], spec[1], spec[2]
    words = type_spec.split()
    if len(words) == 1:
        label_word, type_word = "", words[0]
    elif len(words) == 2 and words[0] in _LABELS:
        label_word, type_word = words
    else:
        raise ValueError(f"{message}.{name}: bad type {type_spec!r}")

    field = _FDP(name=name, number=number, label=_LABELS[label_word])
    if type_word in _SCALAR_TYPES:
        field.type = _SCALAR_TYPES[type_word]  # type: ignore[assignment]
    elif type_word in enums:
        field.type = _FDP.TYPE_ENUM
        field.type_name = f".{PACKAGE}.{message}.{type_word}"
    elif type_word in _FILE_ENUMS:
        field.type = _FDP.TYPE_ENUM
        field.type_name = f".{PACKAGE}.{type_word}"
    elif type_word in _MESSAGES:
        field.type = _FDP.TYPE_MESSAGE
        field.type_name = f".{PACKAGE}.{type_word}"
    else:
        raise ValueError(f"{message}.{name}: unknown type {type_word!r}")

    if label_word == "packed":
        if type_word not in _SCALAR_TYPES or type_word in ("string", "bytes"):
            raise ValueError(f"{message}.{name}: only numeric fields can be packed")
        field.options.packed = True
    if len(spec) > 3:
        if field.label == _FDP.LABEL_REPEATED or field.type == _FDP.TYPE_MESSAGE:
            raise ValueError(f"{message}.{name}: default on a repeated/message field")
        field.default_value = _default_text(spec[3])  # type: ignore[misc]
    return field


def _enum_proto(name: str, values: Mapping[str, int]) -> descriptor_pb2.EnumDescriptorProto:
    enum = descriptor_pb2.EnumDescriptorProto(name=name)
    for value_name, number in values.items():
        enum.value.add(name=value_name, number=number)
    return enum


def _build_file() -> descriptor_pb2.FileDescriptorProto:
    fdp = descriptor_pb2.FileDescriptorProto(name=FILE_NAME, package=PACKAGE, syntax="proto2")
    for enum_name, values in _FILE_ENUMS.items():
        fdp.enum_type.append(_enum_proto(enum_name, values))
    for msg_name, (fields, enums) in _MESSAGES.items():
        msg = fdp.message_type.add(name=msg_name)
        for enum_name, values in enums.items():
            msg.enum_type.append(_enum_proto(enum_name, values))
        seen_names: set = set()
        seen_numbers: set = set()
        for spec in fields:
            if spec[0] in seen_names or spec[1] in seen_numbers:
                raise ValueError(f"{msg_name}: duplicate field {spec[0]!r} / {spec[1]}")
            seen_names.add(spec[0])
            seen_numbers.add(spec[1])
            msg.field.append(_field_proto(msg_name, spec, enums))
    return fdp


FILE_DESCRIPTOR_PROTO: descriptor_pb2.FileDescriptorProto = _build_file()

POOL: descriptor_pool.DescriptorPool = descriptor_pool.DescriptorPool()
POOL.Add(FILE_DESCRIPTOR_PROTO)

_CLASSES: Dict[str, type] = {
    name: message_factory.GetMessageClass(POOL.FindMessageTypeByName(f"{PACKAGE}.{name}"))
    for name in _MESSAGES
}


def message_names() -> List[str]:
    """Short names of every message in the schema, in table order."""
    return list(_CLASSES)


def message_class(name: str) -> type[Message]:
    """The message class for a short name, e.g. ``message_class("ConvolutionParameter")``.

    A fully qualified ``graphconv_caffe.X`` (or ``caffe.X``) name is accepted too.
    """
    short = name.rsplit(".", 1)[-1] if name.startswith((PACKAGE + ".", "caffe.")) else name
    try:
        return _CLASSES[short]
    except KeyError:
        raise KeyError(f"no Caffe message named {name!r}") from None


def message_descriptor(name: str) -> Descriptor:
    """The ``Descriptor`` of a message, by short name."""
    return message_class(name).DESCRIPTOR


NetParameter = message_class("NetParameter")
NetState = message_class("NetState")
NetStateRule = message_class("NetStateRule")
LayerParameter = message_class("LayerParameter")
V1LayerParameter = message_class("V1LayerParameter")
V0LayerParameter = message_class("V0LayerParameter")
ParamSpec = message_class("ParamSpec")
BlobProto = message_class("BlobProto")
BlobProtoVector = message_class("BlobProtoVector")
BlobShape = message_class("BlobShape")
FillerParameter = message_class("FillerParameter")
TransformationParameter = message_class("TransformationParameter")
LossParameter = message_class("LossParameter")
Datum = message_class("Datum")
