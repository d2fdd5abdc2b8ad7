"""ONNX ModelProto -> Graph (static shapes, float32).

One walk over the nodes in their (topological) order:

* a node whose inputs are all constants (initializers, ``Constant`` outputs, earlier folded
  values) is evaluated with ``onnx.reference.ReferenceEvaluator`` and its outputs become
  constants; ``Shape`` / ``Size`` of a tensor with a static shape are constants too, so shape
  arithmetic chains (Shape -> Gather -> Concat -> Reshape) fold away;
* every other node is translated by the rule registered for its op type (``@onnx_rule``) into
  graphconv layers with ONNX's semantics, constants becoming layer parameters or attributes.

Nodes that cannot be translated are collected and reported together in one error line, naming
each node, its op type and the reason. Nodes downstream of an untranslatable node are not
translated (their input shapes are unknown) but an unknown op type among them is still named.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import onnx
from onnx import helper, numpy_helper

from ...errors import GraphError, ParseError
from ...ir import Graph, GraphBuilder, unique_name
from ...layers.activation import DropoutAttrs, PowerAttrs, PReLUAttrs, ReLUAttrs, SoftmaxAttrs
from ...layers.conv import ConvAttrs, DeconvAttrs
from ...layers.elementwise import EltwiseAttrs
from ...layers.linear import InnerProductAttrs
from ...layers.norm import BatchNormAttrs, LRNAttrs
from ...layers.onnx_ops import (
    BinaryAttrs,
    BorderPadAttrs,
    ConstantBinaryAttrs,
    IdentityAttrs,
    ResizeAttrs,
    StridedSliceAttrs,
    UnaryAttrs,
)
from ...layers.pool import PoolAttrs, pooled_length
from ...layers.resample import MaxUnpoolAttrs, UpsampleAttrs
from ...layers.tensor import ConcatAttrs, PadAttrs, PermuteAttrs, ReshapeAttrs, SliceAttrs

# ops never folded even when their inputs are constant: their value is not a function of them
NONDETERMINISTIC = {"RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike",
                    "Multinomial", "Bernoulli"}
FLOAT_TYPES = {onnx.TensorProto.FLOAT, onnx.TensorProto.DOUBLE, onnx.TensorProto.FLOAT16}


class Unsupported(Exception):
    """A node (or one setting of it) has no exact translation; the message says why."""


Rule = Callable[["Translator", onnx.NodeProto], None]
RULES: dict[str, Rule] = {}


def onnx_rule(*op_types: str):
    """Register the translation of ONNX op types (default domain)."""
    def deco(fn: Rule) -> Rule:
        for op in op_types:
            if op in RULES:
                raise RuntimeError(f"ONNX rule for {op} registered twice")
            RULES[op] = fn
        return fn
    return deco


def supported_ops() -> list[str]:
    return sorted(RULES)


# ---- the translator ------------------------------------------------------------------------------

class Translator:
    """State of one translation: the builder, constant values, the opset, and the errors."""

    def __init__(self, model: onnx.ModelProto, input_shapes, constants, source: str | None):
        self.model, self.source = model, source
        self.opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")),
                          None)
        if self.opset is None:
            raise ParseError("the model imports no default-domain (ai.onnx) opset", file=source)
        g = model.graph
        self.builder = GraphBuilder(g.name or "graph")
        # every ONNX tensor and node name is reserved, so helper tensors never collide with one
        self.builder._taken.update(t for n in g.node for t in (*n.input, *n.output) if t)
        self.builder._taken.update(v.name for v in g.input)
        self.consts: dict[str, np.ndarray] = {}
        for init in g.initializer:
            self.consts[init.name] = numpy_helper.to_array(init)
        for name, value in (constants or {}).items():
            self.consts[name] = np.asarray(value)
        self.input_shapes = dict(input_shapes or {})
        self.used = {t for n in g.node for t in n.input} | {v.name for v in g.output}
        # ONNX tensors used other than as MaxUnpool's indices (those read graphconv masks)
        self.used_as_data = {t for n in g.node for i, t in enumerate(n.input)
                             if not (n.op_type == "MaxUnpool" and i == 1)} | {
            v.name for v in g.output}
        # MaxPool Indices tensor -> (graphconv per-plane mask tensor, pooled input plane shape)
        self.plane_masks: dict[str, tuple[str, tuple[int, ...]]] = {}
        self.errors: list[str] = []
        self.poisoned: set[str] = set()
        self.notes: list[str] = []
        self.node: onnx.NodeProto | None = None
        self.node_name = ""

    # -- helpers rules use -------------------------------------------------------------------
    def spec(self, tensor: str):
        return self.builder.specs[tensor]

    def shape(self, tensor: str) -> tuple[int, ...]:
        return self.builder.specs[tensor].shape

    def is_const(self, tensor: str) -> bool:
        return tensor in self.consts

    def const(self, tensor: str, what: str) -> np.ndarray:
        if tensor not in self.consts:
            raise Unsupported(f"{what} ('{tensor}') must be a constant")
        return self.consts[tensor]

    def optional_const(self, index: int, what: str) -> np.ndarray | None:
        ins = self.node.input
        if index >= len(ins) or not ins[index]:
            return None
        return self.const(ins[index], what)

    def data(self, index: int = 0) -> str:
        """The node's input ``index``, which must be a (non-constant) tensor of the graph."""
        t = self.node.input[index]
        if t in self.consts:
            raise Unsupported(f"input {index} ('{t}') is a constant where a computed tensor "
                              "is expected")
        return t

    def attr(self, name: str, default=None):
        for a in self.node.attribute:
            if a.name == name:
                return helper.get_attribute_value(a)
        return default

    def add(self, type: str, inputs, attrs, params=None, output: str | None = None,
            suffix: str = "") -> str:
        """Append a layer; ``output`` names its output (default: a fresh helper name)."""
        name = self.node_name + suffix
        outputs = [output] if output is not None else None
        return self.builder.add(type, inputs, attrs, params=params or {}, name=name,
                                outputs=outputs)

    def out(self, index: int = 0) -> str:
        return self.node.output[index]

    def single_output(self) -> None:
        """Refuse a node whose optional outputs (a mask, indices, ...) are used."""
        extra = [o for o in self.node.output[1:] if o in self.used]
        if extra:
            raise Unsupported(f"optional output(s) {', '.join(extra)} are not supported")

    # -- the walk ----------------------------------------------------------------------------
    def translate(self) -> Graph:
        g = self.model.graph
        for vi in g.input:
            if vi.name in self.consts:
                continue
            self._graph_input(vi)
        for i, node in enumerate(g.node):
            self.node = node
            self.node_name = node.name or f"{node.op_type}_{i}"  # the builder uniquifies
            self._node(node)
        outputs = []
        for vi in g.output:
            if vi.name in self.poisoned:
                continue
            if vi.name in self.consts:
                self.errors.append(f"graph output '{vi.name}' is a constant (graphconv graphs "
                                   "compute their outputs from inputs)")
                continue
            outputs.append(vi.name)
        if self.errors:
            n = len(self.errors)
            raise GraphError(f"{n} ONNX node{'s' if n > 1 else ''} cannot be translated: "
                             + "; ".join(self.errors), source=self.source)
        graph = self.builder.build(outputs)
        return graph.replace(notes=tuple(self.notes)) if self.notes else graph

    def _graph_input(self, vi: onnx.ValueInfoProto) -> None:
        tt = vi.type.tensor_type
        if not vi.type.HasField("tensor_type"):
            self.errors.append(f"graph input '{vi.name}' is not a tensor "
                               f"({vi.type.WhichOneof('value')}; tensors only)")
            self.poisoned.add(vi.name)
            return
        if tt.elem_type not in FLOAT_TYPES:
            dtype = onnx.helper.tensor_dtype_to_np_dtype(tt.elem_type) if tt.elem_type else None
            self.errors.append(f"graph input '{vi.name}' has element type {dtype} (float32 "
                               "only; bind it to a constant)")
            self.poisoned.add(vi.name)
            return
        if vi.name in self.input_shapes:
            shape = tuple(int(d) for d in self.input_shapes[vi.name])
        else:
            dims = tt.shape.dim
            if not tt.HasField("shape") or any(not d.HasField("dim_value") or d.dim_value < 1
                                                for d in dims):
                shown = [d.dim_value if d.HasField("dim_value") else (d.dim_param or "?")
                         for d in dims] if tt.HasField("shape") else "unknown"
                self.errors.append(f"graph input '{vi.name}' has no static shape ({shown}); "
                                   "give it with input_shapes / --input-shape")
                self.poisoned.add(vi.name)
                return
            shape = tuple(d.dim_value for d in dims)
        if not shape:
            self.errors.append(f"graph input '{vi.name}' is a scalar (rank 0; graphconv "
                               "tensors have at least one axis)")
            self.poisoned.add(vi.name)
            return
        self.builder.input(vi.name, shape)

    def _node(self, node: onnx.NodeProto) -> None:
        where = f"node '{node.name or node.output[0]}' ({node.op_type})"
        if node.domain not in ("", "ai.onnx"):
            self.errors.append(f"{where}: domain '{node.domain}' is not supported")
            self.poisoned.update(node.output)
            return
        ins = [t for t in node.input if t]
        if any(t in self.poisoned for t in ins):
            if node.op_type not in RULES:  # named even though its inputs are unknown
                self.errors.append(f"{where}: op type {node.op_type} is not supported")
            self.poisoned.update(node.output)
            return
        try:
            if node.op_type in ("Shape", "Size") and ins and ins[0] in self.builder.specs:
                self._static_shape(node)
            elif all(t in self.consts for t in ins) and node.op_type not in NONDETERMINISTIC:
                self._fold(node)
            elif node.op_type not in RULES:
                raise Unsupported(f"op type {node.op_type} is not supported")
            else:
                RULES[node.op_type](self, node)
        except Unsupported as e:
            self.errors.append(f"{where}: {e}")
            self.poisoned.update(node.output)
        except GraphError as e:
            self.errors.append(f"{where}: {e.detail}")
            self.poisoned.update(node.output)
        except ValueError as e:  # an attribute value the layer's attrs class rejects
            self.errors.append(f"{where}: {e}")
            self.poisoned.update(node.output)

    def _fold(self, node: onnx.NodeProto) -> None:
        from onnx.reference import ReferenceEvaluator

        feeds = {t: self.consts[t] for t in node.input if t}
        try:
            # a one-node model at the model's opset (a bare node would get the newest opset)
            inputs = [helper.make_tensor_value_info(
                t, helper.np_dtype_to_tensor_dtype(np.asarray(v).dtype), np.shape(v))
                for t, v in feeds.items()]
            outputs = [helper.make_empty_tensor_value_info(t) for t in node.output if t]
            one = helper.make_model(helper.make_graph([node], "fold", inputs, outputs),
                                    opset_imports=[helper.make_opsetid("", self.opset)])
            values = ReferenceEvaluator(one).run(None, feeds)
        except Exception as e:  # noqa: BLE001 - the reference raises many types
            raise Unsupported(f"constant folding failed: {type(e).__name__}: "
                              f"{str(e).splitlines()[0] if str(e) else ''}") from None
        for t, v in zip([t for t in node.output if t], values):
            self.consts[t] = np.asarray(v)

    def _static_shape(self, node: onnx.NodeProto) -> None:
        shape = self.shape(node.input[0])
        if node.op_type == "Size":
            self.consts[node.output[0]] = np.array(math.prod(shape), dtype=np.int64)
            return
        rank = len(shape)
        start, end = self.attr("start", 0), self.attr("end", rank)
        start = min(max(start + rank if start < 0 else start, 0), rank)
        end = min(max(end + rank if end < 0 else end, 0), rank)
        self.consts[node.output[0]] = np.array(shape[start:end], dtype=np.int64)


def load_onnx(model: str | os.PathLike | onnx.ModelProto,
              input_shapes: Mapping[str, Sequence[int]] | None = None,
              constants: Mapping[str, np.ndarray] | None = None) -> Graph:
    """Translate an ONNX model (a path or a ModelProto) into a Graph.

    ``input_shapes`` supplies or overrides graph input shapes by name. ``constants`` binds graph
    inputs to fixed values (e.g. a Reshape's shape or a Resize's scales that a model takes as
    inputs), which then fold like initializers.
    """
    source = None
    if not isinstance(model, onnx.ModelProto):
        source = os.fspath(model)
        try:
            model = onnx.load(source)
        except Exception as e:  # noqa: BLE001 - protobuf decode errors vary
            raise ParseError(f"not a readable ONNX model: {type(e).__name__}: "
                             f"{str(e).splitlines()[0] if str(e) else ''}", file=source) from None
    known = {vi.name for vi in model.graph.input}
    for name in (input_shapes or {}):
        if name not in known:
            raise ParseError(f"input_shapes names '{name}', which is not a graph input "
                             f"(inputs: {', '.join(sorted(known))})", file=source)
    return Translator(model, input_shapes, constants, source).translate()


# ---- shared helpers ------------------------------------------------------------------------------

def _axis(axis: int, rank: int) -> int:
    if not -rank <= axis < rank:
        raise Unsupported(f"axis {axis} is out of range for rank {rank}")
    return axis % rank


def _ints(value, n: int, default: int) -> tuple[int, ...]:
    if value is None or len(value) == 0:
        return (default,) * n
    return tuple(int(v) for v in value)


def _f32(array: np.ndarray) -> np.ndarray:
    return np.asarray(array, dtype=np.float32)


def _auto_pads(auto_pad: str, size: tuple[int, ...], kernel, stride, dilation):
    """Pads (begins, ends) of ONNX Conv/Pool auto_pad SAME_UPPER / SAME_LOWER / VALID."""
    begins, ends = [], []
    for h, k, s, d in zip(size, kernel, stride, dilation):
        if auto_pad == "VALID":
            begins.append(0)
            ends.append(0)
            continue
        out = -(-h // s)
        total = max(0, (out - 1) * s + d * (k - 1) + 1 - h)
        small = total // 2
        b = small if auto_pad == "SAME_UPPER" else total - small
        begins.append(b)
        ends.append(total - b)
    return tuple(begins), tuple(ends)


def _conv_geometry(t: Translator, x: str, kernel: tuple[int, ...]):
    n = len(kernel)
    stride = _ints(t.attr("strides"), n, 1)
    dilation = _ints(t.attr("dilations"), n, 1)
    auto_pad = t.attr("auto_pad", b"NOTSET")
    auto_pad = auto_pad.decode() if isinstance(auto_pad, bytes) else auto_pad
    pads = _ints(t.attr("pads"), 2 * n, 0)
    if auto_pad in ("SAME_UPPER", "SAME_LOWER", "VALID"):
        pb, pe = _auto_pads(auto_pad, t.shape(x)[2:], kernel, stride, dilation)
    elif auto_pad == "NOTSET":
        pb, pe = pads[:n], pads[n:]
    else:
        raise Unsupported(f"auto_pad '{auto_pad}' is not an ONNX value")
    return stride, dilation, pb, pe, auto_pad


# ---- convolution ---------------------------------------------------------------------------------

@onnx_rule("Conv")
def conv(t: Translator, node) -> None:
    x = t.data(0)
    w = _f32(t.const(node.input[1], "the weight"))
    b = t.optional_const(2, "the bias")
    kernel = tuple(t.attr("kernel_shape") or w.shape[2:])
    stride, dilation, pb, pe, _ = _conv_geometry(t, x, kernel)
    params = {"weight": w}
    if b is not None:
        params["bias"] = _f32(b)
    attrs = ConvAttrs(num_output=w.shape[0], kernel=kernel, stride=stride, dilation=dilation,
                      pads_begin=pb, pads_end=pe, group=t.attr("group", 1), bias=b is not None)
    t.add("Convolution", [x], attrs, params, output=t.out())


@onnx_rule("ConvTranspose")
def conv_transpose(t: Translator, node) -> None:
    x = t.data(0)
    w = _f32(t.const(node.input[1], "the weight"))
    b = t.optional_const(2, "the bias")
    group = t.attr("group", 1)
    kernel = tuple(t.attr("kernel_shape") or w.shape[2:])
    n = len(kernel)
    stride = _ints(t.attr("strides"), n, 1)
    dilation = _ints(t.attr("dilations"), n, 1)
    op = _ints(t.attr("output_padding"), n, 0)
    auto_pad = t.attr("auto_pad", b"NOTSET")
    auto_pad = auto_pad.decode() if isinstance(auto_pad, bytes) else auto_pad
    output_shape = t.attr("output_shape")
    size = t.shape(x)[2:]
    if output_shape is not None and len(output_shape):
        target = tuple(int(v) for v in output_shape)[-n:]
    elif auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        target = tuple(h * s for h, s in zip(size, stride))
    else:
        target = None
    if target is not None:
        pb, pe = [], []
        for h, k, s, d, o, want in zip(size, kernel, stride, dilation, op, target):
            total = s * (h - 1) + o + d * (k - 1) + 1 - want
            begin = total // 2 if auto_pad == "SAME_UPPER" else total - total // 2
            pb.append(begin)
            pe.append(total - begin)
    elif auto_pad in ("NOTSET", "VALID"):
        pads = _ints(t.attr("pads"), 2 * n, 0) if auto_pad == "NOTSET" else (0,) * (2 * n)
        pb, pe = pads[:n], pads[n:]
    else:
        raise Unsupported(f"auto_pad '{auto_pad}' is not an ONNX value")
    if any(p < 0 for p in pb):
        raise Unsupported(f"negative begin pads {tuple(pb)} (output before the first sample)")
    # a negative end pad extends the output like output_padding does (zeros plus the bias)
    op = tuple(o - min(e, 0) for o, e in zip(op, pe))
    pe = tuple(max(e, 0) for e in pe)
    params = {"weight": w}
    if b is not None:
        params["bias"] = _f32(b)
    attrs = DeconvAttrs(num_output=w.shape[1] * group, kernel=kernel, stride=stride,
                        dilation=dilation, pads_begin=tuple(pb), pads_end=tuple(pe), group=group,
                        bias=b is not None, output_padding=op)
    t.add("Deconvolution", [x], attrs, params, output=t.out())


# ---- pooling -------------------------------------------------------------------------------------

def _onnx_pool_count(h, k, s, pb, pe, ceil):
    span = h + pb + pe - k
    if not ceil:
        return span // s + 1
    out = -(-span // s) + 1
    if (out - 1) * s >= h + pb:  # the last window may not start in the end padding
        out -= 1
    return out


@onnx_rule("MaxPool", "AveragePool")
def pool(t: Translator, node) -> None:
    x = t.data(0)
    is_max = node.op_type == "MaxPool"
    indices = node.output[1] if is_max and len(node.output) > 1 and node.output[1] in t.used \
        else None
    if not indices:
        t.single_output()
    kernel = tuple(t.attr("kernel_shape"))
    if t.attr("storage_order", 0):
        raise Unsupported("storage_order 1 (column-major indices) is not supported")
    stride, dilation, pb, pe, auto_pad = _conv_geometry(t, x, kernel)
    extent = tuple(d * (k - 1) + 1 for k, d in zip(kernel, dilation))
    ceil = bool(t.attr("ceil_mode", 0)) and auto_pad == "NOTSET"
    include_pad = bool(t.attr("count_include_pad", 0))
    size = t.shape(x)[2:]
    padded = any(pb) or any(pe)
    counts = [_onnx_pool_count(h, k, s, b, e, ceil) for h, k, s, b, e in
              zip(size, extent, stride, pb, pe)]
    if any(c < 1 for c in counts):
        raise Unsupported(f"the kernel {kernel} does not fit the padded input")
    method = "max" if is_max else "ave"
    symmetric = pb == pe and all(p < k for p, k in zip(pb, extent))
    pool_pad = pb if symmetric else (0,) * len(kernel)
    pool_size = size if symmetric else tuple(h + b + e for h, b, e in zip(size, pb, pe))
    # the graphconv (Caffe) round mode whose window count equals ONNX's: they differ where
    # ONNX drops a ceil-mode window starting in the end padding, or Caffe keeps one starting
    # past an unpadded input; the windows themselves start at the same places
    round_mode = next((r for r in (("ceil", "floor") if ceil else ("floor",))
                       if [pooled_length(h, k, s, p, r, d) for h, k, s, p, d in
                           zip(pool_size, kernel, stride, pool_pad, dilation)] == counts), None)
    if round_mode is None:
        raise Unsupported(f"ceil_mode gives {counts} windows, which no graphconv pooling "
                          "round mode does")
    src = x
    if not symmetric:
        value = float("-inf") if is_max else 0.0
        src = t.add("Pad", [x], PadAttrs(pads_begin=pb, pads_end=pe, value=value),
                    suffix="/pad")
    attrs = PoolAttrs(kernel=kernel, stride=stride, pad=pool_pad, method=method,
                      round_mode=round_mode, dilation=dilation)
    if indices:
        if not symmetric:
            raise Unsupported(f"the Indices output with asymmetric pads {pb}, {pe} is not "
                              "supported (the mask would index the padded input)")
        _max_pool_with_indices(t, x, attrs, indices)
        return
    if is_max or include_pad or not padded:
        t.add("Pooling", [src], attrs, output=t.out())
        return
    # count_include_pad 0: rescale graphconv's divisor (the window within the padded input)
    # to the number of input samples in each window (the taps o s + j d, j < k)
    ratio = np.ones((), dtype=np.float64)
    for h, k, s, d, b, hp, p, c in zip(size, kernel, stride, dilation, pb, pool_size, pool_pad,
                                       counts):
        taps = np.arange(k) * d
        starts = np.arange(c)[:, None] * s - p + taps      # in the pooled input's coordinates
        divisor = (starts < hp + p).sum(axis=1)            # graphconv's (Caffe's) divisor
        first = np.arange(c)[:, None] * s - b + taps       # in the original input's coordinates
        valid = ((first >= 0) & (first < h)).sum(axis=1)
        if np.any(valid < 1):
            raise Unsupported("a window holds only padding (count_include_pad 0 divides by 0)")
        ratio = np.multiply.outer(ratio, divisor / valid)
    pooled = t.add("Pooling", [src], attrs, suffix="/sum_over_window")
    t.add("ConstantBinary", [pooled], ConstantBinaryAttrs(
        operation="mul", constant_shape=ratio.shape), {"constant": ratio.astype(np.float32)},
        output=t.out(), suffix="/exclude_pad")


def _max_pool_with_indices(t: Translator, x: str, attrs: PoolAttrs, indices: str) -> None:
    """ONNX Indices are flat over (N, C, *plane); graphconv's Caffe mask is the flat index
    within the channel's plane (the first maximum in both). MaxUnpool reads the mask directly;
    other uses get the ONNX values, mask + the plane's offset (exact in float32 below 2^24)."""
    shape = t.shape(x)
    plane = math.prod(shape[2:])
    if math.prod(shape) > 2 ** 24:
        raise Unsupported("the Indices output of an input of more than 2^24 values is not "
                          "exact in float32")
    mask = unique_name(f"{t.node_name}/plane_mask", t.builder._taken)
    t.builder.add("Pooling", [x], dataclasses.replace(attrs, mask=True), name=t.node_name,
                  outputs=[t.out(), mask])
    t.plane_masks[indices] = (mask, shape[2:])
    if indices in t.used_as_data:
        offsets = (np.arange(shape[0] * shape[1], dtype=np.float64) * plane).reshape(
            shape[:2] + (1,) * (len(shape) - 2)).astype(np.float32)
        t.add("ConstantBinary", [mask], ConstantBinaryAttrs(operation="add",
                                                            constant_shape=offsets.shape),
              {"constant": offsets}, output=indices, suffix="/indices")


@onnx_rule("GlobalAveragePool", "GlobalMaxPool")
def global_pool(t: Translator, node) -> None:
    method = "max" if node.op_type == "GlobalMaxPool" else "ave"
    x = t.data(0)
    if len(t.shape(x)) < 3:
        raise Unsupported(f"input of rank {len(t.shape(x))} has no spatial axes")
    t.add("Pooling", [x], PoolAttrs(global_pooling=True, method=method), output=t.out())


# ---- normalisation -------------------------------------------------------------------------------

@onnx_rule("BatchNormalization")
def batch_norm(t: Translator, node) -> None:
    x = t.data(0)
    if t.attr("training_mode", 0) or any(o in t.used for o in node.output[1:]):
        raise Unsupported("training mode (batch statistics, running-stat outputs) is not "
                          "supported")
    if t.opset < 7 and t.attr("spatial", 1) == 0:
        raise Unsupported("spatial=0 (per-activation statistics) is not supported")
    names = ("scale", "bias", "mean", "variance")
    p = {k: _f32(t.const(node.input[i + 1], f"the {k}")).reshape(-1)
         for i, k in enumerate(names)}
    t.add("BatchNorm", [x], BatchNormAttrs(eps=t.attr("epsilon", 1e-5), affine=True), p,
          output=t.out())


@onnx_rule("LRN")
def lrn(t: Translator, node) -> None:
    x = t.data(0)
    size = t.attr("size")
    if size % 2 == 0:
        raise Unsupported(f"even size {size}: the window is not centred (graphconv LRN "
                          "needs an odd size)")
    if len(t.shape(x)) != 4:
        raise Unsupported("LRN needs a rank-4 input")
    attrs = LRNAttrs(local_size=size, alpha=t.attr("alpha", 1e-4), beta=t.attr("beta", 0.75),
                     k=t.attr("bias", 1.0))
    t.add("LRN", [x], attrs, output=t.out())


# ---- activations ---------------------------------------------------------------------------------

@onnx_rule("Relu")
def relu(t: Translator, node) -> None:
    t.add("ReLU", [t.data(0)], ReLUAttrs(), output=t.out())


@onnx_rule("LeakyRelu")
def leaky_relu(t: Translator, node) -> None:
    t.add("ReLU", [t.data(0)], ReLUAttrs(negative_slope=t.attr("alpha", 0.01)), output=t.out())


@onnx_rule("PRelu")
def prelu(t: Translator, node) -> None:
    x = t.data(0)
    slope = _f32(t.const(node.input[1], "the slope"))
    shape = t.shape(x)
    if slope.size == 1:
        t.add("PReLU", [x], PReLUAttrs(channel_shared=True), {"slope": slope.reshape(1)},
              output=t.out())
        return
    if t.opset < 7 and slope.ndim == 1 and len(shape) >= 2 and slope.size == shape[1]:
        # PRelu-6 and older: a 1-D slope holds one value per channel (no numpy broadcast)
        t.add("PReLU", [x], PReLUAttrs(), {"slope": slope}, output=t.out())
        return
    aligned = (1,) * (len(shape) - slope.ndim) + slope.shape
    if len(shape) >= 2 and len(aligned) == len(shape) and aligned[1] == shape[1] and all(
            d == 1 for i, d in enumerate(aligned) if i != 1):
        t.add("PReLU", [x], PReLUAttrs(), {"slope": slope.reshape(-1)}, output=t.out())
        return
    # any other broadcasting slope: relu(x) + slope * (x - relu(x)), exact (x - relu(x) is
    # x or 0)
    positive = t.add("ReLU", [x], ReLUAttrs(), suffix="/positive")
    negative = t.add("Eltwise", [x, positive], EltwiseAttrs("SUM", (1.0, -1.0)),
                     suffix="/negative")
    scaled = t.add("ConstantBinary", [negative], ConstantBinaryAttrs(
        operation="mul", constant_shape=slope.shape), {"constant": slope}, suffix="/scaled")
    t.add("Eltwise", [positive, scaled], EltwiseAttrs("SUM"), output=t.out())


@onnx_rule("Sigmoid")
def sigmoid(t: Translator, node) -> None:
    t.add("Sigmoid", [t.data(0)], None, output=t.out())


@onnx_rule("Tanh")
def tanh(t: Translator, node) -> None:
    t.add("TanH", [t.data(0)], None, output=t.out())


@onnx_rule("Softmax")
def softmax(t: Translator, node) -> None:
    x = t.data(0)
    shape = t.shape(x)
    rank = len(shape)
    if t.opset >= 13:
        t.add("Softmax", [x], SoftmaxAttrs(axis=_axis(t.attr("axis", -1), rank)),
              output=t.out())
        return
    # before opset 13: the input is coerced to 2-D (axes before `axis` x the rest)
    axis = _axis(t.attr("axis", 1), rank)
    if math.prod(shape[axis + 1:]) == 1:
        t.add("Softmax", [x], SoftmaxAttrs(axis=axis), output=t.out())
        return
    flat = t.add("Reshape", [x], ReshapeAttrs(shape=(math.prod(shape[:axis]),
                                                     math.prod(shape[axis:]))),
                 suffix="/coerce_2d")
    soft = t.add("Softmax", [flat], SoftmaxAttrs(axis=1), suffix="/softmax")
    t.add("Reshape", [soft], ReshapeAttrs(shape=shape), output=t.out())


@onnx_rule("Dropout")
def dropout(t: Translator, node) -> None:
    t.single_output()
    if t.attr("is_test", 1) == 0 and t.opset < 7:
        raise Unsupported("is_test 0 (training-mode dropout) is not supported")
    training = t.optional_const(2, "training_mode")
    if training is not None and bool(training):
        raise Unsupported("training_mode true is not supported")
    ratio = t.optional_const(1, "ratio")
    ratio = float(ratio) if ratio is not None else t.attr("ratio", 0.5)
    t.add("Dropout", [t.data(0)], DropoutAttrs(ratio=ratio), output=t.out())


@onnx_rule("Identity")
def identity(t: Translator, node) -> None:
    t.add("Identity", [t.data(0)], IdentityAttrs(), output=t.out())


# ---- elementwise ---------------------------------------------------------------------------------

_BINARY = {"Add": "add", "Sub": "sub", "Mul": "mul", "Div": "div", "Pow": "pow"}


@onnx_rule("Add", "Sub", "Mul", "Div", "Pow")
def binary(t: Translator, node) -> None:
    a, b = node.input[0], node.input[1]
    op = _BINARY[node.op_type]
    if t.opset < 7 and t.attr("broadcast", 0):
        # legacy broadcasting: B's shape matches A's axes from `axis` (default: the last ones)
        rank_a = len(t.consts[a].shape) if t.is_const(a) else len(t.shape(a))
        b_shape = t.consts[b].shape if t.is_const(b) else t.shape(b)
        axis = t.attr("axis")
        axis = rank_a - len(b_shape) if axis is None else _axis(axis, rank_a)
        aligned = tuple(b_shape) + (1,) * (rank_a - axis - len(b_shape))
        if aligned != tuple(b_shape):
            if t.is_const(b):
                t.consts[f"{t.node_name}/b_aligned"] = np.reshape(t.consts[b], aligned)
                b = f"{t.node_name}/b_aligned"
            else:
                b = t.add("Reshape", [b], ReshapeAttrs(shape=aligned), suffix="/b_aligned")
    if t.is_const(a) or t.is_const(b):
        first = t.is_const(a)
        x, c = (b, a) if first else (a, b)
        value = _f32(t.consts[c])
        if op == "pow":
            if first or value.size != 1:
                raise Unsupported("a constant base or a non-scalar constant exponent is not "
                                  "supported")
            t.add("Power", [x], PowerAttrs(power=float(value.reshape(-1)[0])), output=t.out())
            return
        t.add("ConstantBinary", [x], ConstantBinaryAttrs(operation=op, constant_shape=value.shape,
                                                         constant_first=first),
              {"constant": value}, output=t.out())
        return
    if t.shape(a) == t.shape(b) and op in ("add", "sub", "mul"):
        attrs = {"add": EltwiseAttrs("SUM"), "sub": EltwiseAttrs("SUM", (1.0, -1.0)),
                 "mul": EltwiseAttrs("PROD")}[op]
        t.add("Eltwise", [a, b], attrs, output=t.out())
        return
    t.add("Binary", [a, b], BinaryAttrs(op), output=t.out())


@onnx_rule("Sum", "Max", "Min")
def variadic(t: Translator, node) -> None:
    ins = [t.data(i) for i in range(len(node.input)) if node.input[i]]
    if len(ins) == 1:
        t.add("Identity", ins, IdentityAttrs(), output=t.out())
        return
    if node.op_type != "Min" and all(t.shape(x) == t.shape(ins[0]) for x in ins):
        op = "SUM" if node.op_type == "Sum" else "MAX"
        t.add("Eltwise", ins, EltwiseAttrs(op), output=t.out())
        return
    op = {"Sum": "add", "Max": "max", "Min": "min"}[node.op_type]
    t.add("Binary", ins, BinaryAttrs(op), output=t.out())


_UNARY = {"Abs": "abs", "Neg": "neg", "Exp": "exp", "Log": "log", "Sqrt": "sqrt",
          "Reciprocal": "reciprocal", "Elu": "elu", "Selu": "selu", "Softplus": "softplus",
          "Softsign": "softsign", "LogSoftmax": "log_softmax"}


@onnx_rule(*_UNARY)
def unary(t: Translator, node) -> None:
    x = t.data(0)
    fn = _UNARY[node.op_type]
    kw = {}
    if fn == "elu":
        kw["alpha"] = t.attr("alpha", 1.0)
    elif fn == "selu":
        kw = {k: v for k, v in (("alpha", t.attr("alpha")), ("gamma", t.attr("gamma")))
              if v is not None}
    if fn != "log_softmax":
        t.add("Unary", [x], UnaryAttrs(fn, **kw), output=t.out())
        return
    shape = t.shape(x)
    rank = len(shape)
    if t.opset >= 13:
        t.add("Unary", [x], UnaryAttrs(fn, axis=_axis(t.attr("axis", -1), rank)),
              output=t.out())
        return
    axis = _axis(t.attr("axis", 1), rank)  # before 13: coerced to 2-D, as Softmax
    if math.prod(shape[axis + 1:]) == 1:
        t.add("Unary", [x], UnaryAttrs(fn, axis=axis), output=t.out())
        return
    flat = t.add("Reshape", [x], ReshapeAttrs(shape=(math.prod(shape[:axis]),
                                                     math.prod(shape[axis:]))),
                 suffix="/coerce_2d")
    soft = t.add("Unary", [flat], UnaryAttrs(fn, axis=1), suffix="/log_softmax")
    t.add("Reshape", [soft], ReshapeAttrs(shape=shape), output=t.out())


# ---- tensor plumbing -----------------------------------------------------------------------------

@onnx_rule("Concat")
def concat(t: Translator, node) -> None:
    ins = [t.data(i) for i in range(len(node.input)) if node.input[i]]
    axis = _axis(t.attr("axis", 1), len(t.shape(ins[0])))
    t.add("Concat", ins, ConcatAttrs(axis=axis), output=t.out())


def _reshape(t: Translator, x: str, shape: tuple[int, ...]) -> None:
    if tuple(shape) == t.shape(x):
        t.add("Identity", [x], IdentityAttrs(), output=t.out())
        return
    if any(d < 1 for d in shape):
        raise Unsupported(f"output shape {tuple(shape)} has an empty axis")
    t.add("Reshape", [x], ReshapeAttrs(shape=tuple(shape)), output=t.out())


@onnx_rule("Reshape")
def reshape(t: Translator, node) -> None:
    x = t.data(0)
    in_shape = t.shape(x)
    if t.opset < 5:
        target = list(t.attr("shape"))
    else:
        target = [int(v) for v in t.const(node.input[1], "the target shape").reshape(-1)]
    allowzero = t.attr("allowzero", 0)
    out = []
    for i, d in enumerate(target):
        if d == 0 and not allowzero:
            if i >= len(in_shape):
                raise Unsupported(f"shape {target} copies axis {i}, which the input lacks")
            d = in_shape[i]
        out.append(d)
    if out.count(-1) > 1:
        raise Unsupported(f"shape {target} has more than one -1")
    total = math.prod(in_shape)
    if -1 in out:
        known = math.prod(d for d in out if d != -1)
        if known == 0 or total % known:
            raise Unsupported(f"cannot infer the -1 in {target} for input {in_shape}")
        out[out.index(-1)] = total // known
    if math.prod(out) != total:
        raise Unsupported(f"shape {tuple(out)} does not hold the input's {total} values")
    _reshape(t, x, tuple(out))


@onnx_rule("Flatten")
def flatten(t: Translator, node) -> None:
    x = t.data(0)
    shape = t.shape(x)
    axis = t.attr("axis", 1)
    axis = axis + len(shape) if axis < 0 else axis
    if not 0 <= axis <= len(shape):
        raise Unsupported(f"axis {t.attr('axis')} is out of range for rank {len(shape)}")
    _reshape(t, x, (math.prod(shape[:axis]), math.prod(shape[axis:])))


def _axes_arg(t: Translator, node, what: str):
    if t.opset >= 13:
        value = t.optional_const(1, f"the {what} axes")
        return None if value is None else [int(v) for v in value.reshape(-1)]
    value = t.attr("axes")
    return None if value is None else list(value)


@onnx_rule("Squeeze")
def squeeze(t: Translator, node) -> None:
    x = t.data(0)
    shape = t.shape(x)
    axes = _axes_arg(t, node, "squeeze")
    if axes is None:
        axes = [i for i, d in enumerate(shape) if d == 1]
    axes = {_axis(a, len(shape)) for a in axes}
    if any(shape[a] != 1 for a in axes):
        raise Unsupported(f"squeezed axes {sorted(axes)} of {shape} are not all 1")
    _reshape(t, x, tuple(d for i, d in enumerate(shape) if i not in axes))


@onnx_rule("Unsqueeze")
def unsqueeze(t: Translator, node) -> None:
    x = t.data(0)
    shape = t.shape(x)
    axes = _axes_arg(t, node, "unsqueeze")
    if axes is None:
        raise Unsupported("axes are required")
    rank = len(shape) + len(axes)
    axes = {_axis(a, rank) for a in axes}
    it = iter(shape)
    _reshape(t, x, tuple(1 if i in axes else next(it) for i in range(rank)))


@onnx_rule("Transpose")
def transpose(t: Translator, node) -> None:
    x = t.data(0)
    rank = len(t.shape(x))
    perm = t.attr("perm")
    perm = tuple(range(rank))[::-1] if perm is None else tuple(int(p) for p in perm)
    if perm == tuple(range(rank)):
        t.add("Identity", [x], IdentityAttrs(), output=t.out())
        return
    t.add("Permute", [x], PermuteAttrs(order=perm), output=t.out())


@onnx_rule("Split")
def split(t: Translator, node) -> None:
    x = t.data(0)
    shape = t.shape(x)
    axis = _axis(t.attr("axis", 0), len(shape))
    outs = list(node.output)
    n = len(outs)
    sizes = t.optional_const(1, "the split sizes") if t.opset >= 13 else t.attr("split")
    if sizes is not None and len(sizes):
        sizes = [int(v) for v in np.asarray(sizes).reshape(-1)]
    else:  # equal parts; from opset 18 the last part may be smaller
        chunk = -(-shape[axis] // n)
        sizes = [min(chunk, shape[axis] - i * chunk) for i in range(n)]
    if len(sizes) != n or sum(sizes) != shape[axis] or any(v < 1 for v in sizes):
        raise Unsupported(f"split sizes {sizes} do not cut axis {axis} of size {shape[axis]} "
                          f"into {n} non-empty parts")
    if n == 1:
        t.add("Identity", [x], IdentityAttrs(), output=outs[0])
        return
    points = tuple(int(v) for v in np.cumsum(sizes)[:-1])
    t.builder.add("Slice", [x], SliceAttrs(num_outputs=n, axis=axis, slice_points=points),
                  name=t.node_name, outputs=outs)


@onnx_rule("DepthToSpace", "SpaceToDepth")
def depth_space(t: Translator, node) -> None:
    """Reshape -> Permute -> Reshape, with ONNX's DCR / CRD channel orders."""
    x = t.data(0)
    shape = t.shape(x)
    if len(shape) != 4:
        raise Unsupported(f"input of shape {shape} (rank 4 expected)")
    n, c, h, w = shape
    b = int(t.attr("blocksize"))
    if node.op_type == "DepthToSpace":
        if c % (b * b):
            raise Unsupported(f"blocksize {b}: {b * b} does not divide {c} channels")
        mode = _text(t.attr("mode"), "DCR")
        if mode == "DCR":
            split, order = (n, b, b, c // (b * b), h, w), (0, 3, 4, 1, 5, 2)
        elif mode == "CRD":
            split, order = (n, c // (b * b), b, b, h, w), (0, 1, 4, 2, 5, 3)
        else:
            raise Unsupported(f"mode '{mode}' is not an ONNX value")
        final = (n, c // (b * b), h * b, w * b)
    else:
        if h % b or w % b:
            raise Unsupported(f"blocksize {b} does not divide the spatial size {h}x{w}")
        mode = _text(t.attr("mode"), "DCR")
        if mode not in ("DCR", "CRD"):
            raise Unsupported(f"mode '{mode}' is not an ONNX value")
        order = (0, 3, 5, 1, 2, 4) if mode == "DCR" else (0, 1, 3, 5, 2, 4)
        split = (n, c, h // b, b, w // b, b)
        final = (n, c * b * b, h // b, w // b)
    blocks = t.add("Reshape", [x], ReshapeAttrs(shape=split), suffix="/blocks")
    moved = t.add("Permute", [blocks], PermuteAttrs(order=order), suffix="/move")
    t.add("Reshape", [moved], ReshapeAttrs(shape=final), output=t.out())


@onnx_rule("Pad")
def pad(t: Translator, node) -> None:
    x = t.data(0)
    rank = len(t.shape(x))
    mode = _text(t.attr("mode"), "constant")
    if t.opset < 11:
        pads = list(t.attr("pads"))
        value = float(t.attr("value", 0.0))
    else:
        pads = [int(v) for v in t.const(node.input[1], "the pads").reshape(-1)]
        v = t.optional_const(2, "the pad value")
        value = 0.0 if v is None or v.size == 0 else float(np.asarray(v).reshape(-1)[0])
        axes = t.optional_const(3, "the axes")
        if axes is not None:
            full = [0] * (2 * rank)
            axes = [_axis(int(a), rank) for a in axes.reshape(-1)]
            for i, a in enumerate(axes):
                full[a], full[rank + a] = pads[i], pads[len(axes) + i]
            pads = full
    if len(pads) != 2 * rank:
        raise Unsupported(f"pads {pads} do not fit rank {rank}")
    if not any(pads):
        t.add("Identity", [x], IdentityAttrs(), output=t.out())
        return
    if mode == "constant" and rank >= 2 and not (pads[0] or pads[1] or pads[rank]
                                                 or pads[rank + 1]):
        pb, pe = tuple(pads[2:rank]), tuple(pads[rank + 2:])
        t.add("Pad", [x], PadAttrs(pads_begin=pb, pads_end=pe, value=value), output=t.out())
        return
    if mode not in ("constant", "edge", "reflect", "wrap"):
        raise Unsupported(f"mode '{mode}' is not an ONNX Pad mode")
    t.add("BorderPad", [x], BorderPadAttrs(pads_begin=tuple(pads[:rank]),
                                           pads_end=tuple(pads[rank:]), mode=mode, value=value),
          output=t.out())


# ---- linear --------------------------------------------------------------------------------------

@onnx_rule("Gemm")
def gemm(t: Translator, node) -> None:
    x = t.data(0)
    if len(t.shape(x)) != 2:
        raise Unsupported(f"input A has shape {t.shape(x)} (2-D expected)")
    if t.attr("transA", 0):
        x = t.add("Permute", [x], PermuteAttrs(order=(1, 0)), suffix="/transpose_a")
    b = _f32(t.const(node.input[1], "B"))
    alpha, beta = t.attr("alpha", 1.0), t.attr("beta", 1.0)
    weight = b if t.attr("transB", 0) else b.T
    n_out = weight.shape[0]
    if alpha != 1.0:
        weight = weight * np.float32(alpha)
    c = t.optional_const(2, "C")
    params = {"weight": np.ascontiguousarray(weight)}
    m = t.shape(x)[0]
    per_row = None
    if c is not None:
        c = _f32(c)
        full = np.broadcast_to(c, (m, n_out)) * np.float32(beta)
        if np.all(full == full[:1]):
            params["bias"] = np.array(full[0])
        else:  # a bias varying along the rows: added after the product
            per_row = np.ascontiguousarray(full, dtype=np.float32)
    attrs = InnerProductAttrs(num_output=n_out, bias="bias" in params)
    if per_row is None:
        t.add("InnerProduct", [x], attrs, params, output=t.out())
        return
    y = t.add("InnerProduct", [x], attrs, params, suffix="/product")
    t.add("ConstantBinary", [y], ConstantBinaryAttrs(operation="add",
                                                     constant_shape=per_row.shape),
          {"constant": per_row}, output=t.out(), suffix="/bias")


@onnx_rule("MatMul")
def matmul(t: Translator, node) -> None:
    x = t.data(0)
    b = _f32(t.const(node.input[1], "the second operand"))
    if b.ndim != 2:
        raise Unsupported(f"the constant operand has shape {b.shape} (2-D expected)")
    rank = len(t.shape(x))
    if rank < 2:
        raise Unsupported(f"the data operand has rank {rank} (2 or more expected)")
    attrs = InnerProductAttrs(num_output=b.shape[1], bias=False, axis=rank - 1)
    t.add("InnerProduct", [x], attrs, {"weight": np.ascontiguousarray(b.T)}, output=t.out())


# ---- resampling ----------------------------------------------------------------------------------

def _text(value, default: str) -> str:
    if value is None:
        return default
    return value.decode() if isinstance(value, bytes) else str(value)


def _floor_equivalent(transform: str, nearest_mode: str, f: int) -> bool:
    """Whether nearest resampling by the integer factor ``f`` reads ``x[i // f]``."""
    if f == 1:
        return True
    if transform in ("half_pixel", "pytorch_half_pixel", "half_pixel_symmetric"):
        # x = f q + r lies strictly inside (q - 1/2, q + 1/2): no ties, rounding gives q
        return nearest_mode in ("round_prefer_floor", "round_prefer_ceil")
    if transform == "asymmetric":
        # x / f = q + r / f: floor gives q; rounding gives q while r / f <= 1/2 always (f = 2)
        return nearest_mode == "floor" or (nearest_mode == "round_prefer_floor" and f == 2)
    if transform == "tf_half_pixel_for_nn":
        return nearest_mode == "floor"  # (x + 1/2) / f lies in (q, q + 1)
    return False


@onnx_rule("Resize", "Upsample")
def resize(t: Translator, node) -> None:
    """Nearest resampling that reads ``x[i // f]`` (integer factors f) becomes graphconv's
    Upsample, which the lowering passes know; everything else becomes a Resize layer."""
    x = t.data(0)
    t.single_output()
    shape = t.shape(x)
    rank = len(shape)
    mode = _text(t.attr("mode"), "nearest")
    legacy = node.op_type == "Upsample" or t.opset < 11  # Upsample, Resize-10: asymmetric
    if legacy and mode == "bilinear":
        mode = "linear"
    if mode not in ("nearest", "linear") and not (mode == "cubic" and not legacy):
        raise Unsupported(f"mode '{mode}' is not supported")
    scales = sizes = None
    if node.op_type == "Upsample" and t.opset < 9:
        scales = np.asarray(t.attr("scales"), dtype=np.float32)
    elif legacy:
        scales = _f32(t.const(node.input[1], "the scales"))
    else:
        s = t.optional_const(2, "the scales")
        z = t.optional_const(3, "the sizes")
        scales = None if s is None or s.size == 0 else _f32(s).reshape(-1)
        sizes = None if z is None or z.size == 0 else [int(v) for v in z.reshape(-1)]
        if scales is None and sizes is None:
            raise Unsupported("neither scales nor sizes is given")
    axes = t.attr("axes")
    axes = list(range(rank)) if axes is None else [_axis(a, rank) for a in axes]
    if legacy:
        transform, nearest_mode = "asymmetric", "floor"  # Upsample and Resize-10: floor
    else:
        transform = _text(t.attr("coordinate_transformation_mode"), "half_pixel")
        nearest_mode = _text(t.attr("nearest_mode"), "round_prefer_floor")
    roi = None
    if transform == "tf_crop_and_resize":
        given = t.optional_const(1, "the roi")
        if given is None or given.size != 2 * len(axes):
            raise Unsupported(f"tf_crop_and_resize needs a roi of {2 * len(axes)} values")
        given = [float(v) for v in given.reshape(-1)]
        roi = [0.0] * rank + [1.0] * rank
        for i, a in enumerate(axes):
            roi[a], roi[rank + a] = given[i], given[len(axes) + i]
    full = [1.0] * rank                     # the scale of each axis (float64 of the float32)
    out = list(shape)                       # the output shape
    if sizes is not None:
        if len(sizes) != len(axes):
            raise Unsupported(f"sizes {sizes} do not match axes {axes}")
        policy = _text(t.attr("keep_aspect_ratio_policy"), "stretch")
        ratios = [z / shape[a] for a, z in zip(axes, sizes)]
        if policy == "stretch":
            for a, z, r in zip(axes, sizes, ratios):
                out[a], full[a] = z, r
        elif policy in ("not_larger", "not_smaller"):
            r = min(ratios) if policy == "not_larger" else max(ratios)
            for a in axes:  # rounded half up, as the specification
                out[a], full[a] = int(r * shape[a] + 0.5), r
        else:
            raise Unsupported(f"keep_aspect_ratio_policy '{policy}' is not an ONNX value")
    else:
        if len(scales) != len(axes):
            raise Unsupported(f"scales {list(scales)} do not match axes {axes}")
        for a, v in zip(axes, scales.reshape(-1)):
            if not v > 0:
                raise Unsupported(f"scale {v:g} on axis {a} is not positive")
            full[a] = float(v)
            out[a] = math.floor(float(v) * shape[a])
    if any(o < 1 for o in out):
        raise Unsupported(f"the output shape {tuple(out)} has an empty axis")
    if legacy and any(s < 1 for s in full):
        raise Unsupported(f"{node.op_type}-{t.opset} downsampling (scales {full}) has no "
                          "specified rounding")
    if tuple(out) == shape and all(np.isclose(s, 1.0) for s in full) and roi is None:
        t.add("Identity", [x], IdentityAttrs(), output=t.out())
        return
    factors = [o // i if o % i == 0 and s == o // i else 0 for i, o, s in
               zip(shape, out, full)]
    if (mode == "nearest" and rank >= 3 and roi is None and factors[0] == factors[1] == 1 and all(factors)
            and all(_floor_equivalent(transform, nearest_mode, f) for f in factors[2:])):
        t.add("Upsample", [x], UpsampleAttrs(scale=tuple(factors[2:])), output=t.out())
        return
    given = sizes is None or any(s != o / i for s, o, i in zip(full, out, shape))
    attrs = ResizeAttrs(sizes=tuple(out), scales=tuple(full) if given else None, mode=mode,
                        coordinate_transformation_mode=transform, nearest_mode=nearest_mode,
                        cubic_coeff_a=t.attr("cubic_coeff_a", -0.75),
                        exclude_outside=bool(t.attr("exclude_outside", 0)),
                        antialias=bool(t.attr("antialias", 0)) and mode != "nearest",
                        roi=None if roi is None else tuple(roi),
                        extrapolation_value=t.attr("extrapolation_value", 0.0))
    t.add("Resize", [x], attrs, output=t.out())


# ---- slicing -------------------------------------------------------------------------------------

@onnx_rule("Slice")
def strided_slice(t: Translator, node) -> None:
    x = t.data(0)
    rank = len(t.shape(x))
    if t.opset < 10:
        starts, ends = list(t.attr("starts")), list(t.attr("ends"))
        axes, steps = t.attr("axes"), None
    else:
        def ints(i, what):
            v = t.optional_const(i, what)
            return None if v is None else [int(e) for e in v.reshape(-1)]
        starts, ends = ints(1, "the starts"), ints(2, "the ends")
        axes, steps = ints(3, "the axes"), ints(4, "the steps")
    axes = list(range(len(starts))) if axes is None else [_axis(int(a), rank) for a in axes]
    attrs = StridedSliceAttrs(starts=tuple(starts), ends=tuple(ends), axes=tuple(axes),
                              steps=None if steps is None else tuple(steps))
    t.add("StridedSlice", [x], attrs, output=t.out())


@onnx_rule("MaxUnpool")
def max_unpool(t: Translator, node) -> None:
    """Onto graphconv's MaxUnpool, whose mask is the per-plane index of a max Pooling: the
    indices must be a MaxPool's Indices output, and the output plane must hold as many values
    as the pooled input's (ONNX's flat indices then land in the same plane)."""
    x = t.data(0)
    ind = node.input[1]
    if ind not in t.plane_masks:
        raise Unsupported("the indices must be a MaxPool's Indices output (graphconv keeps "
                          "them as a per-plane mask)")
    mask, pooled = t.plane_masks[ind]
    shape = t.shape(x)
    n = len(shape) - 2
    out = t.optional_const(2, "the output_shape")
    if out is not None:
        spatial = tuple(int(v) for v in out.reshape(-1))[2:]
    else:
        kernel = tuple(t.attr("kernel_shape"))
        stride = _ints(t.attr("strides"), n, 1)
        pads = _ints(t.attr("pads"), 2 * n, 0)
        spatial = tuple((h - 1) * s + k - b - e for h, s, k, b, e in
                        zip(shape[2:], stride, kernel, pads[:n], pads[n:]))
    if math.prod(spatial) != math.prod(pooled):
        raise Unsupported(f"output plane {spatial} holds a different number of values than "
                          f"the pooled input's {pooled} (the flat indices would move planes)")
    t.add("MaxUnpool", [x, mask], MaxUnpoolAttrs(size=spatial), output=t.out())
