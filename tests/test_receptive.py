"""Receptive fields (graphconv.receptive) against an empirical oracle run in the interpreter.

The oracle: give every weight a positive value and every bias, mean and shift zero, so each
layer (convolution, pooling, ReLU, PReLU, BatchNorm, Eltwise SUM, Concat, ...) maps a
non-negative input to a non-negative output that is positive wherever some input it reads is
positive. Then light up one input row (every channel, every column) per batch item: an output
row changed from the all-zero input exactly when the lit row is one it can see. That gives,
for every output row, the set of input rows that can change it: the field along that axis,
found without the formulas (one batch item per input row, then per column).
"""

from __future__ import annotations

import dataclasses
import math
import time
from fractions import Fraction

import numpy as np
import pytest
from helpers import ROOT, ZOO, load_unweighted, zoo_files

import graphconv as gc
from graphconv import ConvAttrs, DeconvAttrs, GraphBuilder
from graphconv.analysis import total_macs
from graphconv.ir import Graph, infer_layer
from graphconv.layers.tensor import InputAttrs
from graphconv.receptive import (
    Field,
    NoField,
    describe,
    layer_fields,
    missing_rules,
    receptive_fields,
)

# ---- the empirical oracle -----------------------------------------------------------------------


def _positive(key: str, shape) -> np.ndarray:
    if key in ("bias", "mean", "shift"):
        return np.zeros(shape, np.float32)
    if key == "weight":
        return np.full(shape, 1.0 / max(1, math.prod(shape[1:])), np.float32)
    if key == "slope":
        return np.full(shape, 0.5, np.float32)
    return np.ones(shape, np.float32)  # variance, scale, scale factors


def oracle_graph(graph: Graph, tensors, batch: int, spatial=None, width=None) -> Graph:
    """The layers ``tensors`` depend on, with weights 1 / fan-in (> 0), slopes 1/2, scales and
    variances 1, biases, means, shifts and Power's shift 0 (every layer is then monotone and
    zero-preserving),
    the input batch ``batch`` and spatial size ``spatial``, and, with ``width`` (a multiple of
    every group count), at most that many output channels per layer, depthwise ones as many
    as their input (channels do not move samples in space; this keeps VGG-sized nets quick)."""
    need = set(tensors)
    keep = []
    for layer in reversed(graph.layers):
        if need & set(layer.outputs):
            keep.append(layer)
            need |= set(layer.inputs)
    specs, layers = {}, []
    for layer in reversed(keep):
        a = layer.attrs
        if layer.type == "Input":
            a = InputAttrs(shape=(batch,) + a.shape[1:2] + tuple(spatial or a.shape[2:]))
        elif layer.type == "Power":  # (shift + scale x)^power: keep 0 at 0, increasing
            a = dataclasses.replace(a, shift=0.0, scale=abs(a.scale) or 1.0)
        elif width and getattr(a, "num_output", 0) > width:
            group = getattr(a, "group", 1)
            if group > 1 and group == a.num_output == graph.specs[layer.inputs[0]].shape[1]:
                group = ins_channels = specs[layer.inputs[0]].shape[1]  # depthwise stays so
                a = dataclasses.replace(a, num_output=ins_channels, group=group)
            elif width % group == 0:
                a = dataclasses.replace(a, num_output=width)
        ins = [specs[t] for t in layer.inputs]
        shapes = layer.definition.param_shapes(a, ins)
        new = layer.replace(attrs=a, params={k: _positive(k, v) for k, v in shapes.items()})
        specs.update(zip(new.outputs, infer_layer(new, ins)))
        layers.append(new)
    return Graph(tuple(layers), tuple(tensors), graph.name, reuse=specs)


def empirical_rows(graph: Graph, tensors, axis: int, width=None) -> dict[str, list]:
    """Per tensor, per output position along spatial ``axis`` (0-based): the first and last
    input position that changes it (None: none does), found by lighting one input position
    along that axis per batch item. Other spatial axes: the middle output position."""
    ((name, spec),) = graph.inputs.items()
    n = spec.shape[2 + axis]
    batch = np.zeros((n + 1,) + spec.shape[1:], np.float32)  # item n: the all-zero input
    for i in range(n):
        index = [i, slice(None)] + [slice(None)] * (spec.rank - 2)
        index[2 + axis] = i
        batch[tuple(index)] = 1.0
    g = oracle_graph(graph, tensors, n + 1, width=width)
    outs = gc.run(g, {name: batch}, outputs=list(tensors))
    found = {}
    for t in tensors:
        y = outs[t]
        index = [slice(None), slice(None)] + [s // 2 for s in y.shape[2:]]
        index[2 + axis] = slice(None)
        y = y[tuple(index)]  # (batch, C, positions)
        changed = (y[:n] != y[n : n + 1]).any(axis=1)  # (input position, output position)
        rows = []
        for o in range(changed.shape[1]):
            hit = np.flatnonzero(changed[:, o])
            rows.append((int(hit[0]), int(hit[-1])) if hit.size else None)
        found[t] = rows
    return found


def assert_agrees(graph: Graph, tensors, fields, axis: int, width=None) -> int:
    """Every output position's empirical first and last input lie within the analytic bounds
    (clipped to the input). Where those bounds lie inside the input unclipped, they are also
    tight: equal when the field is exact, within the envelope's slack otherwise. (At a border
    a window hanging past the end of an intermediate tensor, as Caffe's CEIL pooling makes, or
    the padding, reads fewer samples than the formula allows.) Returns the interior checks."""
    n = next(iter(graph.inputs.values())).shape[2 + axis]
    found = empirical_rows(graph, tensors, axis, width)
    interior = 0
    for t in tensors:
        a = fields[t].axes[axis]
        for o, rows in enumerate(found[t]):
            lo, hi = a.bounds(o)
            inside = lo >= 0 and hi <= n - 1
            if rows is None:  # nothing reaches it: only possible at a border
                assert not inside or a.slack, (t, o, lo, hi, describe(fields[t]))
                continue
            first, last = rows
            msg = (t, axis, o, rows, (lo, hi), describe(fields[t]), a.slack)
            assert lo <= first and last <= hi, msg
            if inside:
                assert first <= lo + a.slack and hi - a.slack <= last, msg
                interior += 1
    return interior


# ---- the seeds' claims --------------------------------------------------------------------------


def _stack(dilations, size, n=2, kernel=3):
    b = GraphBuilder("stack")
    x = b.input("x", (1, 1) + (size,) * n)
    for d in dilations:
        x = b.add(
            "Convolution", x, ConvAttrs(num_output=1, kernel=(kernel,) * n, dilation=d, bias=False)
        )
    return b.build()


def _positions(graph: Graph, tensor: str) -> set[tuple[int, ...]]:
    """Every input position that changes the middle output (one batch item per position)."""
    ((name, spec),) = graph.inputs.items()
    cells = math.prod(spec.shape[2:])
    batch = np.zeros((cells + 1,) + spec.shape[1:], np.float32)
    for i, pos in enumerate(np.ndindex(*spec.shape[2:])):
        batch[(i, slice(None)) + pos] = 1.0
    y = gc.run(oracle_graph(graph, [tensor], cells + 1), {name: batch})[tensor]
    mid = tuple(s // 2 for s in y.shape[2:])
    col = y[(slice(None), 0) + mid]
    return {pos for i, pos in enumerate(np.ndindex(*spec.shape[2:])) if col[i] != col[cells]}


def test_dilated_3x3_sees_5x5_with_9_weights():
    g = _stack([2], 9)
    (conv,) = [la for la in g.layers if la.type == "Convolution"]
    field = layer_fields(g)[conv.name]
    assert field.sizes() == (5, 5) and field.exact
    assert conv.params["weight"].size == 9
    seen = _positions(g, conv.outputs[0])  # output (2, 2) of a 5x5 output
    assert seen == {(2 + 2 * i, 2 + 2 * j) for i in range(3) for j in range(3)}
    rows = sorted({p[0] for p in seen})
    assert rows[-1] - rows[0] + 1 == 5


def test_stacked_dilations_1_2_4_see_15x15():
    g = _stack([1, 2, 4], 21)
    last = g.layers[-1]
    field = layer_fields(g)[last.name]
    assert field.sizes() == (15, 15) and field.exact
    assert [a.start for a in field.axes] == [0, 0]
    seen = _positions(g, last.outputs[0])  # output (3, 3) of 7x7: inputs 3..17
    assert seen == {(i, j) for i in range(3, 18) for j in range(3, 18)}  # dense: no holes


def test_wavenet_sees_31_samples():
    g = gc.load(ROOT / "models" / "wavenet_dilated_1d.prototxt")
    fields = layer_fields(g)
    assert fields["logits"].sizes() == (31,)
    assert fields["logits"].axes[0].start == -15  # pad == dilation: centred
    g = oracle_graph(g, ["logits", "dil4", "dil2"], 1, (64,))
    # interior outputs (the field inside the 64 samples): 64 - 30, 64 - 14 and 64 - 6
    assert assert_agrees(g, ["logits", "dil4", "dil2"], receptive_fields(g), 0) == 34 + 50 + 58


def test_every_layer_type_has_a_rule():
    assert missing_rules() == []


@pytest.mark.parametrize(
    "k,s,p,d,size",
    [(4, 2, 1, 1, 9), (3, 2, 1, 1, 8), (16, 8, 4, 1, 14), (3, 3, 0, 2, 7), (5, 2, 2, 3, 24)],
)
def test_deconv_envelope_against_the_interpreter(k, s, p, d, size):
    b = GraphBuilder("up")
    x = b.input("x", (1, 2, size))
    y = b.add("Convolution", x, ConvAttrs(num_output=2, kernel=(3,), pads=1, stride=2))
    b.add("Deconvolution", y, DeconvAttrs(num_output=2, kernel=(k,), stride=s, pads=p, dilation=d))
    g = b.build()
    fields = receptive_fields(g)
    out = g.layers[-1].outputs[0]
    assert fields[out].axes[0].jump == Fraction(2, s)
    assert assert_agrees(g, [out], fields, 0) > 0


def test_pointwise_and_spatial_merges():
    g = gc.load(ROOT / "models" / "upsample_vs_deconv.prototxt")
    fields = layer_fields(g)
    assert fields["nearest"].axes[0].jump == 1 and not fields["nearest"].exact
    # interior outputs: fields [o-3, o+2] and [o-4, o+3] inside 40 samples: 35 and 33
    assert assert_agrees(g, ["head_nearest", "head_learned"], receptive_fields(g), 1) == 35 + 33


# ---- every caffe-zoo model, on chosen layers -----------------------------------------------------

# The oracle runs at these input sizes (one batch item per row or column) and at most
# width(graph) channels per layer; graphs are cut at the chosen tensors and shapes inferred again.
MAC_BUDGET = 1.5e9  # per axis, batch included: well under a second in NumPy
ORACLE_SIZE = {
    "fyu__dilation": (200, 200),  # unpadded VGG: conv5 needs a large input
    "shelhamer__fcn": (32, 32),  # conv1_1 pads 100 on each side
}
UNMONOTONE = ("Softmax", "ArgMax", "Sigmoid")  # a constant input can saturate them
# after a max-unpooling, one input pattern shows only the argmax it picked, not every one it could
AFTER_UNPOOL = "MaxUnpool"


def width(graph: Graph) -> int:
    """The fewest channels every grouped (not depthwise) layer of ``graph`` can divide."""
    w = 1
    for layer in graph.layers:
        group = getattr(layer.attrs, "group", 1)
        if 1 < group < graph.specs[layer.inputs[0]].shape[1]:
            w = math.lcm(w, group)
    return w


def _choose(graph: Graph, fields, size) -> list[str]:
    """Two tensors: the deepest with a field whose cut graph runs at ``size`` within the MAC
    budget, and the deepest such whose field fits in half the input; layers the oracle cannot
    see through are skipped."""
    tainted: set[str] = set()
    candidates = []
    for layer in graph.layers:
        if layer.type == AFTER_UNPOOL or tainted & set(layer.inputs):
            tainted.update(layer.outputs)
            continue
        t = layer.outputs[0]
        if layer.type in UNMONOTONE or layer.type == "Input" or not isinstance(fields[t], Field):
            continue
        candidates.append(t)
    chosen: list[str] = []
    for t in reversed(candidates):
        if chosen and max(fields[t].sizes()) > size[0] // 2:
            continue
        try:
            g = oracle_graph(graph, chosen + [t], 1, size, width(graph))
        except gc.GraphconvError:  # a fixed-size window (PSPNet's pyramid) needs the full input
            continue
        if total_macs(g) * (size[0] + 1) <= MAC_BUDGET:
            chosen.append(t)
        if len(chosen) == 2:
            break
    return chosen


def _zoo():
    return zoo_files() if ZOO.is_dir() else [None]


@pytest.mark.parametrize(
    "path", _zoo(), ids=lambda p: p.stem.split("__", 1)[1][:40] if p else "none"
)
def test_zoo_fields_match_the_interpreter(path):
    if path is None:
        zoo_files()
    t0 = time.perf_counter()
    size = next((v for k, v in ORACLE_SIZE.items() if path.name.startswith(k)), (64, 64))
    graph = load_unweighted(path, _full_size(path))  # the oracle sets its own weights
    tensors = _choose(graph, receptive_fields(graph), size)
    assert tensors, "no layer to check"
    small = oracle_graph(graph, tensors, 1, size, width(graph))
    fields = receptive_fields(small)
    interior = [assert_agrees(small, tensors, fields, axis, width(graph)) for axis in (0, 1)]
    assert min(interior) >= 1, (tensors, interior)
    assert time.perf_counter() - t0 < 15, "keep the oracle quick"


def _full_size(path):
    if path.name.startswith(("BVLC", "forresti")):
        return {"data": (1, 3, 227, 227)}  # batch 10 in the deploy files
    return None


def test_no_field_reasons():
    g = gc.load(ROOT / "models" / "fcn_tiny.prototxt")
    b = GraphBuilder("fc")
    x = b.input("x", (1, 2, 8, 8))
    b.add("InnerProduct", x, gc.InnerProductAttrs(num_output=3))
    f = layer_fields(b.build())
    assert isinstance(f[list(f)[-1]], NoField)
    assert "n/a" in describe(f[list(f)[-1]])
    assert isinstance(layer_fields(g)["score"], Field)


def test_layers_that_mix_positions_have_no_field():
    b = GraphBuilder("mix")
    x = b.input("x", (1, 2, 8, 8))
    bn = b.add("BatchNorm", x, gc.BatchNormAttrs(statistics="batch"))
    sm = b.add("Softmax", x, gc.SoftmaxAttrs(axis=2))
    cat = b.add("Concat", [x, x], gc.ConcatAttrs(axis=3))
    ok = b.add("Softmax", x, gc.SoftmaxAttrs(axis=1))
    fields = receptive_fields(b.build([bn, sm, cat, ok]))
    assert "batch statistics" in fields[bn].reason
    assert "spatial axis 2" in fields[sm].reason
    assert "spatial axis" in fields[cat].reason
    assert fields[ok].sizes() == (1, 1)


def test_slices_and_crops_shift_the_start():
    b = GraphBuilder("shift")
    x = b.input("x", (1, 2, 12, 12))
    y = b.add("Convolution", x, ConvAttrs(num_output=2, kernel=(3, 3), stride=2))
    top, bottom = b.add(
        "Slice", y, gc.SliceAttrs(num_outputs=2, axis=2, slice_points=(2,)), n_outputs=2
    )
    g = b.build([top, bottom])
    fields = receptive_fields(g)
    assert fields[bottom].axes[0].start == 4 and fields[bottom].axes[1].start == 0  # 2 rows x 2
    assert fields[top].axes[0].start == 0
    assert assert_agrees(g, [bottom], fields, 0) > 0


@pytest.mark.parametrize("names", [["upsample-to-deconv", "deconv-to-conv"], ["dilated-to-dense"]])
def test_lowered_graphs_against_the_interpreter(names):
    """After a lowering the fields hold as well (zero insertion leaves positions that read
    nothing: later windows may end on them)."""
    from graphconv.passes import apply

    for model in ("upsample_vs_deconv", "fcn_tiny", "wavenet_dilated_1d"):
        g = apply(gc.load(ROOT / "models" / f"{model}.prototxt"), names)
        fields = receptive_fields(g)
        assert all(isinstance(fields[t], Field) for t in g.outputs)
        assert assert_agrees(g, list(g.outputs), fields, 0) > 0


def test_subpixel_interleave_has_no_field():
    """deconv-to-subpixel interleaves its phases with Reshape/Permute: not followed (n/a)."""
    from graphconv.passes import apply

    g = apply(gc.load(ROOT / "models" / "fcn_tiny.prototxt"), ["deconv-to-subpixel"])
    assert "Reshape" in receptive_fields(g)["score"].reason
