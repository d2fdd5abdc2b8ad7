"""Caffe's ``caffe.proto`` as plain Python data, part 2: the layer parameters from D on, the
legacy V1 layer types and graphconv's own SeparableParameter (part 1: :mod:`.schema_table`).
"""

from __future__ import annotations

from .schema_table import _DIM_CHECK, _ENGINE, _POOL_METHOD, _msg, _seq  # noqa: F401

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

# fork: weiliu89/caffe (SSD); its other layer parameters are at the end of schema_table
_msg("PermuteParameter", [("order", 1, "repeated uint32")])

# graphconv's own extension: depthwise k x k with channel multiplier, then pointwise 1x1.
_msg(
    "SeparableParameter",
    [
        ("multiplier", 1, "uint32", 1),
        ("depthwise_bias", 2, "bool", False),
    ],
)
