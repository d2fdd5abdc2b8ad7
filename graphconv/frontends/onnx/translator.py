"""The ONNX translator: one walk over a ModelProto's nodes into a GraphBuilder.

The translator keeps the bookkeeping every rule shares: the builder (all ONNX tensor and node
names reserved, so helper tensors never collide with one), the constant values, the opset, the
tensors the graph uses, and the errors. It walks the nodes in their (topological) order:

* a node whose inputs are all constants (initializers, ``Constant`` outputs, earlier folded
  values) is evaluated with ``onnx.reference.ReferenceEvaluator`` and its outputs become
  constants; ``Shape`` / ``Size`` of a tensor with a static shape are constants too, so shape
  arithmetic chains (Shape -> Gather -> Concat -> Reshape) fold away;
* every other node is translated by the rule registered for its op type (``@onnx_rule``, the
  modules of ``rules/``) into graphconv layers with ONNX's semantics, constants becoming layer
  parameters or attributes.

Nodes that cannot be translated are collected and reported together in one error line, naming
each node, its op type and the reason. Nodes downstream of an untranslatable node are not
translated (their input shapes are unknown) but an unknown op type among them is still named.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import onnx
from onnx import helper, numpy_helper

from ...builder import GraphBuilder
from ...errors import GraphError, ParseError, Unsupported, listing
from ...ir import Graph, TensorSpec
from .structure import check_structure

# ops never folded even when their inputs are constant: their value is not a function of them
NONDETERMINISTIC = {
    "RandomNormal",
    "RandomUniform",
    "RandomNormalLike",
    "RandomUniformLike",
    "Multinomial",
    "Bernoulli",
}
FLOAT_TYPES = {onnx.TensorProto.FLOAT, onnx.TensorProto.DOUBLE, onnx.TensorProto.FLOAT16}


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
        self.opset = next(
            (o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), None
        )
        if self.opset is None:
            raise ParseError("the model imports no default-domain (ai.onnx) opset", file=source)
        g = model.graph
        self.builder = GraphBuilder(g.name or "graph")
        # every ONNX tensor and node name is reserved, so helper tensors never collide with one
        self.builder.claim(t for n in g.node for t in (*n.input, *n.output) if t)
        self.builder.claim(v.name for v in g.input)
        self.consts: dict[str, np.ndarray] = {}
        for init in g.initializer:
            self.consts[init.name] = numpy_helper.to_array(init)
        for name, value in (constants or {}).items():
            self.consts[name] = np.asarray(value)
        self.input_shapes = dict(input_shapes or {})
        self.used = {t for n in g.node for t in n.input} | {v.name for v in g.output}
        # ONNX tensors used other than as MaxUnpool's indices (those read graphconv masks)
        self.used_as_data = {
            t
            for n in g.node
            for i, t in enumerate(n.input)
            if not (n.op_type == "MaxUnpool" and i == 1)
        } | {v.name for v in g.output}
        # MaxPool Indices tensor -> (graphconv per-plane mask tensor, pooled input plane shape)
        self.plane_masks: dict[str, tuple[str, tuple[int, ...]]] = {}
        self.errors: list[str] = []
        self.poisoned: set[str] = set()
        self.notes: list[str] = []
        self.node: onnx.NodeProto | None = None
        self.node_name = ""

    # -- helpers rules use -------------------------------------------------------------------
    def spec(self, tensor: str) -> TensorSpec:
        return self.builder.spec(tensor)

    def shape(self, tensor: str) -> tuple[int, ...]:
        return self.builder.spec(tensor).shape

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
            raise Unsupported(
                f"input {index} ('{t}') is a constant where a computed tensor is expected"
            )
        return t

    def attr(self, name: str, default=None):
        for a in self.node.attribute:
            if a.name == name:
                return helper.get_attribute_value(a)
        return default

    def add(
        self, type: str, inputs, attrs, params=None, output: str | None = None, suffix: str = ""
    ) -> str:
        """Append a layer; ``output`` names its output (default: a fresh helper name)."""
        name = self.node_name + suffix
        outputs = [output] if output is not None else None
        return self.builder.add(
            type, inputs, attrs, params=params or {}, name=name, outputs=outputs
        )

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
                self.errors.append(
                    f"graph output '{vi.name}' is a constant (graphconv graphs "
                    "compute their outputs from inputs)"
                )
                continue
            outputs.append(vi.name)
        if self.errors:
            nodes = sum(e.startswith("node ") for e in self.errors)
            others = len(self.errors) - nodes
            parts = [f"{nodes} ONNX node{'s' if nodes > 1 else ''}"] if nodes else []
            if others:
                parts.append(f"{others} graph input/output{'s' if others > 1 else ''}")
            raise GraphError(
                f"{' and '.join(parts)} cannot be translated: " + listing(self.errors, 3, "; "),
                source=self.source,
            )
        return self.builder.build(outputs, notes=self.notes)

    def _graph_input(self, vi: onnx.ValueInfoProto) -> None:
        tt = vi.type.tensor_type
        if not vi.type.HasField("tensor_type"):
            self.errors.append(
                f"graph input '{vi.name}' is not a tensor "
                f"({vi.type.WhichOneof('value')}; tensors only)"
            )
            self.poisoned.add(vi.name)
            return
        if tt.elem_type not in FLOAT_TYPES:
            dtype = onnx.helper.tensor_dtype_to_np_dtype(tt.elem_type) if tt.elem_type else None
            self.errors.append(
                f"graph input '{vi.name}' has element type {dtype} (float32 "
                "only; bind it to a constant)"
            )
            self.poisoned.add(vi.name)
            return
        if vi.name in self.input_shapes:
            shape = tuple(int(d) for d in self.input_shapes[vi.name])
        else:
            dims = tt.shape.dim
            if not tt.HasField("shape") or any(
                not d.HasField("dim_value") or d.dim_value < 1 for d in dims
            ):
                shown = (
                    [d.dim_value if d.HasField("dim_value") else (d.dim_param or "?") for d in dims]
                    if tt.HasField("shape")
                    else "unknown"
                )
                self.errors.append(
                    f"graph input '{vi.name}' has no static shape ({shown}); "
                    "give it with input_shapes / --input-shape"
                )
                self.poisoned.add(vi.name)
                return
            shape = tuple(d.dim_value for d in dims)
        if not shape:
            self.errors.append(
                f"graph input '{vi.name}' is a scalar (rank 0; graphconv "
                "tensors have at least one axis)"
            )
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
            if node.op_type in ("Shape", "Size") and ins and self.builder.defines(ins[0]):
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
            inputs = [
                helper.make_tensor_value_info(
                    t, helper.np_dtype_to_tensor_dtype(np.asarray(v).dtype), np.shape(v)
                )
                for t, v in feeds.items()
            ]
            outputs = [helper.make_empty_tensor_value_info(t) for t in node.output if t]
            one = helper.make_model(
                helper.make_graph([node], "fold", inputs, outputs),
                opset_imports=[helper.make_opsetid("", self.opset)],
            )
            values = ReferenceEvaluator(one).run(None, feeds)
        except Exception as e:  # noqa: BLE001 - the reference raises many types
            raise Unsupported(
                f"constant folding failed: {type(e).__name__}: "
                f"{str(e).splitlines()[0] if str(e) else ''}"
            ) from None
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


def load_onnx(
    model: str | os.PathLike | onnx.ModelProto,
    input_shapes: Mapping[str, Sequence[int]] | None = None,
    constants: Mapping[str, np.ndarray] | None = None,
) -> Graph:
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
            raise ParseError(
                f"not a readable ONNX model: {type(e).__name__}: "
                f"{str(e).splitlines()[0] if str(e) else ''}",
                file=source,
            ) from None
    check_structure(model, source)
    known = {vi.name for vi in model.graph.input}
    for name in input_shapes or {}:
        if name not in known:
            raise ParseError(
                f"input_shapes names '{name}', which is not a graph input "
                f"(inputs: {', '.join(sorted(known))})",
                file=source,
            )
    return Translator(model, input_shapes, constants, source).translate()
