"""Tests for graphconv.frontends.caffe.schema (the built-in caffe.proto).

Expected field numbers and defaults below were written down by hand from
BVLC Caffe master's src/caffe/proto/caffe.proto (and, for the fork fields,
from the forks' caffe.proto files named in the schema module docstring).
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import List, Optional

import pytest
from google.protobuf import descriptor_pool, text_format
from google.protobuf.descriptor import FieldDescriptor

from graphconv.frontends.caffe import schema

ZOO = Path(__file__).resolve().parents[2] / "shared" / "caffe-zoo"
IN_CI = os.environ.get("CI") == "true"


def _zoo_files() -> List[Optional[Path]]:
    if ZOO.is_dir():
        files = sorted(ZOO.glob("*.prototxt"))
        if files:
            return list(files)
    return [None]


def _require_zoo(path: Optional[Path]) -> Path:
    if path is None:
        reason = f"Caffe model zoo not found at {ZOO} (no *.prototxt there)"
        if IN_CI:
            pytest.fail(reason + "; it must be present when CI=true")
        pytest.skip(reason)
    return path


# --------------------------------------------------------------------------
# Real models parse strictly
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", _zoo_files(), ids=lambda p: p.name if p is not None else "zoo-missing"
)
def test_zoo_prototxt_parses_strictly(path: Optional[Path]) -> None:
    path = _require_zoo(path)
    net = schema.NetParameter()
    # Strict: no allow_unknown_field / allow_unknown_extension.
    text_format.Parse(path.read_text(encoding="utf-8"), net)
    assert len(net.layer) + len(net.layers) > 0


def _parse_zoo(name: str):
    path = ZOO / name
    if not path.is_file():
        _require_zoo(None)
    net = schema.NetParameter()
    text_format.Parse(path.read_text(encoding="utf-8"), net)
    return net


def test_zoo_v1_caffenet_uses_layers_field() -> None:
    net = _parse_zoo("BVLC__caffe__models_bvlc_reference_caffenet_deploy__at_a66100181.prototxt")
    assert len(net.layer) == 0 and len(net.layers) > 0
    types = {layer.type for layer in net.layers}
    assert schema.V1LayerParameter.CONVOLUTION in types
    assert list(net.input_dim)[:2] == [10, 3]


def test_zoo_fork_fields_have_values() -> None:
    segnet = _parse_zoo(
        "alexgkendall__SegNet-Tutorial__Example_Models_segnet_basic_camvid.prototxt"
    )
    bn = [lay for lay in segnet.layer if lay.type == "BN"][0]
    assert bn.bn_param.bn_mode == schema.message_class("BNParameter").INFERENCE
    ups = [lay for lay in segnet.layer if lay.type == "Upsample"]
    assert all(lay.upsample_param.scale == 2 for lay in ups)
    assert any(lay.upsample_param.pad_out_h for lay in ups)

    psp = _parse_zoo("hszhao__PSPNet__evaluation_prototxt_pspnet50_ADE20K_473.prototxt")
    bn = [lay for lay in psp.layer if lay.type == "BN"][0]
    assert bn.bn_param.frozen is True
    assert bn.bn_param.HasField("slope_filler") and bn.bn_param.HasField("bias_filler")
    interp = [lay for lay in psp.layer if lay.type == "Interp"]
    assert interp and any(lay.interp_param.HasField("height") for lay in interp)

    shuffle = _parse_zoo("farmingyard__ShuffleNet__shufflenet_1x_g3_deploy.prototxt")
    assert {
        lay.shuffle_channel_param.group for lay in shuffle.layer if lay.type == "ShuffleChannel"
    } == {3}

    hed = _parse_zoo("s9xie__hed__examples_hed_deploy.prototxt")  # single-quoted strings
    assert hed.layer[0].name and "'" not in hed.layer[0].name


# --------------------------------------------------------------------------
# Field numbers, labels, types, defaults (facts from BVLC caffe.proto)
# --------------------------------------------------------------------------


def _field(message: str, name: str) -> FieldDescriptor:
    return schema.message_class(message).DESCRIPTOR.fields_by_name[name]


def _label(field: FieldDescriptor) -> str:
    # FieldDescriptor.label is gone in newer protobuf; is_repeated/is_required
    # are absent in older ones.
    if hasattr(field, "is_repeated"):
        if field.is_repeated:
            return "repeated"
        return "required" if field.is_required else "optional"
    return {field.LABEL_REPEATED: "repeated", field.LABEL_REQUIRED: "required"}.get(
        field.label, "optional"
    )


@pytest.mark.parametrize(
    "message,name,number",
    [
        ("NetParameter", "name", 1),
        ("NetParameter", "layers", 2),
        ("NetParameter", "input", 3),
        ("NetParameter", "input_dim", 4),
        ("NetParameter", "state", 6),
        ("NetParameter", "input_shape", 8),
        ("NetParameter", "layer", 100),
        ("LayerParameter", "name", 1),
        ("LayerParameter", "type", 2),
        ("LayerParameter", "bottom", 3),
        ("LayerParameter", "top", 4),
        ("LayerParameter", "loss_weight", 5),
        ("LayerParameter", "param", 6),
        ("LayerParameter", "blobs", 7),
        ("LayerParameter", "include", 8),
        ("LayerParameter", "exclude", 9),
        ("LayerParameter", "phase", 10),
        ("LayerParameter", "propagate_down", 11),
        ("LayerParameter", "transform_param", 100),
        ("LayerParameter", "loss_param", 101),
        ("LayerParameter", "convolution_param", 106),
        ("LayerParameter", "inner_product_param", 117),
        ("LayerParameter", "lrn_param", 118),
        ("LayerParameter", "pooling_param", 121),
        ("LayerParameter", "relu_param", 123),
        ("LayerParameter", "prelu_param", 131),
        ("LayerParameter", "embed_param", 137),
        ("LayerParameter", "batch_norm_param", 139),
        ("LayerParameter", "scale_param", 142),
        ("LayerParameter", "input_param", 143),
        ("LayerParameter", "crop_param", 144),
        ("LayerParameter", "recurrent_param", 146),
        ("LayerParameter", "swish_param", 147),
        ("LayerParameter", "clip_param", 148),
        ("V1LayerParameter", "bottom", 2),
        ("V1LayerParameter", "type", 5),
        ("V1LayerParameter", "blobs", 6),
        ("V1LayerParameter", "blobs_lr", 7),
        ("V1LayerParameter", "convolution_param", 10),
        ("V1LayerParameter", "include", 32),
        ("V1LayerParameter", "param", 1001),
        ("V0LayerParameter", "hdf5_output_param", 1001),
        ("BlobProto", "num", 1),
        ("BlobProto", "data", 5),
        ("BlobProto", "diff", 6),
        ("BlobProto", "shape", 7),
        ("BlobProto", "double_data", 8),
        ("BlobProto", "double_diff", 9),
        ("BlobShape", "dim", 1),
        ("ConvolutionParameter", "stride", 6),
        ("ConvolutionParameter", "dilation", 18),
        ("ConvolutionParameter", "group", 5),
        ("PoolingParameter", "pad", 4),
        ("PoolingParameter", "round_mode", 13),
        ("ConcatParameter", "axis", 2),
        ("ConcatParameter", "concat_dim", 1),
        ("InfogainLossParameter", "axis", 2),
        # fork extensions (see schema docstring)
        ("LayerParameter", "bn_param", 45),
        ("LayerParameter", "upsample_param", 149),
        ("LayerParameter", "interp_param", 163),
        ("LayerParameter", "shuffle_channel_param", 164),
        ("LayerParameter", "permute_param", 202),
        ("BNParameter", "bn_mode", 3),
        ("UpsampleParameter", "pad_out_h", 4),
        ("InterpParameter", "zoom_factor", 3),
    ],
)
def test_field_numbers(message: str, name: str, number: int) -> None:
    assert _field(message, name).number == number


def test_packed_and_labels() -> None:
    for name in ("data", "diff", "double_data", "double_diff"):
        field = _field("BlobProto", name)
        assert _label(field) == "repeated"
        assert field.GetOptions().packed is True
    assert _field("BlobProto", "data").type == FieldDescriptor.TYPE_FLOAT
    assert _field("BlobProto", "double_data").type == FieldDescriptor.TYPE_DOUBLE
    assert _field("BlobShape", "dim").type == FieldDescriptor.TYPE_INT64
    assert _field("BlobShape", "dim").GetOptions().packed is True
    # ordinary repeated scalars stay unpacked in proto2
    assert not _field("ConvolutionParameter", "pad").GetOptions().packed
    assert _label(_field("ConvolutionParameter", "kernel_size")) == "repeated"
    assert _label(_field("PoolingParameter", "kernel_size")) == "optional"
    assert _field("ConvolutionParameter", "num_output").type == FieldDescriptor.TYPE_UINT32
    assert _field("BlobProto", "num").type == FieldDescriptor.TYPE_INT32
    assert _label(_field("ClipParameter", "min")) == "required"
    assert _label(_field("NetParameter", "layer")) == "repeated"


def test_packed_wire_format() -> None:
    blob = schema.BlobProto()
    blob.data.extend([1.0, 2.0])
    # field 5, wire type 2 (length-delimited) -> tag 0x2a, then 8 bytes
    assert blob.SerializeToString() == bytes.fromhex("2a080000803f00000040")
    conv = schema.message_class("ConvolutionParameter")()
    conv.pad.extend([1, 2])
    # unpacked: field 3 varint twice
    assert conv.SerializeToString() == bytes.fromhex("18011802")


def test_enums() -> None:
    v1 = schema.V1LayerParameter
    assert v1.CONVOLUTION == 4
    assert v1.NONE == 0 and v1.POOLING == 17 and v1.RELU == 18
    assert v1.INNER_PRODUCT == 14 and v1.SOFTMAX == 20 and v1.DECONVOLUTION == 39
    assert v1.ABSVAL == 35 and v1.THRESHOLD == 31 and v1.SPLIT == 22
    phase = schema.POOL.FindEnumTypeByName(f"{schema.PACKAGE}.Phase")
    assert {v.name: v.number for v in phase.values} == {"TRAIN": 0, "TEST": 1}
    pooling = schema.message_class("PoolingParameter")
    assert (pooling.MAX, pooling.AVE, pooling.STOCHASTIC) == (0, 1, 2)
    reduction = schema.message_class("ReductionParameter")
    assert (reduction.SUM, reduction.MEAN) == (1, 4)
    hinge = schema.message_class("HingeLossParameter")
    assert (hinge.L1, hinge.L2) == (1, 2)
    eltwise = schema.message_class("EltwiseParameter")
    assert (eltwise.PROD, eltwise.SUM, eltwise.MAX) == (0, 1, 2)


def test_proto2_defaults_and_presence() -> None:
    conv = schema.message_class("ConvolutionParameter")()
    assert conv.bias_term is True and conv.group == 1 and conv.axis == 1
    assert not conv.HasField("bias_term")
    conv.bias_term = False
    assert conv.HasField("bias_term")

    pool = schema.message_class("PoolingParameter")()
    assert pool.pool == pool.MAX and pool.stride == 1 and pool.round_mode == pool.CEIL

    lrn = schema.message_class("LRNParameter")()
    assert (lrn.local_size, lrn.alpha, lrn.beta, lrn.k) == (5, 1.0, 0.75, 1.0)

    bn = schema.message_class("BatchNormParameter")()
    assert math.isclose(bn.eps, 1e-5, rel_tol=1e-6)
    assert math.isclose(bn.moving_average_fraction, 0.999, rel_tol=1e-6)

    filler = schema.FillerParameter()
    assert filler.type == "constant" and filler.std == 1.0 and filler.sparse == -1
    assert schema.message_class("DropoutParameter")().dropout_ratio == 0.5
    assert schema.NetState().phase == 1  # TEST
    assert schema.ParamSpec().lr_mult == 1.0
    assert schema.message_class("EltwiseParameter")().operation == 1  # SUM
    assert schema.message_class("FlattenParameter")().end_axis == -1
    assert schema.message_class("CropParameter")().axis == 2
    assert schema.message_class("ReshapeParameter")().num_axes == -1
    assert schema.message_class("ShuffleChannelParameter")().group == 1
    assert schema.message_class("UpsampleParameter")().scale == 2
    assert schema.message_class("InterpParameter")().zoom_factor == 1


def test_private_pool_and_package() -> None:
    desc = schema.NetParameter.DESCRIPTOR
    assert desc.full_name == "graphconv_caffe.NetParameter"
    assert desc.file.pool is schema.POOL
    assert schema.POOL is not descriptor_pool.Default()
    assert schema.FILE_DESCRIPTOR_PROTO.syntax == "proto2"
    with pytest.raises(KeyError):
        descriptor_pool.Default().FindMessageTypeByName("graphconv_caffe.NetParameter")


def test_message_class_lookup() -> None:
    conv_cls = schema.message_class("ConvolutionParameter")
    assert conv_cls.DESCRIPTOR.name == "ConvolutionParameter"
    assert schema.message_class("graphconv_caffe.LayerParameter") is schema.LayerParameter
    for name in (
        "NetParameter",
        "LayerParameter",
        "V1LayerParameter",
        "V0LayerParameter",
        "BlobProto",
        "BlobShape",
        "BlobProtoVector",
        "FillerParameter",
        "TransformationParameter",
        "LossParameter",
        "NetStateRule",
        "ParamSpec",
        "SPPParameter",
        "PReLUParameter",
        "WindowDataParameter",
        "SwishParameter",
        "ClipParameter",
        "BNParameter",
        "PermuteParameter",
    ):
        assert name in schema.message_names()
    with pytest.raises(KeyError):
        schema.message_class("NoSuchParameter")


def test_every_layer_param_field_resolves() -> None:
    layer = schema.LayerParameter.DESCRIPTOR
    numbers = [f.number for f in layer.fields]
    assert len(numbers) == len(set(numbers))
    for field in layer.fields:
        if field.name.endswith("_param"):
            assert field.message_type is not None
            assert schema.message_class(field.message_type.name).DESCRIPTOR is field.message_type


# --------------------------------------------------------------------------
# Binary round trip
# --------------------------------------------------------------------------


def test_binary_round_trip() -> None:
    net = schema.NetParameter(name="tiny")
    net.input.append("data")
    net.input_shape.add().dim.extend([1, 3, 4, 4])
    layer = net.layer.add(name="conv1", type="Convolution")
    layer.bottom.append("data")
    layer.top.append("conv1")
    layer.convolution_param.num_output = 2
    layer.convolution_param.kernel_size.append(3)
    layer.convolution_param.pad.append(1)
    layer.convolution_param.bias_term = False
    layer.param.add(lr_mult=1.0, decay_mult=0.0)
    layer.include.add(
        phase=schema.POOL.FindEnumTypeByName("graphconv_caffe.Phase").values_by_name["TEST"].number
    )
    blob = layer.blobs.add()
    blob.shape.dim.extend([2, 3, 3, 3])
    values = [float(i) * 0.25 - 3.0 for i in range(2 * 3 * 3 * 3)]
    blob.data.extend(values)
    blob.double_data.extend([1.5, -2.25])

    payload = net.SerializeToString()
    back = schema.NetParameter()
    back.ParseFromString(payload)

    assert back == net
    assert back.SerializeToString() == payload
    conv = back.layer[0]
    assert conv.name == "conv1" and list(conv.bottom) == ["data"]
    assert conv.convolution_param.HasField("bias_term") and not conv.convolution_param.bias_term
    assert not conv.convolution_param.HasField("group") and conv.convolution_param.group == 1
    assert list(conv.blobs[0].shape.dim) == [2, 3, 3, 3]
    assert list(conv.blobs[0].data) == values  # exactly representable in float32
    assert list(conv.blobs[0].double_data) == [1.5, -2.25]
    assert conv.include[0].phase == 1

    # The same bytes decode as text and back.
    text = text_format.MessageToString(back)
    again = schema.NetParameter()
    text_format.Parse(text, again)
    assert again == net
