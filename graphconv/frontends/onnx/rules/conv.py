"""ONNX rules: Conv, ConvTranspose (and the auto_pad geometry pooling shares)."""

from __future__ import annotations

from .... import geometry
from ....layers.conv import ConvAttrs, DeconvAttrs
from ._common import Translator, Unsupported, _f32, _ints, onnx_rule


def _auto_pads(auto_pad: str, size: tuple[int, ...], kernel, stride, dilation):
    """Pads (begins, ends) of ONNX Conv/Pool auto_pad SAME_UPPER / SAME_LOWER / VALID."""
    begins, ends = [], []
    for h, k, s, d in zip(size, kernel, stride, dilation):
        if auto_pad == "VALID":
            begins.append(0)
            ends.append(0)
            continue
        b, e = geometry.same_pads(h, k, s, d, upper=auto_pad == "SAME_UPPER")
        begins.append(b)
        ends.append(e)
    return tuple(begins), tuple(ends)


def _conv_geometry(t: Translator, x: str, kernel: tuple[int, ...]):
    n = len(kernel)
    stride = _ints(t.attr("strides"), n, 1)
    dilation = _ints(t.attr("dilations"), n, 1)
    auto_pad = t.attr("auto_pad", b"NOTSET")
    auto_pad = auto_pad.decode() if isinstance(auto_pad, bytes) else auto_pad
    pads = _ints(t.attr("pads"), 2 * n, 0)
    if auto_pad in ("SAME_UPPER", "SAME_LOWER", "VALID"):
        pb, pe = _auto_pads(auto_pad, t.shape(x)[2:], kernel, stride, dilation)
    elif auto_pad == "NOTSET":
        pb, pe = pads[:n], pads[n:]
    else:
        raise Unsupported(f"auto_pad '{auto_pad}' is not an ONNX value")
    return stride, dilation, pb, pe, auto_pad


@onnx_rule("Conv")
def conv(t: Translator, node) -> None:
    x = t.data(0)
    w = _f32(t.const(node.input[1], "the weight"))
    b = t.optional_const(2, "the bias")
    kernel = tuple(t.attr("kernel_shape") or w.shape[2:])
    stride, dilation, pb, pe, _ = _conv_geometry(t, x, kernel)
    params = {"weight": w}
    if b is not None:
        params["bias"] = _f32(b)
    attrs = ConvAttrs(
        num_output=w.shape[0],
        kernel=kernel,
        stride=stride,
        dilation=dilation,
        pads_begin=pb,
        pads_end=pe,
        group=t.attr("group", 1),
        bias=b is not None,
    )
    t.add("Convolution", [x], attrs, params, output=t.out())


@onnx_rule("ConvTranspose")
def conv_transpose(t: Translator, node) -> None:
    x = t.data(0)
    w = _f32(t.const(node.input[1], "the weight"))
    b = t.optional_const(2, "the bias")
    group = t.attr("group", 1)
    kernel = tuple(t.attr("kernel_shape") or w.shape[2:])
    n = len(kernel)
    stride = _ints(t.attr("strides"), n, 1)
    dilation = _ints(t.attr("dilations"), n, 1)
    op = _ints(t.attr("output_padding"), n, 0)
    auto_pad = t.attr("auto_pad", b"NOTSET")
    auto_pad = auto_pad.decode() if isinstance(auto_pad, bytes) else auto_pad
    output_shape = t.attr("output_shape")
    size = t.shape(x)[2:]
    if output_shape is not None and len(output_shape):
        target = tuple(int(v) for v in output_shape)[-n:]
    elif auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        target = tuple(h * s for h, s in zip(size, stride))
    else:
        target = None
    if target is not None:
        pb, pe = [], []
        for h, k, s, d, o, want in zip(size, kernel, stride, dilation, op, target):
            begin, end = geometry.deconv_pads_for_length(
                h, k, s, d, o, want, upper=auto_pad == "SAME_UPPER"
            )
            pb.append(begin)
            pe.append(end)
    elif auto_pad in ("NOTSET", "VALID"):
        pads = _ints(t.attr("pads"), 2 * n, 0) if auto_pad == "NOTSET" else (0,) * (2 * n)
        pb, pe = pads[:n], pads[n:]
    else:
        raise Unsupported(f"auto_pad '{auto_pad}' is not an ONNX value")
    if any(p < 0 for p in pb):
        raise Unsupported(f"negative begin pads {tuple(pb)} (output before the first sample)")
    # a negative end pad extends the output like output_padding does (zeros plus the bias)
    op = tuple(o - min(e, 0) for o, e in zip(op, pe))
    pe = tuple(max(e, 0) for e in pe)
    params = {"weight": w}
    if b is not None:
        params["bias"] = _f32(b)
    attrs = DeconvAttrs(
        num_output=w.shape[1] * group,
        kernel=kernel,
        stride=stride,
        dilation=dilation,
        pads_begin=tuple(pb),
        pads_end=tuple(pe),
        group=group,
        bias=b is not None,
        output_padding=op,
    )
    t.add("Deconvolution", [x], attrs, params, output=t.out())
