"""Generated layer specs for compile-time benchmarks: long chains of the layer types the
lowering passes rewrite (dilated convolutions, deconvolutions, nearest upsampling), kept at a
small spatial size so that only the compiler's own cost grows with the layer count."""

from __future__ import annotations


def synthetic_prototxt(n_layers: int, channels: int = 4, size: int = 8) -> str:
    """A prototxt with about ``n_layers`` layers: repeated blocks of
    Convolution(dilation 2) -> ReLU (in place) -> Convolution(stride 2) -> Deconvolution(k4 s2 p1)
    -> ReLU -> Upsample(2) -> Convolution(stride 2)."""
    lines = [
        f'name: "synthetic_{n_layers}"',
        f'input: "data" input_shape {{ dim: 1 dim: {channels} dim: {size} dim: {size} }}',
    ]
    prev, i = "data", 0

    def conv(kind: str, params: str) -> None:
        nonlocal prev, i
        name = f"l{i}"
        lines.append(
            f'layer {{ name: "{name}" type: "{kind}" bottom: "{prev}" top: "{name}" {params} }}'
        )
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


LOWERING = ("upsample-to-deconv", "deconv-to-conv", "dilated-to-dense")


def compile_bench(sizes=(5000, 10000), pass_names=LOWERING, repeat: int = 3) -> list[dict]:
    """Time parse + lowering passes + ONNX export (with its checks) of generated graphs.

    A small graph is compiled first so imports and caches do not count; each size reports the
    median of ``repeat`` runs, split by stage."""
    import os
    import statistics
    import tempfile
    from time import perf_counter

    from graphconv.passes import apply

    from .export import to_onnx
    from .frontends import load

    def once(path):
        t0 = perf_counter()
        graph = load(path)
        t1 = perf_counter()
        lowered = apply(graph, pass_names)
        t2 = perf_counter()
        to_onnx(lowered)
        t3 = perf_counter()
        return len(graph.layers), len(lowered.layers), (t1 - t0, t2 - t1, t3 - t2)

    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in (50, *sizes):
            path = os.path.join(tmp, f"synthetic_{n}.prototxt")
            with open(path, "w") as f:
                f.write(synthetic_prototxt(n))
            runs = [once(path) for _ in range(1 if n == 50 else repeat)]
            if n == 50:
                continue
            stages = [statistics.median(r[2][i] for r in runs) for i in range(3)]
            results.append(
                {
                    "layers": runs[0][0],
                    "layers_after": runs[0][1],
                    "parse_s": stages[0],
                    "passes_s": stages[1],
                    "export_s": stages[2],
                    "total_s": sum(stages),
                }
            )
    return results
