"""Caffe's ``caffe.proto`` as plain Python data, part 1: the notation, the net, layer, blob and
filler messages, the layer parameters from A to D, and SSD's (weiliu89/caffe) at the end
(part 2: :mod:`.schema_params`). Where the facts come from: see :mod:`.schema`. :mod:`.schema`
turns the table into descriptors.
"""

from __future__ import annotations

from typing import Any, Dict, List, Sequence, Tuple, Union

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
        ("prior_box_param", 203, "PriorBoxParameter"),  # weiliu89/caffe (SSD)
        ("detection_output_param", 204, "DetectionOutputParameter"),  # weiliu89/caffe (SSD)
        ("norm_param", 206, "NormalizeParameter"),  # weiliu89/caffe (SSD)
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


# ---- fork: weiliu89/caffe (SSD), branch ssd: src/caffe/proto/caffe.proto ------------------------

_msg(
    "NormalizeParameter",
    [
        ("across_spatial", 1, "bool", True),
        ("scale_filler", 2, "FillerParameter"),
        ("channel_shared", 3, "bool", True),
        ("eps", 4, "float", 1e-10),
    ],
)
_msg(
    "PriorBoxParameter",
    [
        ("min_size", 1, "repeated float"),
        ("max_size", 2, "repeated float"),
        ("aspect_ratio", 3, "repeated float"),
        ("flip", 4, "bool", True),
        ("clip", 5, "bool", False),
        ("variance", 6, "repeated float"),
        ("img_size", 7, "uint32"),
        ("img_h", 8, "uint32"),
        ("img_w", 9, "uint32"),
        ("step", 10, "float"),
        ("step_h", 11, "float"),
        ("step_w", 12, "float"),
        ("offset", 13, "float", 0.5),
    ],
    CodeType={"CORNER": 1, "CENTER_SIZE": 2, "CORNER_SIZE": 3},
)
_msg(
    "NonMaximumSuppressionParameter",
    [("nms_threshold", 1, "float", 0.3), ("top_k", 2, "int32"), ("eta", 3, "float", 1.0)],
)
_msg(  # where a DetectionOutput would write files: read and ignored (no inference meaning)
    "SaveOutputParameter",
    [
        ("output_directory", 1, "string"),
        ("output_name_prefix", 2, "string"),
        ("output_format", 3, "string"),
        ("label_map_file", 4, "string"),
        ("name_size_file", 5, "string"),
        ("num_test_image", 6, "uint32"),
        ("resize_param", 7, "ResizeParameter"),
    ],
)
_msg(
    "ResizeParameter",
    [
        ("prob", 1, "float", 1.0),
        ("resize_mode", 2, "Resize_mode", "WARP"),
        ("height", 3, "uint32", 0),
        ("width", 4, "uint32", 0),
        ("height_scale", 8, "uint32", 0),
        ("width_scale", 9, "uint32", 0),
        ("pad_mode", 5, "Pad_mode", "CONSTANT"),
        ("pad_value", 6, "repeated float"),
        ("interp_mode", 7, "repeated Interp_mode"),
    ],
    Resize_mode={"WARP": 1, "FIT_SMALL_SIZE": 2, "FIT_LARGE_SIZE_AND_PAD": 3},
    Pad_mode={"CONSTANT": 1, "MIRRORED": 2, "REPEAT_NEAREST": 3},
    Interp_mode={"LINEAR": 1, "AREA": 2, "NEAREST": 3, "CUBIC": 4, "LANCZOS4": 5},
)
_msg(
    "DetectionOutputParameter",
    [
        ("num_classes", 1, "uint32"),
        ("share_location", 2, "bool", True),
        ("background_label_id", 3, "int32", 0),
        ("nms_param", 4, "NonMaximumSuppressionParameter"),
        ("save_output_param", 5, "SaveOutputParameter"),
        ("code_type", 6, "CodeType", "CORNER"),
        ("variance_encoded_in_target", 8, "bool", False),
        ("keep_top_k", 7, "int32", -1),
        ("confidence_threshold", 9, "float"),
        ("visualize", 10, "bool", False),
        ("visualize_threshold", 11, "float"),
        ("save_file", 12, "string"),
    ],
    CodeType={"CORNER": 1, "CENTER_SIZE": 2, "CORNER_SIZE": 3},
)
