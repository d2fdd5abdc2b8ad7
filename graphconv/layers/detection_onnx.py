"""ONNX emission of the SSD layers (:mod:`.detection` holds their meaning).

DetectionOutput as standard ops, per image ``n`` and foreground class ``f`` as one NMS batch
``b = n F + f``:

1. decode: the location predictions against the priors (Slice/Mul/Add/Exp/Concat);
2. candidates: TopK of each class's scores (``top_k``, else all priors), ties by lower index as
   the fork's stable sort, and their boxes (Gather); an inverted box is collapsed to no area,
   which, as in the fork's IoU, suppresses nothing and is never suppressed;
3. NonMaxSuppression on the ``N F`` batches of one class each (``score_threshold`` only when
   ``confidence_threshold`` is given; onnxruntime keeps scores above it, as the fork does);
4. the kept candidates' scores scattered into a dense ``(N, F K_c)`` table (-inf elsewhere);
   ``keep_top_k``: TopK per image marks the best; NonZero lists the survivors in row-major
   order, which is the fork's output order (image, label, NMS order);
5. rows ``[n, label, score, box]`` (Gather), padded with -1 rows to ``N K`` (Pad), reshaped.

Where onnxruntime can differ from the fork: the order NMS visits candidates of EQUAL score (the
fork: lower prior index first; onnxruntime's sort is not specified), which can change which of
two equal-scoring overlapping boxes is kept; and at ``keep_top_k`` a tie in score across the
boundary (the fork's ``std::sort`` is not stable either). IoU and decoding are float32 in both,
in different operation orders: a pair whose IoU is within rounding of the threshold can go
either way. Compare detections as sets with a tolerance (tests/oracles/detection.py).
"""

from __future__ import annotations

import numpy as np

from ..errors import ExportError

_INT = np.int64


def _op(em, kind: str, inputs, name: str, **attrs) -> str:
    out = em.tmp(name)
    em.node(kind, list(inputs), [out], name=name, **attrs)
    return out


def _slice(em, x: str, start: int, end: int, axis: int, name: str) -> str:
    out = em.tmp(name)
    em.slice(x, out, [start], [end], [axis], name=name)
    return out


def _reduce_sum_square(em, x: str, axes: list[int], name: str) -> str:
    if em.opset >= 18:
        return _op(
            em, "ReduceSumSquare", [x, em.const(f"{name}.axes", axes, _INT)], name, keepdims=1
        )
    return _op(em, "ReduceSumSquare", [x], name, axes=axes, keepdims=1)


def emit_normalize(layer, em, ins, outs) -> None:
    a, name = layer.attrs, layer.name
    rank = em.spec(ins[0]).rank
    axes = list(range(1, rank)) if a.across_spatial else [1]
    sq = _reduce_sum_square(em, ins[0], axes, f"{name}/sum_square")
    eps = _op(em, "Add", [sq, em.const(f"{name}.eps", np.float32(a.eps))], f"{name}/eps")
    norm = _op(em, "Sqrt", [eps], f"{name}/norm")
    unit = _op(em, "Div", [ins[0], norm], f"{name}/normalise")
    scale = layer.params["scale"].reshape((-1,) + (1,) * (rank - 2))
    em.node("Mul", [unit, em.initializer(f"{name}.scale", scale)], outs, name=f"{name}/scale")


def _decode(em, a, name: str, loc: str, priors: str) -> str:
    """Decoded boxes ``(N, P, L, 4)`` from ``loc (N, P, L, 4)`` and priors ``(2, P, 4)``."""
    half = em.const(f"{name}.half", np.float32(0.5))
    prior = _op(
        em,
        "Unsqueeze",
        [_slice(em, priors, 0, 1, 0, f"{name}/prior"), em.const(f"{name}.axis2", [2], _INT)],
        f"{name}/prior4",
    )
    lv = loc
    if not a.variance_encoded_in_target:
        var = _op(
            em,
            "Unsqueeze",
            [_slice(em, priors, 1, 2, 0, f"{name}/variance"), em.const(f"{name}.axis2", [2], _INT)],
            f"{name}/variance4",
        )
        lv = _op(em, "Mul", [loc, var], f"{name}/scaled_loc")
    if a.code_type == "CORNER":
        return _op(em, "Add", [prior, lv], f"{name}/decoded")
    lo, hi = (
        _slice(em, prior, s, s + 2, 3, f"{name}/prior_{w}") for s, w in ((0, "lo"), (2, "hi"))
    )
    wh = _op(em, "Sub", [hi, lo], f"{name}/prior_wh")
    if a.code_type == "CORNER_SIZE":
        whwh = _op(em, "Concat", [wh, wh], f"{name}/prior_whwh", axis=3)
        offset = _op(em, "Mul", [lv, whwh], f"{name}/offset")
        return _op(em, "Add", [prior, offset], f"{name}/decoded")
    centre_p = _op(
        em, "Mul", [_op(em, "Add", [lo, hi], f"{name}/prior_2c"), half], f"{name}/prior_c"
    )
    lxy, lwh = (_slice(em, lv, s, s + 2, 3, f"{name}/loc_{w}") for s, w in ((0, "xy"), (2, "wh")))
    centre = _op(
        em, "Add", [_op(em, "Mul", [lxy, wh], f"{name}/shift"), centre_p], f"{name}/centre"
    )
    size = _op(em, "Mul", [_op(em, "Exp", [lwh], f"{name}/exp"), wh], f"{name}/size")
    halfsize = _op(em, "Mul", [size, half], f"{name}/half_size")
    return _op(
        em,
        "Concat",
        [
            _op(em, "Sub", [centre, halfsize], f"{name}/min"),
            _op(em, "Add", [centre, halfsize], f"{name}/max"),
        ],
        f"{name}/decoded",
        axis=3,
    )


def emit_detection_output(layer, em, ins, outs, sizes) -> None:
    """(Long: the five steps of the module docstring, each a few ONNX nodes.)"""
    a, name = layer.attrs, layer.name
    n, p, cand, rows = sizes
    fg = a.foreground
    f = len(fg)
    if a.eta < 1:
        raise ExportError(
            f"layer '{name}' (DetectionOutput): adaptive NMS (eta {a.eta} < 1) has no ONNX "
            "equivalent (NonMaxSuppression's threshold is fixed)"
        )
    locs = 1 if a.share_location else a.num_classes
    c = lambda tag, v, dt=_INT: em.const(f"{name}.{tag}", v, dt)  # noqa: E731
    # 1. decode
    loc = em.reshape(ins[0], (n, p, locs, 4), f"{name}/loc")
    priors = em.reshape(ins[2], (2, p, 4), f"{name}/priors")
    boxes = _decode(em, a, name, loc, priors)
    # 2. candidates per (image, foreground class)
    conf = em.reshape(ins[1], (n, p, a.num_classes), f"{name}/conf")
    conf = _op(em, "Transpose", [conf], f"{name}/conf_by_class", perm=[0, 2, 1])
    conf = _op(em, "Gather", [conf, c("foreground", fg)], f"{name}/conf_fg", axis=1)
    conf = em.reshape(conf, (n * f, p), f"{name}/conf_rows")
    top_scores, top_index = em.tmp(f"{name}/cand_scores"), em.tmp(f"{name}/cand_index")
    em.node(
        "TopK",
        [conf, c("k", [cand])],
        [top_scores, top_index],
        name=f"{name}/candidates",
        axis=1,
        largest=1,
        sorted=1,
    )
    if a.share_location:
        table = em.reshape(boxes, (n * p, 4), f"{name}/box_table")
        base = np.repeat(np.arange(n) * p, f).reshape(n * f, 1)
    else:
        by_class = _op(em, "Transpose", [boxes], f"{name}/boxes_by_class", perm=[0, 2, 1, 3])
        by_class = _op(em, "Gather", [by_class, c("foreground", fg)], f"{name}/boxes_fg", axis=1)
        table = em.reshape(by_class, (n * f * p, 4), f"{name}/box_table")
        base = (np.arange(n * f) * p).reshape(n * f, 1)
    rows_index = _op(em, "Add", [top_index, c("row_base", base)], f"{name}/cand_rows")
    cand_boxes = _op(em, "Gather", [table, rows_index], f"{name}/cand_boxes", axis=0)
    lo = _slice(em, cand_boxes, 0, 2, 2, f"{name}/cand_lo")
    hi = _op(
        em, "Max", [_slice(em, cand_boxes, 2, 4, 2, f"{name}/cand_hi"), lo], f"{name}/cand_hi_fix"
    )
    nms_boxes = _op(em, "Concat", [lo, hi], f"{name}/nms_boxes", axis=2)
    # 3. NMS, one class per batch entry
    nms_in = [
        nms_boxes,
        em.reshape(top_scores, (n * f, 1, cand), f"{name}/nms_scores"),
        c("max_out", cand),
        em.const(f"{name}.iou", np.float32(a.nms_threshold)),
    ]
    if a.confidence_threshold is not None:
        nms_in.append(em.const(f"{name}.score_threshold", np.float32(a.confidence_threshold)))
    selected = _op(em, "NonMaxSuppression", nms_in, f"{name}/nms", center_point_box=0)
    batch = _op(em, "Gather", [selected, c("zero", 0)], f"{name}/sel_batch", axis=1)
    which = _op(em, "Gather", [selected, c("two", 2)], f"{name}/sel_box", axis=1)
    flat = _op(
        em,
        "Add",
        [_op(em, "Mul", [batch, c("cand", cand)], f"{name}/sel_base"), which],
        f"{name}/sel_flat",
    )
    # 4. dense table of kept scores, keep_top_k, survivors in the fork's order
    scores_flat = em.reshape(top_scores, (n * f * cand,), f"{name}/scores_flat")
    kept = _op(em, "Gather", [scores_flat, flat], f"{name}/sel_scores")
    empty = em.const(f"{name}.empty", np.full(n * f * cand, -np.inf, np.float32))
    dense = _op(em, "ScatterElements", [empty, flat, kept], f"{name}/dense", axis=0)
    dense = em.reshape(dense, (n, f * cand), f"{name}/dense_by_image")
    alive = _op(
        em, "Greater", [dense, em.const(f"{name}.minus_inf", np.float32(-np.inf))], f"{name}/alive"
    )
    if rows < f * cand:
        best_v, best_i = em.tmp(f"{name}/best_scores"), em.tmp(f"{name}/best_index")
        em.node(
            "TopK",
            [dense, c("keep", [rows])],
            [best_v, best_i],
            name=f"{name}/keep_top_k",
            axis=1,
            largest=1,
            sorted=1,
        )
        zeros = em.const(f"{name}.zeros", np.zeros((n, f * cand), np.float32))
        ones = em.const(f"{name}.ones", np.ones((n, rows), np.float32))
        marked = _op(em, "ScatterElements", [zeros, best_i, ones], f"{name}/marked", axis=1)
        top = _op(em, "Greater", [marked, em.const(f"{name}.half", np.float32(0.5))], f"{name}/top")
        alive = _op(em, "And", [alive, top], f"{name}/kept")
    where = _op(em, "NonZero", [alive], f"{name}/survivors")
    image, pos = (
        _op(em, "Gather", [where, c(tag, i)], f"{name}/{tag}", axis=0)
        for i, tag in ((0, "image"), (1, "position"))
    )
    index = _op(
        em,
        "Add",
        [_op(em, "Mul", [image, c("per_image", f * cand)], f"{name}/image_base"), pos],
        f"{name}/index",
    )
    # 5. rows, padded to N K
    label = _op(
        em,
        "Gather",
        [
            c("labels", np.asarray(fg, np.float32), np.float32),
            _op(em, "Div", [pos, c("cand", cand)], f"{name}/class_slot"),
        ],
        f"{name}/label",
    )
    score = _op(
        em,
        "Gather",
        [em.reshape(dense, (n * f * cand,), f"{name}/dense_flat"), index],
        f"{name}/score",
    )
    box = _op(
        em,
        "Gather",
        [em.reshape(cand_boxes, (n * f * cand, 4), f"{name}/cand_flat"), index],
        f"{name}/box",
        axis=0,
    )
    column = lambda t, tag: _op(em, "Unsqueeze", [t, c("axis1", [1])], f"{name}/{tag}_col")  # noqa: E731
    image_f = _op(em, "Cast", [image], f"{name}/image_f", to=1)  # FLOAT
    table7 = _op(
        em,
        "Concat",
        [column(image_f, "image"), column(label, "label"), column(score, "score"), box],
        f"{name}/rows",
        axis=1,
    )
    count = _slice(em, _op(em, "Shape", [table7], f"{name}/shape7"), 0, 1, 0, f"{name}/count")
    missing = _op(em, "Sub", [c("rows", [n * rows]), count], f"{name}/missing")
    pads = _op(
        em, "Concat", [c("pad_begin", [0, 0]), missing, c("pad_end", [0])], f"{name}/pads", axis=0
    )
    padded = _op(
        em,
        "Pad",
        [table7, pads, em.const(f"{name}.fill", np.float32(-1.0))],
        f"{name}/padded",
        mode="constant",
    )
    em.node("Reshape", [padded, c("shape", [1, 1, n * rows, 7])], outs, name=f"{name}/shape")
