"""SSD's layers as weiliu89/caffe (branch ``ssd``) states them, one box at a time: Normalize,
PriorBox, DetectionOutput (decode, per-class NMS, keep_top_k), and detections compared as sets.

Written from the fork's layer sources (prior_box_layer.cpp, normalize_layer.cpp,
detection_output_layer.cpp, bbox_util.cpp), with plain Python loops and float64 except where
the fork's float32 is the definition (the prior boxes' stored values).
"""

from __future__ import annotations

import math

import numpy as np


def normalize_ref(x, scale, across_spatial, eps):
    """Per sample (or per sample and position): x / sqrt(sum of squares + eps), times scale[c]
    (one value when ``scale`` has one entry)."""
    x = np.asarray(x, np.float64)
    n, c = x.shape[:2]
    y = np.empty_like(x)
    for i in range(n):
        if across_spatial:
            y[i] = x[i] / math.sqrt(float(np.sum(x[i] ** 2)) + eps)
        else:
            flat = x[i].reshape(c, -1)
            out = np.empty_like(flat)
            for pos in range(flat.shape[1]):
                out[:, pos] = flat[:, pos] / math.sqrt(sum(v * v for v in flat[:, pos]) + eps)
            y[i] = out.reshape(x[i].shape)
        for ch in range(c):
            y[i, ch] *= float(scale[0] if len(scale) == 1 else scale[ch])
    return y


def prior_box_ref(
    layer_h,
    layer_w,
    img_h,
    img_w,
    min_sizes,
    max_sizes=(),
    ratios=(),
    flip=True,
    clip=False,
    variance=(0.1,),
    step_h=0.0,
    step_w=0.0,
    offset=0.5,
):
    """The fork's PriorBoxLayer::Forward_cpu, cell by cell: ``(1, 2, H W P 4)``."""
    ars = [1.0]
    for r in ratios:
        r = float(np.float32(r))
        if all(abs(r - q) >= 1e-6 for q in ars):
            ars.append(r)
            if flip:
                ars.append(float(np.float32(1.0 / r)))
    sw = step_w if step_w else float(np.float32(img_w) / np.float32(layer_w))
    sh = step_h if step_h else float(np.float32(img_h) / np.float32(layer_h))
    boxes = []
    for h in range(layer_h):
        for w in range(layer_w):
            cx = float(np.float32((w + offset) * sw))
            cy = float(np.float32((h + offset) * sh))
            for s_i, s in enumerate(min_sizes):
                s = int(s)  # the fork's `int min_size_`
                dims = [(s, s)]
                if max_sizes:
                    side = math.sqrt(s * int(max_sizes[s_i]))
                    dims.append((side, side))
                dims += [(s * math.sqrt(r), s / math.sqrt(r)) for r in ars if abs(r - 1) >= 1e-6]
                for bw, bh in dims:
                    boxes += [
                        (cx - bw / 2) / img_w,
                        (cy - bh / 2) / img_h,
                        (cx + bw / 2) / img_w,
                        (cy + bh / 2) / img_h,
                    ]
    boxes = np.asarray(boxes, np.float64)
    if clip:
        boxes = np.minimum(np.maximum(boxes, 0.0), 1.0)
    var = [variance[i % 4] if len(variance) == 4 else variance[0] for i in range(len(boxes))]
    return np.stack([boxes, np.asarray(var, np.float64)])[None]


def decode_ref(prior, var, loc, code_type, encoded):
    """DecodeBBox for one box: ``prior``, ``var`` and ``loc`` are 4 numbers each."""
    v = [1.0] * 4 if encoded else [float(t) for t in var]
    p = [float(t) for t in prior]
    l_ = [float(t) for t in loc]
    if code_type == "CORNER":
        return [p[i] + v[i] * l_[i] for i in range(4)]
    pw, ph = p[2] - p[0], p[3] - p[1]
    if code_type == "CORNER_SIZE":
        return [
            p[0] + v[0] * l_[0] * pw,
            p[1] + v[1] * l_[1] * ph,
            p[2] + v[2] * l_[2] * pw,
            p[3] + v[3] * l_[3] * ph,
        ]
    cx = v[0] * l_[0] * pw + (p[0] + p[2]) / 2
    cy = v[1] * l_[1] * ph + (p[1] + p[3]) / 2
    w = math.exp(v[2] * l_[2]) * pw
    h = math.exp(v[3] * l_[3]) * ph
    return [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2]


def jaccard_ref(a, b):
    """JaccardOverlap for normalised boxes; a box with xmax < xmin or ymax < ymin has size 0."""
    if b[0] > a[2] or b[2] < a[0] or b[1] > a[3] or b[3] < a[1]:
        return 0.0
    iw = min(a[2], b[2]) - max(a[0], b[0])
    ih = min(a[3], b[3]) - max(a[1], b[1])
    if iw <= 0 or ih <= 0:
        return 0.0

    def size(t):
        return 0.0 if t[2] < t[0] or t[3] < t[1] else (t[2] - t[0]) * (t[3] - t[1])

    inter = iw * ih
    return inter / (size(a) + size(b) - inter)


def detection_output_ref(
    loc,
    conf,
    priors,
    num_classes,
    share_location=True,
    background=0,
    nms_threshold=0.3,
    top_k=-1,
    eta=1.0,
    code_type="CORNER",
    encoded=False,
    keep_top_k=-1,
    confidence_threshold=None,
):
    """The fork's DetectionOutputLayer::Forward_cpu: a list of rows
    ``[image, label, score, xmin, ymin, xmax, ymax]`` in its output order."""
    n = loc.shape[0]
    p = priors.shape[2] // 4
    locs = 1 if share_location else num_classes
    loc = np.asarray(loc, np.float64).reshape(n, p, locs, 4)
    conf = np.asarray(conf, np.float64).reshape(n, p, num_classes)
    pri = np.asarray(priors, np.float64).reshape(2, p, 4)
    thr = -math.inf if confidence_threshold is None else confidence_threshold
    rows = []
    for i in range(n):
        decoded = {}
        for c in range(locs):
            decoded[c] = [
                decode_ref(pri[0, j], pri[1, j], loc[i, j, c], code_type, encoded) for j in range(p)
            ]
        kept = {}
        for c in range(num_classes):
            if c == background:
                continue
            boxes = decoded[0 if share_location else c]
            cands = [(conf[i, j, c], j) for j in range(p) if conf[i, j, c] > thr]
            cands.sort(key=lambda t: -t[0])  # Python's sort is stable: ties by prior index
            if top_k > -1:
                cands = cands[:top_k]
            keep, adaptive = [], nms_threshold
            for _, j in cands:
                if all(jaccard_ref(boxes[j], boxes[k]) <= adaptive for k in keep):
                    keep.append(j)
                    if eta < 1 and adaptive > 0.5:
                        adaptive *= eta
            kept[c] = keep
        found = [(c, j) for c in sorted(kept) for j in kept[c]]
        if keep_top_k > -1 and len(found) > keep_top_k:
            ranked = sorted(found, key=lambda t: -conf[i, t[1], t[0]])[:keep_top_k]
            found = [(c, j) for c in sorted(kept) for j in kept[c] if (c, j) in ranked]
        for c, j in found:
            box = decoded[0 if share_location else c][j]
            rows.append([i, c, conf[i, j, c], *box])
    return rows


def detections(out) -> list[list[float]]:
    """The detection rows of a graphconv DetectionOutput top (the -1 padding dropped)."""
    flat = np.asarray(out).reshape(-1, 7)
    return [list(map(float, r)) for r in flat if r[1] >= 0]


def assert_same_detections(got, want, atol):
    """Two detection lists hold the same set of rows: every row of one has a partner in the
    other with the same image and label and every number within ``atol``."""
    assert len(got) == len(want), f"{len(got)} detections against {len(want)}"
    unused = list(range(len(want)))
    for row in got:
        match = [
            k
            for k in unused
            if want[k][:2] == row[:2]
            and max(abs(a - b) for a, b in zip(row[2:], want[k][2:])) <= atol
        ]
        assert match, f"detection {row} has no partner within {atol}"
        unused.remove(match[0])
