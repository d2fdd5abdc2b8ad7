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

from .errors import ExportError, GraphconvError
from .ir import Graph, TensorSpec, unique_name
from .memory import param_bytes

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
    dynamic_batch: bool = False,
) -> onnx.ModelProto:
    """Export ``graph`` as an ONNX model at ``opset`` (13 to 21).

    ``extra_outputs`` adds intermediate tensors as graph outputs (used to find the first
    diverging layer). With ``check`` the model goes through ``onnx.checker`` and strict shape
    inference, whose shapes must equal graphconv's.

    ``isolate`` cuts every edge: each layer reads its inputs from graph inputs named
    ``isolated_input(tensor)`` and every layer output is a graph output, so a caller can feed
    each layer exactly the values another backend computed (a layer-by-layer check).

    ``dynamic_batch`` gives the inputs and outputs a symbolic first dimension ``N`` and
    computes every shape that holds the batch from the input (see :func:`_dynamic_batch`).
    """
    if dynamic_batch:
        if isolate or list(extra_outputs):
            raise ExportError("dynamic_batch exports the graph's own inputs and outputs only")
        if not MIN_OPSET <= int(opset) <= MAX_OPSET:
            raise ExportError(f"opset {opset} is not supported (choose {MIN_OPSET} to {MAX_OPSET})")
        return _dynamic_batch(graph, int(opset), check)
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
    total = param_bytes(graph)
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


# ---- dynamic batch ------------------------------------------------------------------------------

BATCH_DIM = "N"


def batch_size(graph: Graph) -> int:
    """The first dimension every graph input shares (the batch); ExportError when they differ."""
    sizes = {spec.shape[0] for spec in graph.inputs.values()}
    if len(sizes) != 1:
        shown = ", ".join(f"'{k}' {v}" for k, v in graph.inputs.items())
        raise ExportError(f"a dynamic batch needs one first dimension on every input: {shown}")
    return sizes.pop()


def with_batch(graph: Graph, batch: int) -> Graph:
    """``graph`` with every input's first dimension set to ``batch``, shapes inferred again.

    A layer type may define ``rebatch_attrs(attrs, old_input_specs, new_input_specs)`` for
    attributes that restate its input's batch (a Reshape's target shape, a Resize's sizes);
    every other attribute is kept. A layer whose attributes fix the old batch then fails its
    shape rule, which is reported as an ExportError naming it.
    """
    import dataclasses

    from .ir import infer_layer

    layers, old, new = [], graph.specs, {}
    for layer in graph.layers:
        lt = layer.definition
        if lt.is_source:
            spec = old[layer.outputs[0]]
            layer = layer.replace(
                attrs=dataclasses.replace(layer.attrs, shape=(batch, *spec.shape[1:]))
            )
        else:
            hook = getattr(lt, "rebatch_attrs", None)
            if hook is not None:
                attrs = hook(
                    layer.attrs, [old[t] for t in layer.inputs], [new[t] for t in layer.inputs]
                )
                if attrs is not layer.attrs:
                    layer = layer.replace(attrs=attrs)
        try:
            specs = infer_layer(layer, [new[t] for t in layer.inputs])
        except GraphconvError as e:
            raise ExportError(
                f"the graph does not take batch {batch} (its attributes fix the batch): {e}"
            ) from None
        new.update(zip(layer.outputs, specs))
        layers.append(layer)
    return Graph(tuple(layers), graph.outputs, graph.name, graph.notes, reuse=new)


def _batch_free(a: TensorSpec, b: TensorSpec) -> bool:
    return a.shape == b.shape


def _batch_major(a: TensorSpec, b: TensorSpec, n: int, n2: int) -> bool:
    return a.shape[:1] == (n,) and b.shape[:1] == (n2,) and a.shape[1:] == b.shape[1:]


def _dynamic_batch(graph: Graph, opset: int, check: bool) -> onnx.ModelProto:
    """The export of ``graph`` with a symbolic first dimension ``N`` on its inputs.

    The graph is exported twice, at its batch ``n`` and at ``n + 1`` (:func:`with_batch`); the
    two models must have the same nodes and attributes. An integer initializer that differs
    between them in exactly one element ``k``, holding ``c * n`` and ``c * (n + 1)`` (a shape
    fed to Reshape, Resize, ConstantOfShape, ...), becomes ``Concat(v[:k], c * N, v[k+1:])``
    computed from the first input's Shape; anything else that depends on the batch (a float
    constant, an attribute, a non-linear use) is an ExportError naming the node.
    (Long: the comparison of the two exports and the rewrite of every use.)
    """
    n = batch_size(graph)
    n2 = n + 1
    other = with_batch(graph, n2)
    base = to_onnx(graph, opset, check=False)
    probe = to_onnx(other, opset, check=False)
    ga, gb = base.graph, probe.graph
    inits_a = {i.name: i for i in ga.initializer}
    inits_b = {i.name: numpy_helper.to_array(i) for i in gb.initializer}
    if len(ga.node) != len(gb.node):
        raise ExportError(
            f"the export has {len(ga.node)} nodes at batch {n}, {len(gb.node)} at {n2}"
        )
    first = next(iter(graph.inputs))
    names = {t for node in ga.node for t in (*node.input, *node.output)} | set(inits_a)
    prelude: list[onnx.NodeProto] = []
    extra: list[onnx.TensorProto] = []
    made: dict[tuple, str] = {}

    def fresh(hint: str) -> str:
        return unique_name(hint, names)

    def batch_tensor() -> str:
        if "batch" not in made:
            shape, out = fresh(f"{first}/shape"), fresh(f"{first}/batch")
            prelude.append(helper.make_node("Shape", [first], [shape], name=shape))
            idx = fresh("batch.index")
            extra.append(numpy_helper.from_array(np.array([0], np.int64), idx))
            prelude.append(helper.make_node("Gather", [shape, idx], [out], name=out, axis=0))
            made["batch"] = out
        return made["batch"]

    def dynamic(value: np.ndarray, k: int, c: int, hint: str) -> str:
        key = (value.tobytes(), k, c)
        if key in made:
            return made[key]
        parts = []
        for piece, what in ((value[:k], "head"), (value[k + 1 :], "tail")):
            if piece.size:
                name = fresh(f"{hint}.{what}")
                extra.append(numpy_helper.from_array(piece.astype(np.int64), name))
                parts.append(name)
        scaled = batch_tensor()
        if c != 1:
            factor, scaled = fresh(f"{hint}.per_sample"), fresh(f"{hint}/scaled")
            extra.append(numpy_helper.from_array(np.array([c], np.int64), factor))
            prelude.append(helper.make_node("Mul", [batch_tensor(), factor], [scaled], name=scaled))
        parts.insert(1 if k > 0 else 0, scaled)
        out = fresh(f"{hint}/dynamic")
        prelude.append(helper.make_node("Concat", parts, [out], name=out, axis=0))
        made[key] = out
        return out

    for na, nb in zip(ga.node, gb.node):
        where = f"node '{na.name}' ({na.op_type})"
        if na.op_type != nb.op_type or [a.SerializeToString() for a in na.attribute] != [
            b.SerializeToString() for b in nb.attribute
        ]:
            raise ExportError(f"{where} has other attributes at batch {n2}: it fixes the batch")
        for j, (x, y) in enumerate(zip(na.input, nb.input)):
            if x not in inits_a:
                continue
            va, vb = numpy_helper.to_array(inits_a[x]), inits_b.get(y)
            if vb is not None and va.shape == vb.shape and np.array_equal(va, vb):
                continue
            diff = np.flatnonzero(va != vb) if vb is not None and va.shape == vb.shape else []
            if va.dtype != np.int64 or va.ndim != 1 or len(diff) != 1:
                raise ExportError(f"{where}: input {j} ('{x}') depends on the batch size")
            k = int(diff[0])
            c = int(va[k]) // n
            if c * n != va[k] or c * n2 != vb[k]:
                raise ExportError(f"{where}: input {j} ('{x}') is not a multiple of the batch")
            na.input[j] = dynamic(va, k, c, x)

    def info(t: str, with_shape: bool = True):
        a, b = graph.specs[t], other.specs[t]
        if _batch_free(a, b):
            return helper.make_tensor_value_info(t, _DTYPES[a.dtype], a.shape)
        if _batch_major(a, b, n, n2):
            return helper.make_tensor_value_info(t, _DTYPES[a.dtype], (BATCH_DIM, *a.shape[1:]))
        return None

    outputs = []
    for t in graph.outputs:
        vi = info(t)
        if vi is None:
            raise ExportError(
                f"output '{t}' has shape {graph.specs[t]} at batch {n} and "
                f"{other.specs[t]} at {n2}: its first axis is not the batch"
            )
        outputs.append(vi)
    inputs = [info(t) for t in graph.inputs]
    inner = [t for t in graph.specs if t not in graph.outputs and t not in graph.inputs]
    g = helper.make_graph(
        prelude + list(ga.node),
        graph.name,
        inputs,
        outputs,
        initializer=list(ga.initializer) + extra,
        value_info=[vi for vi in (info(t) for t in inner) if vi is not None],
    )
    model = helper.make_model(
        g,
        opset_imports=[helper.make_opsetid("", opset)],
        producer_name="graphconv",
        ir_version=ir_version_for(opset),
    )
    if check:
        _check_dynamic(model, graph, other)
    return model


def _check_dynamic(model: onnx.ModelProto, graph: Graph, other: Graph) -> None:
    """onnx.checker and strict shape inference; where onnx infers an output dimension it must be
    graphconv's (never a number where graphconv's is the batch ``N``). Shapes computed from the
    input's Shape can leave onnx's inference without a value: onnxruntime runs (tests at two
    batch sizes) are the check of the numbers."""
    light = _structure_only(model, False)
    try:
        onnx.checker.check_model(light)
        inferred = onnx.shape_inference.infer_shapes(
            light, check_type=True, strict_mode=True, data_prop=True
        )
    except Exception as e:  # noqa: BLE001 - onnx raises several unrelated types
        raise ExportError(f"exported model fails onnx's checks: {str(e).splitlines()[0]}") from e
    for v in inferred.graph.output:
        dims = v.type.tensor_type.shape.dim
        got = tuple(d.dim_value if d.HasField("dim_value") else None for d in dims)
        want = graph.specs[v.name].shape
        if graph.specs[v.name] != other.specs[v.name]:
            want = (None, *want[1:])
        if len(got) != len(want) or any(g != w for g, w in zip(got, want) if g is not None):
            raise ExportError(f"onnx infers shape {got} for output '{v.name}', graphconv {want}")
