"""Benchmark single layers against onnxruntime (and onnx's ReferenceEvaluator); print Markdown.

    python benchmarks/layers.py [--repeat N] [--threads T] [--no-reference]

The layers are the issue's targets: the FCN-8s and FCN-AlexNet deconvolutions at the shapes
they have in those models at 500x500 / 500x356, a 64->64 4x4 stride-2 deconvolution of a 56x56
input, and a few convolutions of common shapes. Weights are seeded; each layer is one graph.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from graphconv import ConvAttrs, DeconvAttrs, GraphBuilder  # noqa: E402
from graphconv.bench import bench  # noqa: E402

LAYERS = [
    # (label, layer type, input shape, attrs, compare with the ReferenceEvaluator)
    (
        "FCN-8s upscore2: deconv k4 s2, 21->21",
        "Deconvolution",
        (1, 21, 16, 16),
        DeconvAttrs(num_output=21, kernel=(4, 4), stride=2, bias=False),
        False,
    ),
    (
        "FCN-8s upscore_pool4: deconv k4 s2, 21->21",
        "Deconvolution",
        (1, 21, 34, 34),
        DeconvAttrs(num_output=21, kernel=(4, 4), stride=2, bias=False),
        False,
    ),
    (
        "FCN-8s upscore8: deconv k16 s8, 21->21",
        "Deconvolution",
        (1, 21, 70, 70),
        DeconvAttrs(num_output=21, kernel=(16, 16), stride=8, bias=False),
        False,
    ),
    (
        "FCN-AlexNet upscore: deconv k63 s32, group 21",
        "Deconvolution",
        (1, 21, 16, 12),
        DeconvAttrs(num_output=21, kernel=(63, 63), stride=32, group=21, bias=False),
        False,
    ),
    (
        "deconv k4 s2 p1, 64->64, 56x56",
        "Deconvolution",
        (1, 64, 56, 56),
        DeconvAttrs(num_output=64, kernel=(4, 4), stride=2, pads=1),
        True,
    ),
    (
        "ENet/ERFNet final deconv k2 s2, 16->19",
        "Deconvolution",
        (1, 16, 256, 512),
        DeconvAttrs(num_output=19, kernel=(2, 2), stride=2),
        False,
    ),
    (
        "conv 3x3, 64->64, 224x224",
        "Convolution",
        (1, 64, 224, 224),
        ConvAttrs(num_output=64, kernel=(3, 3), pads=1),
        False,
    ),
    (
        "conv 3x3, 3->64, 224x224",
        "Convolution",
        (1, 3, 224, 224),
        ConvAttrs(num_output=64, kernel=(3, 3), pads=1),
        True,
    ),
    (
        "conv 3x3 dilation 4, 512->512, 66x66",
        "Convolution",
        (1, 512, 66, 66),
        ConvAttrs(num_output=512, kernel=(3, 3), dilation=4, pads=4),
        False,
    ),
    (
        "conv 1x1, 256->64, 56x56",
        "Convolution",
        (1, 256, 56, 56),
        ConvAttrs(num_output=64, kernel=(1, 1)),
        False,
    ),
    (
        "depthwise 3x3, 128 ch, 56x56",
        "Convolution",
        (1, 128, 56, 56),
        ConvAttrs(num_output=128, kernel=(3, 3), pads=1, group=128),
        False,
    ),
]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument(
        "--no-reference",
        action="store_true",
        help="skip onnx's ReferenceEvaluator (slow: seconds per deconvolution)",
    )
    ap.add_argument("--only", help="only layers whose label contains this")
    args = ap.parse_args(argv)
    print(
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, "
        f"{args.threads or os.cpu_count()} threads, median of {args.repeat}\n"
    )
    print("| layer | interpreter | onnxruntime | ratio | ReferenceEvaluator | speed-up over it |")
    print("|---|---:|---:|---:|---:|---:|")
    for label, kind, shape, attrs, with_ref in LAYERS:
        if args.only and args.only not in label:
            continue
        b = GraphBuilder(kind.lower(), seed=0)
        b.add(kind, b.input("data", shape), attrs, name="layer")
        res = bench(
            b.build(),
            repeat=args.repeat,
            threads=args.threads,
            against_reference=with_ref and not args.no_reference,
        )
        ref = (
            ("", "")
            if res.reference_s is None
            else (f"{res.reference_s * 1e3:.0f} ms", f"{res.reference_s / res.interpreter_s:.0f}x")
        )
        print(
            f"| {label} | {res.interpreter_s * 1e3:.2f} ms | {res.onnxruntime_s * 1e3:.2f} ms "
            f"| {res.ratio:.2f}x | {ref[0]} | {ref[1]} |",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
