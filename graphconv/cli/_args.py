"""Argument types and the flags shared by the model commands (parsing only, no work)."""

from __future__ import annotations

import argparse

from ..errors import GraphconvError, UsageError

MAX_DIM = 2**31 - 1  # ONNX and NumPy index with 64 bits, but no real tensor axis is this long


class Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, exit 2 (argparse prints usage by default)
        raise UsageError(f"{self.prog}: {message}")


def shape_arg(text: str) -> tuple[str, tuple[int, ...]]:
    name, sep, dims = text.partition("=")
    try:
        shape = tuple(int(d) for d in dims.split(","))
    except ValueError:
        shape = ()
    if not sep or not name or not shape or any(d < 1 for d in shape):
        raise argparse.ArgumentTypeError(
            f"expected NAME=D1,D2,... with positive dims, got '{text[:80]}'"
        )
    if any(d > MAX_DIM for d in shape):
        raise argparse.ArgumentTypeError(f"a dimension above {MAX_DIM:,} in '{text[:80]}'")
    return name, shape


def input_arg(text: str) -> tuple[str, str]:
    name, sep, path = text.partition("=")
    if not sep or not name or not path:
        raise argparse.ArgumentTypeError(f"expected NAME=FILE.npy, got '{text}'")
    return name, path


def _size_arg(text: str) -> int:
    from ..memory import parse_size

    try:
        return parse_size(text)
    except GraphconvError as e:
        raise argparse.ArgumentTypeError(str(e).removeprefix("--max-memory: ")) from None


def passes_arg(text: str) -> list[str]:
    return [p.strip() for p in text.split(",") if p.strip()]


def tolerance_arg(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a finite number >= 0, got '{text}'")
    return value


def model_args(sp, rtol: bool = False, json: bool = True) -> None:
    """The flags every model command shares; ``rtol`` adds the comparison flags."""
    sp.add_argument("--debug", action="store_true", help="show tracebacks")
    sp.add_argument("model", help="model file (.prototxt or .onnx)")
    sp.add_argument("--weights", help="Caffe .caffemodel with the trained blobs")
    sp.add_argument(
        "--input-shape",
        action="append",
        type=shape_arg,
        default=[],
        metavar="NAME=N,C,H,W",
        help="supply or override an input shape",
    )
    sp.add_argument(
        "--seed",
        type=int,
        default=0,
        help="seed for filler weights and random inputs (default 0)",
    )
    sp.add_argument(
        "-q", "--quiet", action="store_true", help="count notes instead of listing them"
    )
    sp.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="more detail (validate --exact: one line per rewrite site)",
    )
    if json:
        sp.add_argument(
            "--json",
            action="store_true",
            help="print one JSON object (verdict, per-output errors, times, notes) and nothing "
            "else on stdout",
        )
    sp.add_argument(
        "--max-memory",
        type=_size_arg,
        default=None,
        metavar="SIZE",
        help="refuse, before allocating, a command estimated to need more memory "
        "(8G, 512M, 50%%; default 75%% of this machine's memory)",
    )
    sp.add_argument(
        "--caffe-fork",
        metavar="NAME",
        help="the Caffe fork a prototxt was written for, where forks compute differently "
        "(bvlc, the default, or caffe-yolov3)",
    )
    sp.add_argument(
        "--plugin",
        action="append",
        default=[],
        metavar="FILE.py",
        help="a Python file defining custom layers (graphconv.register_layer); repeatable, "
        "before or after the command",
    )
    sp.add_argument(
        "--passes",
        type=passes_arg,
        default=[],
        metavar="NAME,...",
        help="rewrite passes to apply (see 'graphconv passes')",
    )
    if rtol:
        sp.add_argument(
            "--rtol",
            type=tolerance_arg,
            default=1e-4,
            help="max error relative to the output's largest magnitude",
        )
        sp.add_argument(
            "--passes-rtol",
            type=tolerance_arg,
            default=None,
            metavar="R",
            help="tolerance of original vs rewritten (default: --rtol); a "
            "lossy pass such as split-separable:rank=R needs one on purpose",
        )
        sp.add_argument(
            "--exact",
            action="store_true",
            help="check every rewrite site on its own: bit equality on "
            "small-integer inputs and weights where the arithmetic allows",
        )
        sp.add_argument(
            "--input",
            action="append",
            type=input_arg,
            default=[],
            metavar="NAME=FILE.npy",
            help="a real input (.npy) instead of seeded random values for that input",
        )
        sp.add_argument(
            "--repro",
            metavar="DIR",
            help="on a mismatch, write the first layer that differs on "
            "identical inputs as a one-layer ONNX model with its inputs",
        )
