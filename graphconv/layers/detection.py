"""SSD detection layers (weiliu89/caffe, branch ``ssd``): Normalize, PriorBox, DetectionOutput.

- Normalize: L2 normalisation over each sample (``across_spatial``) or over the channels at each
  position, ``x / sqrt(sum x^2 + eps)``, times a learned scale (one, or one per channel).
- PriorBox: the default boxes of one feature map; they depend on shapes only, so the layer is a
  constant: the interpreter computes it from the input shapes and the export stores it.
- DetectionOutput: decode the location predictions against the priors, per-class NMS, keep the
  best ``keep_top_k`` per image. Caffe's top has as many rows as detections; graphconv's shape
  is static, so its top is ``(1, 1, N * K, 7)`` with ``K`` the most detections an image can
  keep: Caffe's rows first (``[image, label, score, xmin, ymin, xmax, ymax]``, images in order,
  then labels ascending, then NMS order), then rows of -1. (Caffe writes ``[i, -1, ...]`` per
  image when nothing at all is detected; graphconv writes only -1 rows.)

The semantics, from the fork's ``prior_box_layer.cpp``, ``normalize_layer.cpp``,
``detection_output_layer.cpp`` and ``bbox_util.cpp``, are stated on each attrs class. The ONNX
emission of DetectionOutput is :mod:`.detection_onnx`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..ir import TensorSpec
from ..registry import LayerType, register
from .detection_onnx import emit_detection_output, emit_normalize

CODE_TYPES = ("CORNER", "CENTER_SIZE", "CORNER_SIZE")

# ---- Normalize -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class NormalizeAttrs:
    """``y = x / sqrt(sum(x^2) + eps) * scale``: the sum over each sample's values
    (``across_spatial``) or over the channel axis at each position; ``scale`` is one value
    (``channel_shared``) or one per channel. The fork's defaults: across_spatial, channel_shared,
    eps 1e-10."""

    across_spatial: bool = True
    channel_shared: bool = True
    eps: float = 1e-10

    def __post_init__(self) -> None:
        object.__setattr__(self, "across_spatial", bool(self.across_spatial))
        object.__setattr__(self, "channel_shared", bool(self.channel_shared))
        object.__setattr__(self, "eps", float(self.eps))
        if not (math.isfinite(self.eps) and self.eps >= 0):
            raise ValueError(f"Normalize eps must be a finite number >= 0, got {self.eps}")


@register
class Normalize(LayerType):
    type = "Normalize"
    Attrs = NormalizeAttrs

    def infer(self, a, ins):
        if ins[0].rank < 2:
            raise ValueError(f"Normalize needs an input with a channel axis, got {ins[0]}")
        return [ins[0]]

    def param_shapes(self, a, ins):
        return {"scale": (1,) if a.channel_shared else (ins[0].shape[1],)}

    def init_params(self, a, ins, rng):
        """Seeded scale ~ U(0.5, 1.5) (the fork's default filler is the constant 1)."""
        return {
            k: rng.uniform(0.5, 1.5, s).astype(np.float32)
            for k, s in self.param_shapes(a, ins).items()
        }

    def run(self, a, xs, p):
        x = xs[0]
        axes = tuple(range(1, x.ndim)) if a.across_spatial else (1,)
        sq = np.sum(np.square(x, dtype=np.float64), axis=axes, keepdims=True)
        norm = np.sqrt(sq + a.eps).astype(np.float32)
        scale = p["scale"].reshape((-1,) + (1,) * (x.ndim - 2))
        return [np.ascontiguousarray(x / norm * scale, dtype=np.float32)]

    def to_onnx(self, layer, em, ins, outs):
        emit_normalize(layer, em, ins, outs)

    def macs(self, a, ins, outs):
        return 2 * outs[0].size


# ---- PriorBox ------------------------------------------------------------------------------------


def _floats(values) -> tuple[float, ...]:
    return tuple(float(v) for v in ([values] if isinstance(values, (int, float)) else values))


@dataclass(frozen=True)
class PriorBoxAttrs:
    """The default boxes of a ``H x W`` feature map, as the fork's PriorBoxLayer computes them.

    Aspect ratios: 1, then each given ratio not already present (within 1e-6), followed by its
    inverse when ``flip``. Per cell ``(h, w)`` the centre is ``((w + offset) step_w,
    (h + offset) step_h)``; per ``min_size`` s (truncated to an integer, as the fork's
    ``int min_size_`` does), in this order: a ``s x s`` box; with ``max_size`` m (also
    truncated) a ``sqrt(s m)`` square; then per ratio r != 1 a ``s sqrt(r) x s / sqrt(r)``
    box. Coordinates ``(xmin, ymin, xmax, ymax)`` are divided by the image size (``img_h/img_w``,
    else the second input's H and W); ``clip`` clamps them to [0, 1]. ``step_h/step_w`` default
    to image size / feature size. The output ``(1, 2, H W P 4)`` holds the boxes, then each
    box's 4 variances (one value repeated, or 4; default 0.1).
    (A stored weiliu89 revision, 3b97386, scales the ratio boxes from ``sqrt(s m)`` instead;
    the ``ssd`` branch the SSD models were trained with, and OpenCV, use ``s``, as here.)
    """

    min_size: tuple[float, ...] = ()
    max_size: tuple[float, ...] = ()
    aspect_ratio: tuple[float, ...] = ()
    flip: bool = True
    clip: bool = False
    variance: tuple[float, ...] = (0.1,)
    img_h: int = 0
    img_w: int = 0
    step_h: float = 0.0
    step_w: float = 0.0
    offset: float = 0.5

    def __post_init__(self) -> None:
        fix = object.__setattr__
        for name in ("min_size", "max_size", "aspect_ratio", "variance"):
            fix(self, name, _floats(getattr(self, name)))
        fix(self, "flip", bool(self.flip))
        fix(self, "clip", bool(self.clip))
        fix(self, "img_h", int(self.img_h))
        fix(self, "img_w", int(self.img_w))
        fix(self, "step_h", float(self.step_h))
        fix(self, "step_w", float(self.step_w))
        fix(self, "offset", float(self.offset))
        if not self.min_size or any(s <= 0 for s in self.min_size):
            raise ValueError(f"PriorBox needs positive min_size values, got {self.min_size}")
        if self.max_size:
            if len(self.max_size) != len(self.min_size):
                raise ValueError(
                    f"PriorBox has {len(self.max_size)} max_size for {len(self.min_size)} min_size"
                )
            if any(m <= s for s, m in zip(self.min_size, self.max_size)):
                raise ValueError("PriorBox max_size must be greater than min_size")
        if len(self.variance) not in (1, 4) or any(v <= 0 for v in self.variance):
            raise ValueError(f"PriorBox variance needs 1 or 4 positive values, got {self.variance}")
        if any(r <= 0 for r in self.aspect_ratio):
            raise ValueError(f"PriorBox aspect ratios must be positive, got {self.aspect_ratio}")
        if (self.img_h > 0) != (self.img_w > 0) or min(self.img_h, self.img_w) < 0:
            raise ValueError("PriorBox img_h and img_w are given together (positive) or not at all")
        if (self.step_h > 0) != (self.step_w > 0) or min(self.step_h, self.step_w) < 0:
            raise ValueError(
                "PriorBox step_h and step_w are given together (positive) or not at all"
            )

    @property
    def ratios(self) -> tuple[float, ...]:
        """1, then the distinct ratios (and their inverses with ``flip``), as float32."""
        out = [1.0]
        for r in self.aspect_ratio:
            r = float(np.float32(r))
            if any(abs(r - q) < 1e-6 for q in out):
                continue
            out.append(r)
            if self.flip:
                out.append(float(np.float32(1.0 / r)))
        return tuple(out)

    @property
    def per_cell(self) -> int:
        """Priors per feature-map cell."""
        return len(self.min_size) * (len(self.ratios) + (1 if self.max_size else 0))


def prior_boxes(a: PriorBoxAttrs, layer_hw, image_hw) -> np.ndarray:
    """The PriorBox output ``(1, 2, H W P 4)`` for a feature map and an image size."""
    lh, lw = layer_hw
    ih, iw = (a.img_h, a.img_w) if a.img_h > 0 else image_hw
    f32 = np.float32
    step_w = f32(a.step_w) if a.step_w > 0 else f32(iw) / f32(lw)
    step_h = f32(a.step_h) if a.step_h > 0 else f32(ih) / f32(lh)
    sizes = []  # (box width, box height) per prior of a cell, in the fork's order
    for i, s in enumerate(a.min_size):
        s = int(s)
        sizes.append((s, s))
        if a.max_size:
            side = float(f32(math.sqrt(s * int(a.max_size[i]))))
            sizes.append((side, side))
        for r in a.ratios:
            if abs(r - 1.0) >= 1e-6:
                root = math.sqrt(r)
                sizes.append((s * root, s / root))
    half = np.asarray(sizes, dtype=np.float32).astype(np.float64) / 2.0  # (P, 2)
    cx = ((np.arange(lw, dtype=f32) + f32(a.offset)) * step_w).astype(np.float64)
    cy = ((np.arange(lh, dtype=f32) + f32(a.offset)) * step_h).astype(np.float64)
    boxes = np.empty((lh, lw, len(sizes), 4), dtype=np.float64)
    boxes[..., 0] = (cx[None, :, None] - half[None, None, :, 0]) / iw
    boxes[..., 1] = (cy[:, None, None] - half[None, None, :, 1]) / ih
    boxes[..., 2] = (cx[None, :, None] + half[None, None, :, 0]) / iw
    boxes[..., 3] = (cy[:, None, None] + half[None, None, :, 1]) / ih
    boxes = boxes.astype(np.float32).reshape(-1)
    if a.clip:
        boxes = np.clip(boxes, 0.0, 1.0)
    variances = np.resize(np.asarray(a.variance, dtype=np.float32), boxes.size)
    return np.stack([boxes, variances])[None]


@register
class PriorBox(LayerType):
    type = "PriorBox"
    Attrs = PriorBoxAttrs
    arity = (1, 2)

    def _sizes(self, a, ins):
        if any(x.rank != 4 for x in ins):
            raise ValueError("PriorBox takes 4-D inputs (feature map, image)")
        if len(ins) == 1 and a.img_h <= 0:
            raise ValueError(
                "PriorBox needs the image as its second input, or img_size/img_h/img_w"
            )
        return ins[0].shape[2:], (ins[1].shape[2:] if len(ins) == 2 else None)

    def infer(self, a, ins):
        (lh, lw), _ = self._sizes(a, ins)
        return [TensorSpec((1, 2, lh * lw * a.per_cell * 4))]

    def run(self, a, xs, p):
        layer_hw, image_hw = self._sizes(a, [TensorSpec(x.shape) for x in xs])
        return [prior_boxes(a, layer_hw, image_hw)]

    def to_onnx(self, layer, em, ins, outs):
        """A constant: the boxes depend on the input shapes only."""
        layer_hw, image_hw = self._sizes(layer.attrs, [em.spec(t) for t in ins])
        boxes = prior_boxes(layer.attrs, layer_hw, image_hw)
        em.node("Identity", [em.initializer(f"{layer.name}.priors", boxes)], outs, name=layer.name)


# ---- DetectionOutput -----------------------------------------------------------------------------


@dataclass(frozen=True)
class DetectionOutputAttrs:
    """SSD's detection head on ``(loc, conf, priors)``.

    Decoding (``code_type``; ``v`` the prior's variances, or 1 with
    ``variance_encoded_in_target``): CORNER ``box = prior + v l``; CORNER_SIZE
    ``box = prior + v l (w, h, w, h)`` of the prior; CENTER_SIZE centre
    ``v l_xy (w, h) + prior centre``, size ``exp(v l_wh) (w, h)``, then corners.
    Per image and per class but ``background_label_id``: the candidates are the scores above
    ``confidence_threshold`` (none: all), the best ``top_k`` of them (stable: ties by prior
    index), greedy NMS in that order dropping a box whose IoU with a kept one exceeds the
    threshold (``eta < 1``: the threshold shrinks by ``eta`` after each kept box while above
    0.5). IoU is 0 for a box with no area (an inverted box has none). Then, with ``keep_top_k``,
    the best that many of the image's detections by score (ties: lower label, then NMS order).
    ``share_location``: one box per prior for all classes, else one per prior and class.
    """

    num_classes: int
    share_location: bool = True
    background_label_id: int = 0
    nms_threshold: float = 0.3
    top_k: int = -1
    eta: float = 1.0
    code_type: str = "CORNER"
    variance_encoded_in_target: bool = False
    keep_top_k: int = -1
    confidence_threshold: float | None = None

    def __post_init__(self) -> None:
        fix = object.__setattr__
        fix(self, "num_classes", int(self.num_classes))
        fix(self, "share_location", bool(self.share_location))
        fix(self, "background_label_id", int(self.background_label_id))
        fix(self, "nms_threshold", float(self.nms_threshold))
        fix(self, "top_k", int(self.top_k))
        fix(self, "eta", float(self.eta))
        fix(self, "code_type", str(self.code_type).upper())
        fix(self, "variance_encoded_in_target", bool(self.variance_encoded_in_target))
        fix(self, "keep_top_k", int(self.keep_top_k))
        if self.confidence_threshold is not None:
            fix(self, "confidence_threshold", float(self.confidence_threshold))
        if self.num_classes < 1:
            raise ValueError(f"DetectionOutput needs num_classes >= 1, got {self.num_classes}")
        if self.code_type not in CODE_TYPES:
            raise ValueError(
                f"code_type must be one of {', '.join(CODE_TYPES)}, got {self.code_type}"
            )
        if not 0.0 <= self.nms_threshold:
            raise ValueError(f"nms_threshold must be >= 0, got {self.nms_threshold}")
        if not 0.0 < self.eta <= 1.0:
            raise ValueError(f"nms eta must be in (0, 1], got {self.eta}")
        if self.top_k == 0 or self.top_k < -1 or self.keep_top_k == 0 or self.keep_top_k < -1:
            raise ValueError("top_k and keep_top_k are -1 (all) or positive")
        if self.share_location and self.background_label_id == -1:
            raise ValueError(
                "share_location with background_label_id -1: the fork's decoding skips the "
                "shared boxes (their label -1 is the background id) and then fails"
            )
        if self.background_label_id >= self.num_classes:
            raise ValueError(
                f"background_label_id {self.background_label_id} is not one of the "
                f"{self.num_classes} classes"
            )

    @property
    def foreground(self) -> list[int]:
        return [c for c in range(self.num_classes) if c != self.background_label_id]


def detection_sizes(a: DetectionOutputAttrs, ins) -> tuple[int, int, int, int]:
    """(images N, priors P, candidates per class K_c, rows per image K) for the input specs."""
    loc, conf, priors = ins
    if priors.rank != 3 or priors.shape[:2] != (1, 2) or priors.shape[2] % 4:
        raise ValueError(f"the priors input must be PriorBox's (1, 2, 4 P), got {priors}")
    p = priors.shape[2] // 4
    n = loc.shape[0]
    locs = 1 if a.share_location else a.num_classes
    if conf.shape[0] != n or loc.size != n * p * locs * 4 or conf.size != n * p * a.num_classes:
        raise ValueError(
            f"{p} priors and {a.num_classes} classes need loc of {p * locs * 4} and conf of "
            f"{p * a.num_classes} values per image, got loc {loc} and conf {conf}"
        )
    cand = p if a.top_k < 0 else min(a.top_k, p)
    most = len(a.foreground) * cand
    return n, p, cand, most if a.keep_top_k < 0 else min(a.keep_top_k, most)


def decode_boxes(a: DetectionOutputAttrs, loc: np.ndarray, priors: np.ndarray) -> np.ndarray:
    """Decoded boxes ``(N, P, L, 4)`` from ``loc (N, P, L, 4)`` and priors ``(2, P, 4)``."""
    prior = priors[0][None, :, None, :]
    lv = loc if a.variance_encoded_in_target else loc * priors[1][None, :, None, :]
    if a.code_type == "CORNER":
        return prior + lv
    wh = prior[..., 2:] - prior[..., :2]
    if a.code_type == "CORNER_SIZE":
        return prior + lv * np.concatenate([wh, wh], axis=-1)
    centre = lv[..., :2] * wh + (prior[..., :2] + prior[..., 2:]) * np.float32(0.5)
    half = np.exp(lv[..., 2:]) * wh * np.float32(0.5)
    return np.concatenate([centre - half, centre + half], axis=-1)


def _iou(box: np.ndarray, others: np.ndarray) -> np.ndarray:
    """Caffe's JaccardOverlap (normalised) of one box with each of ``others``, float32."""
    w = np.minimum(box[2], others[:, 2]) - np.maximum(box[0], others[:, 0])
    h = np.minimum(box[3], others[:, 3]) - np.maximum(box[1], others[:, 1])
    inter = np.where((w > 0) & (h > 0), w * h, np.float32(0))

    def area(b):
        bw, bh = b[..., 2] - b[..., 0], b[..., 3] - b[..., 1]
        return np.where((bw < 0) | (bh < 0), np.float32(0), bw * bh)

    union = area(box) + area(others) - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(inter > 0, inter / union, np.float32(0)).astype(np.float32)


def nms(a: DetectionOutputAttrs, boxes: np.ndarray, scores: np.ndarray) -> list[int]:
    """Kept prior indices of one class, in NMS order (the fork's ApplyNMSFast)."""
    thr = a.confidence_threshold
    idx = np.arange(scores.size) if thr is None else np.flatnonzero(scores > np.float32(thr))
    order = idx[np.argsort(-scores[idx], kind="stable")]
    if a.top_k > 0:
        order = order[: a.top_k]
    kept: list[int] = []
    threshold = a.nms_threshold
    for i in order:
        if kept and np.any(_iou(boxes[i], boxes[kept]) > np.float32(threshold)):
            continue
        kept.append(int(i))
        if a.eta < 1 and threshold > 0.5:
            threshold *= a.eta
    return kept


@register
class DetectionOutput(LayerType):
    type = "DetectionOutput"
    Attrs = DetectionOutputAttrs
    arity = (3, 3)

    def infer(self, a, ins):
        n, _, _, rows = detection_sizes(a, ins)
        return [TensorSpec((1, 1, n * rows, 7))]

    def run(self, a, xs, p):
        n, num_priors, _, rows = detection_sizes(a, [TensorSpec(x.shape) for x in xs])
        locs = 1 if a.share_location else a.num_classes
        loc = xs[0].reshape(n, num_priors, locs, 4)
        conf = xs[1].reshape(n, num_priors, a.num_classes)
        boxes = decode_boxes(a, loc, xs[2].reshape(2, num_priors, 4)).astype(np.float32)
        out = np.full((n * rows, 7), -1.0, dtype=np.float32)
        at = 0
        for i in range(n):
            found = []  # (label, prior, score) in label order, then NMS order
            for c in a.foreground:
                b = boxes[i, :, 0 if a.share_location else c]
                found += [(c, j, conf[i, j, c]) for j in nms(a, b, conf[i, :, c])]
            if len(found) > rows:  # the best `rows` by score; ties keep the earlier entry
                best = np.argsort([-s for _, _, s in found], kind="stable")[:rows]
                found = [found[k] for k in sorted(best)]
            for c, j, s in found:
                box = boxes[i, j, 0 if a.share_location else c]
                out[at] = (i, c, s, *box)
                at += 1
        return [out.reshape(1, 1, n * rows, 7)]

    def compare_outputs(self, a, got, ref):
        """The detections compared as sets: ``got``'s rows in ``ref``'s order (see
        :func:`matched_rows`), so equal-score rows listed in another order are no mismatch."""
        return matched_rows(got, ref), ref

    def to_onnx(self, layer, em, ins, outs):
        sizes = detection_sizes(layer.attrs, [em.spec(t) for t in ins])
        emit_detection_output(layer, em, ins, outs, sizes)


def matched_rows(got: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """``got`` (a DetectionOutput top) with its rows reordered to face ``ref``'s partners.

    Rows pair only within one image and label (the -1 padding rows form a group of their own);
    in ``ref``'s order, each row takes the free row of its group nearest to it (largest
    difference of score and box). Rows without a partner keep ``got``'s order in the positions
    left over, so a detection one side lacks still shows as an error, as does a moved box."""
    g = np.asarray(got).reshape(-1, 7)
    r = np.asarray(ref).reshape(-1, 7)
    if g.shape != r.shape:
        return got
    groups: dict[tuple[float, float], list[int]] = {}
    for j, (image, label) in enumerate(g[:, :2].tolist()):
        groups.setdefault((image, label), []).append(j)
    order = np.full(len(r), -1)
    for k, row in enumerate(r):
        candidates = groups.get((float(row[0]), float(row[1])))
        if candidates and np.array_equal(g[candidates[0]], row):  # the padding, an exact twin
            order[k] = candidates.pop(0)
        elif candidates:
            far = np.abs(g[candidates, 2:].astype(np.float64) - row[2:]).max(axis=1)
            order[k] = candidates.pop(int(np.argmin(np.nan_to_num(far, nan=np.inf))))
    taken = np.zeros(len(g), dtype=bool)
    taken[order[order >= 0]] = True
    order[order < 0] = np.flatnonzero(~taken)
    return g[order].reshape(np.shape(got))
