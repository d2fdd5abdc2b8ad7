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
* The SSD layers' parameters, from weiliu89/caffe's ``ssd`` branch caffe.proto:
  ``prior_box_param = 203`` (PriorBoxParameter with its CodeType enum),
  ``detection_output_param = 204`` (DetectionOutputParameter, with
  NonMaximumSuppressionParameter and SaveOutputParameter; ``code_type`` is
  ``PriorBoxParameter.CodeType`` there, repeated here as the message's own enum
  with the same names and numbers; SaveOutputParameter with its ResizeParameter),
  ``norm_param = 206`` (NormalizeParameter).
"""

from __future__ import annotations

from typing import Any, Dict, List, Mapping

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.descriptor import Descriptor
from google.protobuf.message import Message

from . import schema_params  # noqa: F401  (registers part 2 of the table)
from .schema_table import _FILE_ENUMS, _MESSAGES, Enums, Field

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
