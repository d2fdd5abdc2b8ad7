"""split-separable: factor convolutions into cheaper convolutions when the weights allow it.

Patterns::

    SeparableConvolution(k, multiplier m)  ->  Convolution(k, group C, C -> C*m)
                                             -> Convolution(1x1, C*m -> O)            (always exact)

    Convolution(W[O, C, k...]) whose per-input-channel matrices W[:, c, :] (O x prod(k)) have
    rank <= m                               ->  depthwise Convolution(k, group C, C -> C*m)
                                             -> pointwise Convolution(1x1, C*m -> O)

    2-D Convolution(W[O, C, kh, kw]) with Mat[(c,i), (o,j)] = W[o,c,i,j] of rank R
                                            ->  Convolution(kh x 1, C -> R)   (H's stride, pads,
                                                                               dilation)
                                             -> Convolution(1 x kw, R -> O)   (W's ...)

Exactness is decided by the singular values: a factorisation is exact when every dropped singular
value is <= ``tol`` (default 1e-6) times the largest one, i.e. below float32 resolution. Among the
exact factorisations the one with the fewest MACs is used, and only when it has fewer MACs than
the original. With ``rank=R`` every 2-D convolution (group 1, kh, kw > 1) is split at rank R
even when that is lossy; the note gives the weight error bound (Eckart-Young:
sqrt(sum of dropped sigma^2), relative to ||W||) and the output error measured on seeded input.

Cost (per output pixel): depthwise + pointwise C*m*prod(k) + O*C*m against O*C*prod(k);
spatial C*R*kh (at the intermediate resolution) + R*O*kw against O*C*kh*kw.
"""

from __future__ import annotations

import math

import numpy as np

from graphconv.errors import UsageError
from graphconv.geometry import conv_output_size
from graphconv.ir import seeded_rng
from graphconv.kernels.conv import conv_forward
from graphconv.layers import ConvAttrs

from ._registry import register
from ._rewrite import Skip, Step, rewrite

TOL = 1e-6


def _conv_macs(out_shape, cin_per_group: int, kernel) -> int:
    return math.prod(out_shape) * cin_per_group * math.prod(kernel)


def _out_shape(x_shape, a: ConvAttrs):
    return (x_shape[0], a.num_output) + tuple(
        conv_output_size(
            x_shape[2 + i], a.kernel[i], a.stride[i], a.dilation[i], a.pads_begin[i], a.pads_end[i]
        )
        for i in range(a.rank)
    )


def depthwise_factors(w: np.ndarray, tol: float):
    """Per input channel SVD of W[:, c, :]. Returns (m, depthwise [C*m,1,k..], pointwise
    [O,C*m,1..], dropped fraction) with m the largest numerical rank over channels."""
    o, c, *k = w.shape
    mats = w.reshape(o, c, -1).transpose(1, 0, 2).astype(np.float64)  # (C, O, K)
    u, s, vt = np.linalg.svd(mats, full_matrices=False)  # s: (C, min(O,K))
    smax = s.max() if s.size else 0.0
    if smax == 0:
        return None
    ranks = (s > tol * smax).sum(axis=1)
    m = max(1, int(ranks.max()))
    root = np.sqrt(s[:, :m])
    dw = (vt[:, :m, :] * root[:, :, None]).reshape(c * m, 1, *k)
    pw = (u[:, :, :m] * root[:, None, :]).transpose(1, 0, 2).reshape(o, c * m, *([1] * len(k)))
    dropped = float(np.sqrt((s[:, m:] ** 2).sum() / (s**2).sum()))
    return m, dw.astype(np.float32), pw.astype(np.float32), dropped


def spatial_factors(w: np.ndarray, tol: float, rank: int | None = None):
    """SVD of Mat[(c,i),(o,j)] = W[o,c,i,j]. Returns (R, first [R,C,kh,1], second [O,R,1,kw],
    singular values)."""
    o, c, kh, kw = w.shape
    mat = w.transpose(1, 2, 0, 3).reshape(c * kh, o * kw).astype(np.float64)
    u, s, vt = np.linalg.svd(mat, full_matrices=False)
    r = rank if rank is not None else max(1, int((s > tol * s[0]).sum()) if s[0] > 0 else 1)
    r = min(r, len(s))
    root = np.sqrt(s[:r])
    first = (u[:, :r] * root).T.reshape(r, c, kh, 1)
    second = (root[:, None] * vt[:r]).reshape(r, o, 1, kw).transpose(1, 0, 2, 3)
    return r, first.astype(np.float32), np.ascontiguousarray(second, dtype=np.float32), s


def _axis_attrs(a: ConvAttrs, num_output: int, axis: int, kernel, bias: bool) -> ConvAttrs:
    pick = lambda vals, other: tuple(v if i == axis else other for i, v in enumerate(vals))  # noqa: E731
    return ConvAttrs(
        num_output=num_output,
        kernel=kernel,
        stride=pick(a.stride, 1),
        dilation=pick(a.dilation, 1),
        pads_begin=pick(a.pads_begin, 0),
        pads_end=pick(a.pads_end, 0),
        bias=bias,
    )


def _spatial_steps(layer, a, first, second, r):
    bias = {"bias": layer.params["bias"]} if a.bias else {}
    return [
        Step(
            "Convolution",
            _axis_attrs(a, r, 0, (a.kernel[0], 1), False),
            {"weight": first},
            suffix="kx1",
        ),
        Step(
            "Convolution",
            _axis_attrs(a, a.num_output, 1, (1, a.kernel[1]), a.bias),
            {"weight": second, **bias},
            suffix="1xk",
        ),
    ]


def _depthwise_steps(layer, a, c, m, dw, pw, dw_bias=None):
    depth = ConvAttrs(
        num_output=c * m,
        kernel=a.kernel,
        stride=a.stride,
        dilation=a.dilation,
        pads_begin=a.pads_begin,
        pads_end=a.pads_end,
        group=c,
        bias=dw_bias is not None,
    )
    point = ConvAttrs(num_output=a.num_output, kernel=(1,) * a.rank, bias=a.bias)
    bias = {"bias": layer.params["bias"]} if a.bias else {}
    dparams = {"weight": dw, **({"bias": dw_bias} if dw_bias is not None else {})}
    return [
        Step("Convolution", depth, dparams, suffix="depthwise"),
        Step("Convolution", point, {"weight": pw, **bias}, suffix="pointwise"),
    ]


def _measured_error(layer, ctx, steps) -> float:
    x_spec = ctx.spec(layer.inputs[0])
    x = (
        seeded_rng(0, "split-separable", layer.name)
        .standard_normal(x_spec.shape)
        .astype(np.float32)
    )
    ref = conv_forward(x, layer.params["weight"], layer.params.get("bias"), layer.attrs)
    y = x
    for st in steps:
        y = conv_forward(y, st.params["weight"], st.params.get("bias"), st.attrs)
    return float(np.abs(y - ref).max() / max(np.abs(ref).max(), 1e-30))


def _rule_for(rank: int | None, tol: float):
    """The per-layer rule for the given options: the exact factorisations and the forced rank.
    (Long: the candidates share the layer's weights and costs; split, they would be passed.)"""

    def rule(layer, ctx):
        if layer.type == "SeparableConvolution":
            a, p = layer.attrs, layer.params
            c = ctx.spec(layer.inputs[0]).shape[1]
            steps = _depthwise_steps(
                layer,
                a.pointwise(),
                c,
                a.multiplier,
                p["depthwise_weight"],
                p["weight"],
                p.get("depthwise_bias"),
            )
            steps[0] = Step("Convolution", a.depthwise(c), steps[0].params, "depthwise")
            return ctx.chain(layer, steps)
        if layer.type != "Convolution":
            return None
        a = layer.attrs
        x = ctx.spec(layer.inputs[0]).shape
        c = x[1]
        if math.prod(a.kernel) == 1 or (a.group == c > 1):
            return None  # 1x1 or already depthwise: nothing to split
        if a.group != 1:
            return Skip(f"grouped convolution (group {a.group}) is not factored")
        w = layer.params["weight"]
        out = _out_shape(x, a)
        original = _conv_macs(out, c, a.kernel)
        if rank is not None:
            if a.rank != 2 or min(a.kernel) < 2:
                return Skip("rank splitting needs a 2-D kernel with kh, kw > 1")
            r, first, second, s = spatial_factors(w, tol, rank)
            steps = _spatial_steps(layer, a, first, second, r)
            bound = float(np.sqrt((s[r:] ** 2).sum()))
            err = _measured_error(layer, ctx, steps)
            ctx.note(
                f"split-separable: '{layer.name}' at rank {r}: weight error bound "
                f"{bound:.3g} ({bound / np.sqrt((s**2).sum()):.3g} of ||W||), measured "
                f"output error {err:.3g} of max |output|"
            )
            return ctx.chain(layer, steps)
        options = []
        dwf = depthwise_factors(w, tol)
        if dwf is not None:
            m, dw, pw, dropped = dwf
            if dropped <= tol:
                mid = _out_shape(
                    x,
                    ConvAttrs(
                        num_output=c * m,
                        kernel=a.kernel,
                        stride=a.stride,
                        dilation=a.dilation,
                        pads_begin=a.pads_begin,
                        pads_end=a.pads_end,
                        group=c,
                    ),
                )
                macs = _conv_macs(mid, 1, a.kernel) + _conv_macs(out, c * m, (1,))
                options.append(
                    (macs, f"depthwise rank {m}", _depthwise_steps(layer, a, c, m, dw, pw))
                )
        if a.rank == 2 and min(a.kernel) > 1:
            r, first, second, s = spatial_factors(w, tol)
            if len(s) <= r or s[r] <= tol * s[0]:
                h_only = _axis_attrs(a, r, 0, (a.kernel[0], 1), False)
                mid = _out_shape(x, h_only)
                macs = _conv_macs(mid, c, (a.kernel[0],)) + _conv_macs(out, r, (a.kernel[1],))
                options.append(
                    (macs, f"spatial rank {r}", _spatial_steps(layer, a, first, second, r))
                )
        if not options:
            return Skip(
                f"weights are not separable within tolerance {tol:g} (use rank=R for a lossy split)"
            )
        macs, what, steps = min(options, key=lambda t: t[0])
        if macs >= original:
            return Skip(
                f"exact factorisation ({what}) costs {macs:,} MACs, not fewer than {original:,}"
            )
        return ctx.chain(layer, steps)

    return rule


@register("split-separable")
def split_separable(graph, rank: int | None = None, tol: float = TOL):
    """SeparableConvolution / separable weights -> depthwise+pointwise or kx1+1xk convolutions."""
    if rank is not None and rank < 1:
        raise UsageError(f"option rank={rank}: the rank of a split is at least 1")
    if not 0 < tol < 1:
        raise UsageError(f"option tol={tol}: a relative singular-value threshold in (0, 1)")
    return rewrite(graph, _rule_for(rank, tol), "split-separable")
