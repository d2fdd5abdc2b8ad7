"""Generated layer specs for compile-time benchmarks: long chains of the layer types the
lowering passes rewrite (dilated convolutions, deconvolutions, nearest upsampling), kept at a
small spatial size so that only the compiler's own cost grows with the layer count."""

from __future__ import annotations


def synthetic_prototxt(n_layers: int, channels: int = 4, size: int = 8) -> str:
    """A prototxt with about ``n_layers`` layers: repeated blocks of
    Convolution(dilation 2) -> ReLU (in place) -> Convolution(stride 2) -> Deconvolution(k4 s2 p1)
    -> ReLU -> Upsample(2) -> Convolution(stride 2)."""
    lines = [f'name: "synthetic_{n_layers}"',
             f'input: "data" input_shape {{ dim: 1 dim: {channels} dim: {size} dim: {size} }}']
    prev, i = "data", 0

    def conv(kind: str, params: str) -> None:
        nonlocal prev, i
        name = f"l{i}"
        lines.append(f'layer {{ name: "{name}" type: "{kind}" bottom: "{prev}" top: "{name}" '
                     f"{params} }}")
        prev, i = name, i + 1

    while i < n_layers:
        c = f"num_output: {channels}"
        conv("Convolution", f"convolution_param {{ {c} kernel_size: 3 pad: 2 dilation: 2 }}")
        lines.append(f'layer {{ name: "r{i}" type: "ReLU" bottom: "{prev}" top: "{prev}" }}')
        i += 1
        conv("Convolution", f"convolution_param {{ {c} kernel_size: 3 pad: 1 stride: 2 }}")
        conv("Deconvolution", f"convolution_param {{ {c} kernel_size: 4 pad: 1 stride: 2 }}")
        conv("ReLU", "")
        conv("Upsample", "upsample_param { scale: 2 }")
        conv("Convolution", f"convolution_param {{ {c} kernel_size: 3 pad: 1 stride: 2 }}")
    return "\n".join(lines) + "\n"
