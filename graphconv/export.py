"""Graph -> ONNX ModelProto.

Each layer type writes its own nodes through an :class:`Emitter`; this module only owns the model
around them: graph inputs/outputs, initializers named after their layer, inferred shapes as
value_info, the opset and an ``ir_version`` onnxruntime loads. The result is checked with
``onnx.checker`` and strict shape inference, and onnx's inferred shapes must equal ours.
"""

from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from .errors import ExportError
from .ir import Graph, TensorSpec, unique_name

MIN_OPSET, MAX_OPSET = 13, 21
_DTYPES = {"float32": TensorProto.FLOAT, "int64": TensorProto.INT64}


class Emitter:
    """What a layer's ``to_onnx`` may do: add nodes, initializers, constants and fresh names."""

    def __init__(self, graph: Graph, opset: int):
        self.graph, self.opset = graph, opset
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self.inputs: list[onnx.ValueInfoProto] = []
        self._names: set[str] = set(graph.specs) | {layer.name for layer in graph.layers}
        self._node_names: set[str] = set()
        self._extra_specs: dict[str, TensorSpec] = {}
        self._consts: dict[tuple, str] = {}

    def spec(self, tensor: str) -> TensorSpec:
        spec = self.graph.specs.get(tensor) or self._extra_specs.get(tensor)
        if spec is None:
            raise KeyError(tensor)
        return spec

    def tmp(self, hint: str) -> str:
        return unique_name(hint, self._names)

    def node(
        self, op: str, inputs: Sequence[str], outputs: Sequence[str], name: str, **attrs
    ) -> None:
        name = unique_name(name, self._node_names)
        self.nodes.append(helper.make_node(op, list(inputs), list(outputs), name=name, **attrs))

    def initializer(self, name: str, array: np.ndarray, dtype=np.float32) -> str:
        name = self.tmp(name)
        self.initializers.append(numpy_helper.from_array(np.asarray(array, dtype=dtype), name))
        return name

    def const(self, name: str, values, dtype=None) -> str:
        """A small constant (shapes, pads, scales); equal constants are stored once."""
        arr = np.asarray(values, dtype=dtype) if dtype is not None else np.asarray(values)
        key = (arr.dtype.str, arr.shape, arr.tobytes())
        if key not in self._consts:
            self._consts[key] = self.initializer(name, arr, arr.dtype)
        return self._consts[key]

    def graph_input(self, name: str, spec: TensorSpec) -> None:
        self._extra_specs[name] = spec
        self.inputs.append(helper.make_tensor_value_info(name, _DTYPES[spec.dtype], spec.shape))

    # ---- small op helpers several layers share ----------------------------------------------
    def reshape(self, x: str, shape: Sequence[int], name: str) -> str:
        out = self.tmp(name)
        self.node(
            "Reshape", [x, self.const(f"{name}.shape", list(shape), np.int64)], [out], name=name
        )
        return out

    def pad(self, x: str, out: str, pads: Sequence[int], name: str, value: float = 0.0) -> None:
        """ONNX Pad (constant); ``pads`` = all begins then all ends; negatives crop."""
        args = [x, self.const(f"{name}.pads", list(pads), np.int64)]
        if value != 0.0:
            args.append(self.const(f"{name}.value", np.float32(value)))
        self.node("Pad", args, [out], name=name, mode="constant")

    def slice(self, x: str, out: str, starts, ends, axes, name: str, steps=None) -> None:
        args = [
            x,
            self.const(f"{name}.starts", list(starts), np.int64),
            self.const(f"{name}.ends", list(ends), np.int64),
            self.const(f"{name}.axes", list(axes), np.int64),
        ]
        if steps is not None:
            args.append(self.const(f"{name}.steps", list(steps), np.int64))
        self.node("Slice", args, [out], name=name)


def ir_version_for(opset: int) -> int:
    """The oldest IR version that carries ``opset``: what onnxruntime reliably loads."""
    return helper.find_min_ir_version_for([helper.make_opsetid("", opset)])


def to_onnx(
    graph: Graph,
    opset: int = 17,
    extra_outputs: Iterable[str] = (),
    check: bool = True,
    isolate: bool = False,
) -> onnx.ModelProto:
    """Export ``graph`` as an ONNX model at ``opset`` (13 to 21).

    ``extra_outputs`` adds intermediate tensors as graph outputs (used to find the first
    diverging layer). With ``check`` the model goes through ``onnx.checker`` and strict shape
    inference, whose shapes must equal graphconv's.

    ``isolate`` cuts every edge: each layer reads its inputs from graph inputs named
    ``isolated_input(tensor)`` and every layer output is a graph output, so a caller can feed
    each layer exactly the values another backend computed (a layer-by-layer check).
    """
    if not MIN_OPSET <= int(opset) <= MAX_OPSET:
        raise ExportError(f"opset {opset} is not supported (choose {MIN_OPSET} to {MAX_OPSET})")
    check_size(graph)
    em = Emitter(graph, int(opset))
    fed: dict[str, str] = {}
    for layer in graph.layers:
        lt = layer.definition
        ins = list(layer.inputs)
        if isolate:
            for t in ins:
                if t not in fed and t not in graph.inputs:
                    fed[t] = em.tmp(isolated_input(t))
                    em.graph_input(fed[t], graph.specs[t])
            ins = [fed.get(t, t) for t in ins]
        try:
            lt.to_onnx(layer, em, ins, list(layer.outputs))
        except NotImplementedError:
            raise layer.error("has no ONNX export") from None
    if isolate:
        extra_outputs = [
            t for layer in graph.layers if not layer.definition.is_source for t in layer.outputs
        ]
    outs = list(dict.fromkeys([*graph.outputs, *extra_outputs]))
    vi = lambda t: helper.make_tensor_value_info(  # noqa: E731
        t, _DTYPES[graph.specs[t].dtype], graph.specs[t].shape
    )
    inner = [t for t in graph.specs if t not in outs and t not in graph.inputs]
    g = helper.make_graph(
        em.nodes,
        graph.name,
        em.inputs,
        [vi(t) for t in outs],
        initializer=em.initializers,
        value_info=[vi(t) for t in inner],
    )
    model = helper.make_model(
        g,
        opset_imports=[helper.make_opsetid("", int(opset))],
        producer_name="graphconv",
        ir_version=ir_version_for(int(opset)),
    )
    if check:
        check_model(model, graph)
    return model


def isolated_input(tensor: str) -> str:
    """Name of the graph input that feeds ``tensor`` in an isolated export."""
    return f"{tensor}@in"


def _structure_only(model: onnx.ModelProto, with_value_info: bool) -> onnx.ModelProto:
    """The model with its large float initializers turned into typed graph inputs: the same
    nodes, shapes and constants for the checker and shape inference, without copying the
    weights (FCN-8s's fc6 alone is 400 MB)."""
    g = model.graph
    small, typed = [], []
    for init in g.initializer:
        if init.data_type == TensorProto.FLOAT and np.prod(init.dims, dtype=np.int64) > 64:
            typed.append(helper.make_tensor_value_info(init.name, init.data_type, init.dims))
        else:
            small.append(init)
    outputs = list(g.output)
    if not with_value_info:  # same rank, unknown sizes: inference must find them
        outputs = [
            helper.make_tensor_value_info(
                o.name,
                o.type.tensor_type.elem_type,
                [f"{o.name}_d{i}" for i in range(len(o.type.tensor_type.shape.dim))],
            )
            for o in outputs
        ]
    light = helper.make_graph(
        list(g.node),
        g.name,
        list(g.input) + typed,
        outputs,
        initializer=small,
        value_info=list(g.value_info) if with_value_info else [],
    )
    return helper.make_model(
        light,
        opset_imports=list(model.opset_import),
        producer_name=model.producer_name,
        ir_version=model.ir_version,
    )


def check_model(model: onnx.ModelProto, graph: Graph) -> None:
    """onnx.checker + strict shape inference; onnx's shapes must equal the graph's.

    Shapes are inferred from scratch (value_info and output shapes removed) and every inferred
    shape must equal graphconv's, which is also what the exported value_info says.
    """
    light = _structure_only(model, False)
    try:
        onnx.checker.check_model(light)
        inferred = onnx.shape_inference.infer_shapes(
            light, check_type=True, strict_mode=True, data_prop=True
        )
    except Exception as e:  # noqa: BLE001 - onnx raises several unrelated types
        raise ExportError(f"exported model fails onnx's checks: {str(e).splitlines()[0]}") from e
    g = inferred.graph
    for v in list(g.value_info) + list(g.output):
        if v.name not in graph.specs:
            continue
        dims = v.type.tensor_type.shape.dim
        got = tuple(d.dim_value if d.HasField("dim_value") else None for d in dims)
        want = graph.specs[v.name].shape
        if got != want:
            layer = graph.producer[v.name]
            raise layer.error(f"onnx infers shape {got} for '{v.name}', graphconv {want}")


def op_census(model: onnx.ModelProto) -> dict[str, int]:
    """How many nodes of each ONNX op type the model holds (what a target runtime sees)."""
    counts: dict[str, int] = {}
    for node in model.graph.node:
        counts[node.op_type] = counts.get(node.op_type, 0) + 1
    return dict(sorted(counts.items()))


def census_line(model: onnx.ModelProto) -> str:
    return census_text(op_census(model))


def census_text(counts: dict[str, int]) -> str:
    return (
        f"{sum(counts.values())} ONNX nodes ("
        + ", ".join(f"{k} {v}" for k, v in counts.items())
        + ")"
    )


# protobuf serialises at most 2 GiB; the graph's structure needs a little of that room
PROTO_LIMIT = 2**31 - 2**24


def check_size(graph) -> None:
    """Refuse, before the export, a graph whose parameters cannot fit one ONNX protobuf."""
    total = sum(p.nbytes for layer in graph.layers for p in layer.params.values())
    if total > PROTO_LIMIT:
        raise ExportError(
            f"{graph.name}: its parameters take {total / 2**30:.2f} GiB; an ONNX file holds at "
            "most 2 GiB in one protobuf, and graphconv does not write ONNX external data yet "
            "(run and bench work; convert and validate need a model under 2 GiB)"
        )


def save(model: onnx.ModelProto, path: str, flag: str = "-o") -> None:
    """Write a model atomically (no partial file on failure), with the user's umask."""
    from .files import write_atomic

    write_atomic(path, lambda f: f.write(model.SerializeToString()), flag)
