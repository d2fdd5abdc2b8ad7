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
    """DetectionOutput as the five steps of the module docstring."""
    a, name = layer.attrs, layer.name
    if a.eta < 1:
        raise ExportError(
            f"layer '{name}' (DetectionOutput): adaptive NMS (eta {a.eta} < 1) has no ONNX "
            "equivalent (NonMaxSuppression's threshold is fixed)"
        )
    n, p, _, _ = sizes
    locs = 1 if a.share_location else a.num_classes
    loc = em.reshape(ins[0], (n, p, locs, 4), f"{name}/loc")
    priors = em.reshape(ins[2], (2, p, 4), f"{name}/priors")
    boxes = _decode(em, a, name, loc, priors)
    steps = _Steps(em, a, name, sizes)
    scores, cand_boxes = steps.candidates(ins[1], boxes)
    dense = steps.kept_scores(scores, cand_boxes)
    image, pos = steps.survivors(dense)
    steps.rows(image, pos, dense, cand_boxes, outs)


class _Steps:
    """Steps 2 to 5 of the module docstring; ``F`` foreground classes, ``K_c`` candidates per
    class, ``K`` rows per image."""

    def __init__(self, em, a, name: str, sizes):
        self.em, self.a, self.name = em, a, name
        self.n, self.p, self.cand, self.rows_per_image = sizes
        self.fg = a.foreground
        self.f = len(self.fg)

    def c(self, tag: str, value, dtype=_INT) -> str:
        return self.em.const(f"{self.name}.{tag}", value, dtype)

    def op(self, kind: str, inputs, tag: str, **attrs) -> str:
        return _op(self.em, kind, inputs, f"{self.name}/{tag}", **attrs)

    def top_k(self, x: str, k: int, tag: str) -> tuple[str, str]:
        values, index = self.em.tmp(f"{self.name}/{tag}_values"), self.em.tmp(f"{self.name}/{tag}")
        self.em.node(
            "TopK",
            [x, self.c(f"{tag}_k", [k])],
            [values, index],
            name=f"{self.name}/{tag}",
            axis=1,
            largest=1,
            sorted=1,
        )
        return values, index

    def candidates(self, conf: str, boxes: str) -> tuple[str, str]:
        """2: the best ``K_c`` scores ``(N F, K_c)`` per (image, class), their boxes."""
        em, n, p, f = self.em, self.n, self.p, self.f
        conf = em.reshape(conf, (n, p, self.a.num_classes), f"{self.name}/conf")
        conf = self.op("Transpose", [conf], "conf_by_class", perm=[0, 2, 1])
        conf = self.op("Gather", [conf, self.c("foreground", self.fg)], "conf_fg", axis=1)
        conf = em.reshape(conf, (n * f, p), f"{self.name}/conf_rows")
        scores, index = self.top_k(conf, self.cand, "candidates")
        if self.a.share_location:
            table = em.reshape(boxes, (n * p, 4), f"{self.name}/box_table")
            base = np.repeat(np.arange(n) * p, f).reshape(n * f, 1)
        else:
            by_class = self.op("Transpose", [boxes], "boxes_by_class", perm=[0, 2, 1, 3])
            by_class = self.op(
                "Gather", [by_class, self.c("foreground", self.fg)], "boxes_fg", axis=1
            )
            table = em.reshape(by_class, (n * f * p, 4), f"{self.name}/box_table")
            base = (np.arange(n * f) * p).reshape(n * f, 1)
        rows = self.op("Add", [index, self.c("row_base", base)], "cand_rows")
        return scores, self.op("Gather", [table, rows], "cand_boxes", axis=0)

    def kept_scores(self, scores: str, cand_boxes: str) -> str:
        """3: NMS; the kept candidates' scores in a dense ``(N, F K_c)`` table, -inf elsewhere."""
        em, n, f, cand, name = self.em, self.n, self.f, self.cand, self.name
        lo = _slice(em, cand_boxes, 0, 2, 2, f"{name}/cand_lo")
        hi = self.op("Max", [_slice(em, cand_boxes, 2, 4, 2, f"{name}/cand_hi"), lo], "cand_hi_fix")
        nms_in = [
            self.op("Concat", [lo, hi], "nms_boxes", axis=2),
            em.reshape(scores, (n * f, 1, cand), f"{name}/nms_scores"),
            self.c("max_out", cand),
            em.const(f"{name}.iou", np.float32(self.a.nms_threshold)),
        ]
        if self.a.confidence_threshold is not None:
            nms_in.append(
                em.const(f"{name}.score_threshold", np.float32(self.a.confidence_threshold))
            )
        selected = self.op("NonMaxSuppression", nms_in, "nms", center_point_box=0)
        batch = self.op("Gather", [selected, self.c("zero", 0)], "sel_batch", axis=1)
        which = self.op("Gather", [selected, self.c("two", 2)], "sel_box", axis=1)
        base = self.op("Mul", [batch, self.c("cand", cand)], "sel_base")
        flat = self.op("Add", [base, which], "sel_flat")
        scores_flat = em.reshape(scores, (n * f * cand,), f"{name}/scores_flat")
        kept = self.op("Gather", [scores_flat, flat], "sel_scores")
        empty = em.const(f"{name}.empty", np.full(n * f * cand, -np.inf, np.float32))
        dense = self.op("ScatterElements", [empty, flat, kept], "dense", axis=0)
        return em.reshape(dense, (n, f * cand), f"{name}/dense_by_image")

    def survivors(self, dense: str) -> tuple[str, str]:
        """4: keep_top_k per image; (image, position) of each survivor in the fork's order."""
        em, name, width, rows = self.em, self.name, self.f * self.cand, self.rows_per_image
        alive = self.op(
            "Greater", [dense, em.const(f"{name}.minus_inf", np.float32(-np.inf))], "alive"
        )
        if rows < width:
            _, best = self.top_k(dense, rows, "keep_top_k")
            zeros = em.const(f"{name}.zeros", np.zeros((self.n, width), np.float32))
            ones = em.const(f"{name}.ones", np.ones((self.n, rows), np.float32))
            marked = self.op("ScatterElements", [zeros, best, ones], "marked", axis=1)
            top = self.op("Greater", [marked, em.const(f"{name}.half", np.float32(0.5))], "top")
            alive = self.op("And", [alive, top], "kept")
        where = self.op("NonZero", [alive], "survivors")
        image = self.op("Gather", [where, self.c("image", 0)], "image", axis=0)
        return image, self.op("Gather", [where, self.c("position", 1)], "position", axis=0)

    def rows(self, image: str, pos: str, dense: str, cand_boxes: str, outs) -> None:
        """5: rows ``[image, label, score, box]``, padded with -1 rows to ``N K``."""
        em, name, total = self.em, self.name, self.n * self.f * self.cand
        base = self.op("Mul", [image, self.c("per_image", self.f * self.cand)], "image_base")
        index = self.op("Add", [base, pos], "index")
        slot = self.op("Div", [pos, self.c("cand", self.cand)], "class_slot")
        labels = self.c("labels", np.asarray(self.fg, np.float32), np.float32)
        label = self.op("Gather", [labels, slot], "label")
        dense_flat = em.reshape(dense, (total,), f"{name}/dense_flat")
        score = self.op("Gather", [dense_flat, index], "score")
        boxes_flat = em.reshape(cand_boxes, (total, 4), f"{name}/cand_flat")
        box = self.op("Gather", [boxes_flat, index], "box", axis=0)
        image_f = self.op("Cast", [image], "image_f", to=1)  # FLOAT
        columns = [
            self.op("Unsqueeze", [t, self.c("axis1", [1])], f"{tag}_col")
            for t, tag in ((image_f, "image"), (label, "label"), (score, "score"))
        ]
        table7 = self.op("Concat", [*columns, box], "rows", axis=1)
        count = _slice(em, self.op("Shape", [table7], "shape7"), 0, 1, 0, f"{name}/count")
        missing = self.op("Sub", [self.c("rows", [self.n * self.rows_per_image]), count], "missing")
        pads = self.op(
            "Concat", [self.c("pad_begin", [0, 0]), missing, self.c("pad_end", [0])], "pads", axis=0
        )
        fill = em.const(f"{name}.fill", np.float32(-1.0))
        padded = self.op("Pad", [table7, pads, fill], "padded", mode="constant")
        shape = self.c("shape", [1, 1, self.n * self.rows_per_image, 7])
        em.node("Reshape", [padded, shape], outs, name=f"{name}/shape")
