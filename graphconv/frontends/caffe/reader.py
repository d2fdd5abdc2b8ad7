"""Read a Caffe net (prototxt, optional caffemodel) into a Graph.

Parsing is schema-driven (protobuf text format against our caffe.proto schema). The reader selects
TEST-phase layers, renames in-place layers to single-assignment tensors (the last write keeps the
Caffe blob name, earlier versions become ``blob#1``, ``blob#2``, ...), takes input shapes from
``Input`` layers or net-level ``input``/``input_dim``/``input_shape`` (overridable), and fills
parameters from the weights file or, without one, from the prototxt's fillers with a seed.
"""

from __future__ import annotations

import math
import os
import re
from typing import Mapping, Sequence

import numpy as np
from google.protobuf import text_format
from google.protobuf.message import DecodeError

from ...builder import GraphBuilder
from ...errors import GraphError, ParseError, listing
from ...ir import Graph, Layer, seeded_rng
from ...layers.tensor import InputAttrs
from ...registry import layer_type
from . import schema, textparse
from .fillers import fill
from .forks import fork_named, pooling_hint, reset_fork, use_fork
from .rules import DROPPED, RULES, V1_TYPES
from .rules.python import python_known, python_note

TEST = 1  # caffe.Phase


_NO_FIELD = re.compile(r'Message type "graphconv_caffe\.(\w+)" has no field named "(.*)"\.?$')


def _in_prototxt_words(detail: str) -> str:
    """protobuf's 'Message type "graphconv_caffe.ConvolutionParameter" has no field named "foo"'
    as the prototxt says it: "convolution_param has no field 'foo'"."""
    m = _NO_FIELD.match(detail)
    if not m:
        return detail
    kind, field = m.groups()
    where = {"NetParameter": "the net", "LayerParameter": "a layer"}.get(kind)
    if where is None:
        names = [
            f.name
            for message in (schema.LayerParameter, schema.NetParameter)
            for f in message.DESCRIPTOR.fields
            if f.message_type is not None and f.message_type.name == kind
        ]
        where = names[0] if names else kind
    return f"{where} has no field '{field}'"


def parse_prototxt(text: str, path: str):
    net = schema.NetParameter()
    try:
        textparse.parse(text, net)  # the fast path; text_format for anything it declines
        return net
    except Exception:  # noqa: BLE001 - any doubt: text_format decides, with its messages
        net = schema.NetParameter()
    try:
        text_format.Parse(text, net)
    except text_format.ParseError as e:
        msg = str(e)
        # protobuf prefixes "line:col : "; keep the message only
        detail = msg.split(" : ", 1)[1] if " : " in msg else msg
        raise ParseError(
            _in_prototxt_words(detail), file=path, line=e.GetLine(), col=e.GetColumn()
        ) from None
    return net


_TOKENS = re.compile(
    r"""("(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*')|#[^\n]*|([{}<>])|(\n)"""
    r"|\b(layers?)\b"
)


def block_lines(text: str) -> dict[str, list[int]]:
    """Line numbers of the top-level ``layer``/``layers`` blocks, in order (1-based)."""
    found: dict[str, list[int]] = {"layer": [], "layers": []}
    depth, line = 0, 1
    for m in _TOKENS.finditer(text):
        string, brace, newline, word = m.groups()
        if newline:
            line += 1
        elif brace:
            depth += 1 if brace in "{<" else -1
        elif word and depth == 0:
            found[word].append(line)
        elif string:
            line += string.count("\n")
    return found


def _included(lp, phase: int = TEST) -> bool:
    """Caffe's NetStateRule check for the phase only (stages and levels are not modelled)."""

    def matches(rule) -> bool:
        return not rule.HasField("phase") or rule.phase == phase

    if any(matches(r) for r in lp.exclude):
        return False
    return not lp.include or any(matches(r) for r in lp.include)


def _shape_of(blob_shape) -> tuple[int, ...]:
    return tuple(int(d) for d in blob_shape.dim)


def _net_inputs(net, path: str) -> list[tuple[str, tuple[int, ...] | None]]:
    names = list(net.input)
    if net.input_shape:
        if len(net.input_shape) != len(names):
            raise ParseError(
                f"{len(names)} net inputs but {len(net.input_shape)} input_shape entries", file=path
            )
        return [(nm, _shape_of(s)) for nm, s in zip(names, net.input_shape)]
    if net.input_dim:
        if len(net.input_dim) != 4 * len(names):
            raise ParseError(
                f"{len(names)} net inputs need {4 * len(names)} input_dim values, "
                f"got {len(net.input_dim)}",
                file=path,
            )
        dims = list(net.input_dim)
        return [(nm, tuple(dims[4 * i : 4 * i + 4])) for i, nm in enumerate(names)]
    return [(nm, None) for nm in names]


def _blob_array(blob) -> np.ndarray:
    if blob.HasField("shape"):
        shape = _shape_of(blob.shape)
    else:
        shape = tuple(
            getattr(blob, k) for k in ("num", "channels", "height", "width") if blob.HasField(k)
        )
    data = np.asarray(blob.data if len(blob.data) else blob.double_data, dtype=np.float32)
    if math.prod(shape) != data.size:
        raise ValueError(
            f"blob shape {shape} holds {math.prod(shape)} values, data has {data.size}"
        )
    return data.reshape(shape)


def read_caffemodel(path: str) -> dict[str, list[np.ndarray]]:
    """Blobs of every layer in a binary NetParameter (V2 ``layer`` or V1 ``layers``)."""
    net = schema.NetParameter()
    try:
        with open(path, "rb") as f:
            net.ParseFromString(f.read())
    except (OSError, DecodeError) as e:
        raise ParseError(f"cannot read weights: {e}", file=path) from None
    blobs: dict[str, list[np.ndarray]] = {}
    for lp in list(net.layer) + list(net.layers):
        if lp.blobs:
            name, k = lp.name, 1
            while name in blobs:  # duplicate Caffe names: the same renaming as the prototxt's
                k += 1
                name = f"{lp.name}#{k}"
            try:
                blobs[name] = [_blob_array(b) for b in lp.blobs]
            except ValueError as e:
                raise ParseError(f"layer '{lp.name}': {e}", file=path) from None
    return blobs


def _fit_blob(array: np.ndarray, shape: tuple[int, ...]) -> np.ndarray | None:
    """Accept a blob whose shape equals ``shape`` up to leading/trailing legacy unit axes."""
    if array.shape == shape:
        return array
    squeeze = lambda s: tuple(d for d in s if d != 1)  # noqa: E731
    if array.size == math.prod(shape) and squeeze(array.shape) == squeeze(shape):
        return array.reshape(shape)
    return None


# Caffe layer types that produce data (no bottoms) rather than compute: their tops become graph
# inputs when a shape is known (--input-shape, or DummyData's own shape) and are dropped otherwise.
DATA_SOURCES = {
    "Data",
    "ImageData",
    "HDF5Data",
    "MemoryData",
    "WindowData",
    "DummyData",
    "AnnotatedData",
    "VideoData",
    "Python",
}


def _source_shapes(lp, kind: str) -> list[tuple[int, ...] | None]:
    if kind == "DummyData" and lp.dummy_data_param.shape:
        shapes = [_shape_of(s) for s in lp.dummy_data_param.shape]
        return (shapes * len(lp.top))[: len(lp.top)] if len(shapes) == 1 else shapes
    if kind == "MemoryData":
        p = lp.memory_data_param
        return [(p.batch_size, p.channels, p.height, p.width)] + [None] * (len(lp.top) - 1)
    return [None] * len(lp.top)


def load_caffe(
    path: str,
    weights: str | None = None,
    input_shapes: Mapping[str, Sequence[int]] | None = None,
    seed: int = 0,
    caffe_fork: str | None = None,
) -> Graph:
    """Read a Caffe prototxt (and optional caffemodel) into a Graph. See module docstring.
    ``caffe_fork`` names the Caffe fork whose layer semantics apply (see :mod:`.forks`)."""
    fork = fork_named(caffe_fork)
    token = use_fork(fork)
    try:
        return _load_caffe(path, weights, input_shapes, seed, fork.name)
    finally:
        reset_fork(token)


def _load_caffe(path, weights, input_shapes, seed, fork: str) -> Graph:
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise ParseError(f"cannot read: {e.strerror or e}", file=path) from None
    text, decoding_notes = textparse.decode_prototxt(data, os.path.basename(path))
    net = parse_prototxt(text, path)
    base = os.path.basename(path)
    overrides = {k: tuple(int(d) for d in v) for k, v in (input_shapes or {}).items()}
    blobs = read_caffemodel(weights) if weights else None
    entries = _entries(net, block_lines(text), base, path)
    renamed = _layer_names(entries)
    declared = _net_inputs(net, path)
    plan, notes = _plan(entries, declared, overrides)
    notes = decoding_notes + notes
    tensors = _TensorNames(declared, plan)
    builder = GraphBuilder(net.name or os.path.splitext(base)[0], seed)
    for name, shape in declared:
        _input_layer(builder, tensors, name, overrides.get(name, shape), base, name)
    unsupported = [
        (renamed[id(lp)], _kind_label(lp, kind), src)
        for lp, kind, src, action in plan
        if action[0] == "layer"
        and kind != "Input"
        and (kind not in RULES or (kind == "Python" and not python_known(lp)))
    ]
    if unsupported:
        listed = listing(f"'{n}' ({k}, {s})" for n, k, s in unsupported)
        raise GraphError(
            f"{len(unsupported)} unsupported layer(s): {listed}; a plugin can define them "
            "(graphconv --plugin FILE.py, see graphconv.plugins)",
            source=base,
        )
    try:
        used_blobs = _translate(builder, tensors, plan, renamed, overrides, blobs, seed)
    except GraphError as e:
        hint = pooling_hint(builder.layers, builder.specs) if fork == "bvlc" else ""
        if not hint:
            raise
        raise GraphError(e.detail + hint, layer=e.layer, type=e.type, source=e.source) from None
    if blobs is not None:
        extra = sorted(set(blobs) - used_blobs)
        if extra:
            raise ParseError(
                f"weights for layer(s) not in the prototxt (or without parameters "
                f"there): {listing(extra)}",
                file=weights,
            )
    outputs = builder.unconsumed(sources=False)
    if not outputs:
        raise ParseError("the net has no layers that produce an output", file=path)
    return builder.build(outputs, notes)


def _translate(builder, tensors, plan, renamed, overrides, blobs, seed) -> set[str]:
    """Append every planned layer; the names of the layers that took weights blobs."""
    used_blobs: set[str] = set()
    for lp, kind, src, action in plan:
        lname = renamed[id(lp)]
        if action[0] == "input":
            _, top, shape = action
            _input_layer(
                builder,
                tensors,
                top,
                overrides.get(top, shape),
                src,
                lname if len(lp.top) == 1 else f"{lname}/{top}",
            )
        elif kind == "Input":
            shapes = list(lp.input_param.shape)
            for j, top in enumerate(lp.top):
                shape = _shape_of(shapes[j if len(shapes) > 1 else 0]) if shapes else None
                _input_layer(
                    builder,
                    tensors,
                    top,
                    overrides.get(top, shape),
                    src,
                    lname if len(lp.top) == 1 else f"{lname}/{top}",
                )
        elif _add_layer(builder, tensors, lp, kind, src, lname, blobs, seed):
            used_blobs.add(lname)
    return used_blobs


def _kind_label(lp, kind: str) -> str:
    """A layer's type for messages; a Python layer by its module and class."""
    if kind != "Python":
        return kind
    return f"Python {lp.python_param.module}.{lp.python_param.layer}"


def _entries(net, lines: dict[str, list[int]], base: str, path: str) -> list[tuple]:
    """The TEST-phase layers as ``(LayerParameter, type string, source)``, V1 types mapped."""
    if net.layer and net.layers:
        raise ParseError("mixes V2 'layer' and V1 'layers' blocks", file=path)
    v1 = bool(net.layers)
    entries = []
    block_starts = lines["layers" if v1 else "layer"]
    for i, lp in enumerate(net.layers if v1 else net.layer):
        line = block_starts[i] if i < len(block_starts) else None
        src = f"{base}:{line}" if line else base
        if v1:
            enum = schema.V1LayerParameter.LayerType.Name(lp.type) if lp.type else "NONE"
            kind = V1_TYPES.get(enum, enum)
        else:
            kind = lp.type
        if _included(lp):
            entries.append((lp, kind, src))
    return entries


def _layer_names(entries: list[tuple]) -> dict[int, str]:
    """Unique layer names by ``id(LayerParameter)``.

    Caffe does not require unique layer names (HED names five layers 'crop'); the IR does.
    Later duplicates become 'name#2', 'name#3', ...; weights still match by the Caffe name in
    order of appearance.
    """
    caffe_names: dict[str, int] = {}
    renamed: dict[int, str] = {}
    for lp, _, _ in entries:
        k = caffe_names[lp.name] = caffe_names.get(lp.name, 0) + 1
        renamed[id(lp)] = lp.name if k == 1 else f"{lp.name}#{k}"
    return renamed


def _plan(entries: list[tuple], declared, overrides) -> tuple[list[tuple], list[str]]:
    """What becomes of each layer: ``(lp, kind, src, action)`` with action ``("input", top,
    shape)`` or ``("layer",)``, and the notes on what is dropped.

    Dropped are data sources whose tops get no shape, losses/accuracy, and whatever only feeds
    dropped layers' bottoms from dropped tops.
    """
    notes: list[str] = []
    dropped_blob: dict[str, str] = {}  # blob -> "layer (Type)" that made it unusable
    plan = []
    known: set[str] = {name for name, _ in declared}
    for lp, kind, src in entries:
        if kind in DATA_SOURCES and not lp.bottom:
            shapes = _source_shapes(lp, kind)
            for top, shape in zip(lp.top, shapes):
                shape = overrides.get(top, shape)
                if shape is None:
                    dropped_blob[top] = f"'{lp.name}' ({kind})"
                else:
                    plan.append((lp, kind, src, ("input", top, shape)))
                    known.add(top)
                    dropped_blob.pop(top, None)
            notes.append(
                f"data layer '{lp.name}' ({kind}) replaced by graph input(s) "
                + ", ".join(t for t in lp.top if t in known)
                if any(t in known for t in lp.top)
                else f"dropped data layer '{lp.name}' ({kind}): no input shape given"
            )
            continue
        if kind in DROPPED:
            notes.append(f"dropped layer '{lp.name}' ({kind}): not part of inference")
            for top in lp.top:
                dropped_blob[top] = f"'{lp.name}' ({kind})"
            continue
        gone = [b for b in lp.bottom if b in dropped_blob and b not in known]
        if gone:
            raise GraphError(
                f"bottom '{gone[0]}' comes from dropped layer {dropped_blob[gone[0]]};"
                f" give its shape with --input-shape {gone[0]}=N,C,H,W",
                layer=lp.name,
                type=kind,
                source=src,
            )
        plan.append((lp, kind, src, ("layer",)))
        known.update(lp.top)
        note = python_note(lp) if kind == "Python" else None
        if note:
            notes.append(note)
    return plan, notes


class _TensorNames:
    """Single-assignment tensor names for Caffe blobs: the last write keeps the blob's name,
    earlier versions become ``blob#1``, ``blob#2``, ..."""

    def __init__(self, declared, plan: list[tuple]):
        self.writes: dict[str, int] = {}
        for name, _ in declared:
            self.writes[name] = self.writes.get(name, 0) + 1
        for lp, _, _, action in plan:
            for top in [action[1]] if action[0] == "input" else lp.top:
                self.writes[top] = self.writes.get(top, 0) + 1
        self.seen: dict[str, int] = {}
        self.current: dict[str, str] = {}  # blob -> the tensor holding its latest value

    def define(self, blob: str) -> str:
        """The tensor name of the next write to ``blob``."""
        self.seen[blob] = self.seen.get(blob, 0) + 1
        name = blob if self.seen[blob] == self.writes[blob] else f"{blob}#{self.seen[blob]}"
        self.current[blob] = name
        return name


def _input_layer(
    builder: GraphBuilder, tensors: _TensorNames, name: str, shape, src: str, layer_name: str
) -> None:
    """Append an Input layer defining (the next version of) blob ``name``."""
    if shape is None:
        raise ParseError(
            f"input '{name}' has no shape; give one with --input-shape {name}=N,C,H,W", file=src
        )
    try:
        attrs = InputAttrs(shape=shape)
    except ValueError as e:
        raise GraphError(str(e), layer=layer_name, type="Input", source=src) from None
    builder.append(Layer(layer_name, "Input", (), (tensors.define(name),), attrs, source=src))


def _add_layer(
    builder: GraphBuilder,
    tensors: _TensorNames,
    lp,
    kind: str,
    src: str,
    lname: str,
    blobs,
    seed: int,
) -> bool:
    """Translate one Caffe layer by its rule and append it; whether it took weights blobs."""
    missing = [b for b in lp.bottom if b not in tensors.current]
    if missing:
        raise GraphError(
            f"bottom '{missing[0]}' is not produced by any earlier layer",
            layer=lname,
            type=kind,
            source=src,
        )
    for i, top in enumerate(lp.top):  # Caffe's rule (net.cpp AppendTop): one producer per blob
        in_place = i < len(lp.bottom) and lp.bottom[i] == top
        if not in_place and (top in tensors.current or top in lp.top[:i]):
            raise GraphError(
                f"top blob '{top}' produced by multiple sources (only an in-place layer, whose "
                "bottom at the same position has the same name, may write an existing blob)",
                layer=lname,
                type=kind,
                source=src,
            )
    ins = [tensors.current[b] for b in lp.bottom]
    in_specs = [builder.spec(t) for t in ins]
    stored = blobs.get(lname) if blobs is not None else None
    if stored and not lp.blobs:
        # let rules see the stored blobs' shapes (forks told apart by their blob count)
        hinted = type(lp)()
        hinted.CopyFrom(lp)
        for array in stored:
            hinted.blobs.add().shape.dim.extend(array.shape)
        lp = hinted
    try:
        spec = RULES[kind](lp, in_specs)
        lt = layer_type(spec.type)
        shapes = dict(lt.param_shapes(spec.attrs, in_specs))
        outs = lt.infer(spec.attrs, in_specs)
    except ValueError as e:
        where = ", ".join(
            f"'{t}' {s} from layer '{builder.producer(t)}'" for t, s in zip(ins, in_specs)
        )
        raise GraphError(f"{e} (inputs {where})", layer=lname, type=kind, source=src) from None
    builder.charge(lambda m: GraphError(m, layer=lname, type=kind, source=src), shapes, outs)
    took_blobs = blobs is not None and bool(spec.blobs)
    if took_blobs:
        params = _weights_params(lname, kind, spec, shapes, stored, src)
    else:
        params = _filler_params(lname, kind, spec, in_specs, seed, src)
    outs = tuple(tensors.define(t) for t in lp.top)
    builder.append(Layer(lname, spec.type, tuple(ins), outs, spec.attrs, params, source=src))
    return took_blobs


def _weights_params(name: str, kind: str, spec, shapes: dict, got, src: str) -> dict:
    keys = [k for k, _ in spec.blobs]
    if got is None:
        raise GraphError("has no blobs in the weights file", layer=name, type=kind, source=src)
    if len(got) != len(keys):
        raise GraphError(
            f"weights file has {len(got)} blobs, expected {len(keys)} ({', '.join(keys)})",
            layer=name,
            type=kind,
            source=src,
        )
    raw = {}
    for key, array in zip(keys, got):
        want = tuple(spec.blob_shapes.get(key, shapes.get(key, ())))
        fitted = _fit_blob(array, want)
        if fitted is None:
            raise GraphError(
                f"weights blob '{key}' has shape {array.shape}, expected {want}",
                layer=name,
                type=kind,
                source=src,
            )
        raw[key] = fitted
    if spec.finish is None:
        return raw
    try:
        return spec.finish(raw)
    except ValueError as e:
        raise GraphError(str(e), layer=name, type=kind, source=src) from None


def _filler_params(name: str, kind: str, spec, in_specs, seed: int, src: str) -> dict:
    lt = layer_type(spec.type)
    params = lt.init_params(spec.attrs, in_specs, seeded_rng(seed, name))
    for key, filler in spec.blobs:
        if filler is None or key not in params:
            continue
        shape = params[key].shape
        try:
            params[key] = fill(
                filler,
                shape,
                seeded_rng(seed, name, key),
                fan_in=lt.fan_in(spec.attrs, shape),
                is_bias=(key == "bias"),
            )
        except ValueError as e:
            raise GraphError(str(e), layer=name, type=kind, source=src) from None
    return params
