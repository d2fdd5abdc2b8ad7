"""Check an exported ONNX model against a target profile: every node, every limit, every tensor.

:func:`violations` reads a ``ModelProto`` (the file a user will deploy, not graphconv's idea of
it): each node's op must be listed in the profile, its attributes within the op's limits, and
every tensor it reads or writes (graph inputs, outputs and weights included) within
``max_rank``. Shapes come from onnx's shape inference, so a hand-written model without
``value_info`` is checked too.

:func:`layer_violations` asks the same of one layer of a Graph: the layer cut out with its
inputs and exported without its weights' values (their shapes stand in), which is what the
planner uses to decide, layer by layer, what must be rewritten.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import numpy as np
import onnx
from onnx import helper, numpy_helper

from ..builder import cut_out
from ..export import MAX_OPSET, Emitter, _structure_only
from ..ir import Graph, Layer
from .profile import Profile

SMALL = 64  # initializers up to this many elements keep their values (shapes, pads, scales)


@dataclass(frozen=True)
class Violation:
    """One node (or graph tensor) outside the profile."""

    node: str  # the node's name ("<graph>" for a graph input or output)
    op: str
    key: str  # the profile key violated: "ops", "max_rank", "strides", ...
    detail: str

    def __str__(self) -> str:
        return f"node '{self.node}' ({self.op}): {self.detail}"


def violations(model: onnx.ModelProto, profile: Profile) -> list[Violation]:
    """Every violation of ``profile`` in ``model``, in node order."""
    light = _structure_only(model, True)
    try:
        light = onnx.shape_inference.infer_shapes(light, data_prop=True)
    except Exception:  # noqa: BLE001 - then only the shapes the model itself declares
        pass
    g = light.graph
    shapes = {}
    for v in list(g.input) + list(g.output) + list(g.value_info):
        t = v.type.tensor_type
        if t.HasField("shape"):
            shapes[v.name] = tuple(
                d.dim_value if d.HasField("dim_value") else None for d in t.shape.dim
            )
    for init in g.initializer:
        shapes[init.name] = tuple(init.dims)
    consts = {i.name: numpy_helper.to_array(i) for i in g.initializer}
    found: list[Violation] = []
    for node in g.node:
        rule = profile.ops.get(node.op_type)
        name = node.name or (node.output[0] if node.output else node.op_type)
        if rule is None:
            found.append(
                Violation(
                    name,
                    node.op_type,
                    "ops",
                    f"op {node.op_type} is not in profile '{profile.name}'",
                )
            )
        else:
            found.extend(
                Violation(name, node.op_type, key, detail)
                for key, detail in _attribute_violations(node, rule, shapes, consts)
            )
        if profile.max_rank is not None:
            for t in dict.fromkeys(t for t in (*node.input, *node.output) if t):
                rank = len(shapes[t]) if t in shapes else None
                if rank is not None and rank > profile.max_rank:
                    found.append(
                        Violation(
                            name,
                            node.op_type,
                            "max_rank",
                            f"tensor '{t}' has rank {rank} > max_rank {profile.max_rank}",
                        )
                    )
    if profile.max_rank is not None:  # graph tensors no node touches (an Input layer alone)
        touched = {t for node in g.node for t in (*node.input, *node.output)}
        for kind, values in (("input", g.input), ("output", g.output)):
            for v in values:
                rank = len(shapes.get(v.name, ()))
                if v.name not in touched and rank > profile.max_rank:
                    found.append(
                        Violation(
                            "<graph>",
                            kind,
                            "max_rank",
                            f"graph {kind} '{v.name}' has rank {rank} > max_rank "
                            f"{profile.max_rank}",
                        )
                    )
    return found


def _attrs(node) -> dict:
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _attribute_violations(node, rule, shapes, consts):
    """(key, detail) for each limit of ``rule`` the node exceeds."""
    a = _attrs(node)
    op = node.op_type
    if op == "Pad":
        if rule.pads_max is not None and len(node.input) > 1 and node.input[1] in consts:
            pads = [int(p) for p in consts[node.input[1]].reshape(-1)]
            if max(pads, default=0) > rule.pads_max:
                yield "pads_max", f"pads {pads} exceed pads_max {rule.pads_max}"
        return
    if op in ("Resize", "Upsample"):
        mode = a.get("mode", b"nearest")
        mode = mode.decode() if isinstance(mode, bytes) else mode
        if rule.modes is not None and mode not in rule.modes:
            yield "modes", f"mode '{mode}' is not in modes {list(rule.modes)}"
        return
    weight = shapes.get(node.input[1]) if len(node.input) > 1 else None
    kernel = a.get("kernel_shape") or (list(weight[2:]) if weight else None)
    n = len(kernel) if kernel else 0
    if rule.strides is not None:
        strides = list(a.get("strides", [1] * n))
        if any(s not in rule.strides for s in strides):
            yield "strides", f"strides {strides} not in {list(rule.strides)}"
    if rule.dilations is not None:
        dilations = list(a.get("dilations", [1] * n))
        if any(d not in rule.dilations for d in dilations):
            yield "dilations", f"dilations {dilations} not in {list(rule.dilations)}"
    if rule.kernel_max is not None and kernel and max(kernel) > rule.kernel_max:
        yield "kernel_max", f"kernel {list(kernel)} exceeds kernel_max {rule.kernel_max}"
    if rule.pads_max is not None:
        auto = a.get("auto_pad", b"NOTSET")
        auto = auto.decode() if isinstance(auto, bytes) else auto
        pads = list(a.get("pads", [0] * 2 * n))
        if auto not in ("NOTSET", "VALID"):
            yield "pads_max", f"auto_pad {auto}: pads are implicit, pads_max cannot be checked"
        elif max(pads, default=0) > rule.pads_max:
            yield "pads_max", f"pads {pads} exceed pads_max {rule.pads_max}"
    if rule.group is not None and op in ("Conv", "ConvTranspose"):
        group = int(a.get("group", 1))
        x = shapes.get(node.input[0])
        channels = x[1] if x and len(x) > 1 and x[1] else None
        if channels is None and weight:
            channels = weight[1] * group if op == "Conv" else weight[0]
        if rule.group == 1 and group != 1:
            yield "group", f"group {group}: the profile allows group 1 only"
        elif rule.group == "depthwise" and group not in (1, channels):
            yield "group", f"group {group} of {channels} channels is neither 1 nor depthwise"
    if op == "ConvTranspose" and not rule.output_padding:
        op_pad = list(a.get("output_padding", []))
        if any(op_pad):
            yield "output_padding", f"output_padding {op_pad} is not zero"


class _ShapesOnly(Emitter):
    """An emitter that keeps large initializers as typed graph inputs (their shapes, not their
    values): the structure of an export without copying the weights."""

    def initializer(self, name: str, array, dtype=np.float32) -> str:
        arr = np.asarray(array)
        if arr.size <= SMALL:
            return super().initializer(name, arr, dtype)
        name = self.tmp(name)
        elem = helper.np_dtype_to_tensor_dtype(np.dtype(dtype))
        self.inputs.append(helper.make_tensor_value_info(name, elem, arr.shape))
        return name


def structure(graph: Graph, opset: int = 17) -> onnx.ModelProto:
    """``graph`` exported for checking only: nodes, attributes, small constants and every
    tensor's shape, with weights as typed inputs (not runnable; never written)."""
    em = _ShapesOnly(graph, min(int(opset), MAX_OPSET))
    for layer in graph.layers:
        layer.definition.to_onnx(layer, em, list(layer.inputs), list(layer.outputs))

    def vi(t):
        spec = graph.specs[t]
        elem = helper.np_dtype_to_tensor_dtype(np.dtype(spec.dtype))
        return helper.make_tensor_value_info(t, elem, spec.shape)

    inner = [t for t in graph.specs if t not in graph.outputs and t not in graph.inputs]
    g = helper.make_graph(
        em.nodes,
        graph.name,
        em.inputs,
        [vi(t) for t in graph.outputs],
        initializer=em.initializers,
        value_info=[vi(t) for t in inner],
    )
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", int(opset))])


def layer_violations(
    graph: Graph, layer: Layer, profile: Profile, opset: int = 17
) -> list[Violation]:
    """The violations of the nodes ``layer`` exports to, and of the tensors they touch."""
    specs: Mapping = {t: graph.specs[t] for t in dict.fromkeys(layer.inputs)}
    cut = cut_out([layer], specs, layer.outputs, f"layer:{layer.name}")
    return violations(structure(cut, opset), profile)
