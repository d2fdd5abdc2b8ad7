"""What ONNX requires of a graph before any node is translated, in ONNX's own terms.

The checks ``onnx.checker`` makes on structure (a supported default-domain opset, single static
assignment, nodes in topological order, no cycle, outputs that exist, initializers whose data
agree with their type and dims), each as one :class:`ParseError` naming the file, the node or
tensor, and the rule. The translator then never meets a tensor it cannot find or an
initializer it cannot decode.
"""

from __future__ import annotations

import math

import networkx as nx
import onnx

from ...errors import ParseError, quote

# The default-domain opsets read: from 6 (ONNX's pytorch-converted cases, run by the conformance
# tests, are at 6; older opsets had other attribute forms) to the newest the installed
# onnx package defines (ONNX's own node cases, run by tests/test_onnx_conformance.py, are
# generated at those newest versions); opset 1 or 99 is refused by name.
MIN_OPSET, MAX_OPSET = 6, onnx.defs.onnx_opset_version()


def check_structure(model: onnx.ModelProto, source: str | None) -> None:
    """Raise a ParseError for the first structural problem of ``model``."""
    graph = model.graph
    opsets = [o.version for o in model.opset_import if o.domain in ("", "ai.onnx")]
    if opsets and not MIN_OPSET <= opsets[0] <= MAX_OPSET:
        raise ParseError(
            f"the model imports opset {opsets[0]} of the default ONNX domain; graphconv reads "
            f"opsets {MIN_OPSET} to {MAX_OPSET}",
            file=source,
        )
    if not graph.output:
        raise ParseError("the graph has no outputs (ONNX requires at least one)", file=source)
    for init in graph.initializer:
        _check_initializer(init, source)
    defined = {i.name for i in graph.initializer} | {i.name for i in graph.input}
    producer: dict[str, int] = {}
    for index, node in enumerate(graph.node):
        outs = [o for o in node.output if o]
        if not outs:
            raise ParseError(f"{_node(node, index)} has no outputs", file=source)
        for out in outs:
            if out in producer or out in defined:
                raise ParseError(
                    f"the graph is not in single static assignment (SSA) form: tensor "
                    f"'{quote(out)}' is assigned more than once ({_node(node, index)})",
                    file=source,
                )
            producer[out] = index
    available = set(defined)
    for index, node in enumerate(graph.node):
        for name in node.input:
            if not name or name in available:
                continue
            if name not in producer:
                raise ParseError(
                    f"{_node(node, index)} reads tensor '{quote(name)}', which no node, "
                    "initializer or graph input defines",
                    file=source,
                )
            cycle = _cycle(graph, producer)
            if cycle:
                raise ParseError(
                    "the nodes form a cycle: "
                    + " -> ".join(_node(graph.node[i], i) for i in cycle + cycle[:1]),
                    file=source,
                )
            raise ParseError(
                f"the nodes are not in topological order (ONNX requires it): "
                f"{_node(node, index)} reads '{quote(name)}' before "
                f"{_node(graph.node[producer[name]], producer[name])} makes it",
                file=source,
            )
        available.update(o for o in node.output if o)
    for out in graph.output:
        if out.name not in available:
            raise ParseError(
                f"graph output '{quote(out.name)}' is not made by any node, initializer or input",
                file=source,
            )


def _node(node: onnx.NodeProto, index: int) -> str:
    name = f"'{quote(node.name)}' " if node.name else ""
    return f"node {name}#{index} ({quote(node.op_type, 40)})"


def _cycle(graph: onnx.GraphProto, producer: dict[str, int]) -> list[int]:
    g = nx.DiGraph()
    for index, node in enumerate(graph.node):
        g.add_node(index)
        g.add_edges_from((producer[t], index) for t in node.input if t in producer)
    try:
        return [u for u, _ in nx.find_cycle(g)]
    except nx.NetworkXNoCycle:
        return []


def _check_initializer(init: onnx.TensorProto, source: str | None) -> None:
    where = f"initializer '{quote(init.name)}'"
    if any(d < 0 for d in init.dims):
        raise ParseError(f"{where} has negative dims {list(init.dims)}", file=source)
    try:
        dtype = onnx.helper.tensor_dtype_to_np_dtype(init.data_type)
    except (KeyError, ValueError):
        raise ParseError(f"{where} has unknown data type {init.data_type}", file=source) from None
    if init.data_location == onnx.TensorProto.EXTERNAL:
        return  # onnx.load read (or refused) the external file already
    count = math.prod(init.dims)
    if init.HasField("raw_data"):
        want = count * dtype.itemsize
        if init.data_type == onnx.TensorProto.STRING or len(init.raw_data) == want:
            return
        raise ParseError(
            f"{where}: raw_data holds {len(init.raw_data):,} bytes, but dims "
            f"{list(init.dims)} of {onnx.TensorProto.DataType.Name(init.data_type)} need {want:,}",
            file=source,
        )
    field = onnx.helper.tensor_dtype_to_field(init.data_type)
    have = len(getattr(init, field))
    per = 2 if init.data_type in (onnx.TensorProto.COMPLEX64, onnx.TensorProto.COMPLEX128) else 1
    packed = init.data_type in (onnx.TensorProto.INT4, onnx.TensorProto.UINT4)
    if packed or have == count * per:
        return
    raise ParseError(
        f"{where}: holds {have:,} values in {field}, but dims {list(init.dims)} need "
        f"{count * per:,}",
        file=source,
    )
