"""Peak memory of `graphconv run` against onnxruntime running the exported model.

    python benchmarks/memory.py MODEL

Each engine runs in its own fresh process; the peak is that process's maximum resident set size
(ru_maxrss), so both include the Python interpreter, the imports and the weights. onnxruntime
gets the model exported by `graphconv convert` and the same seeded input.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent

ORT_CHILD = """
import sys, numpy as np, onnxruntime as ort
opts = ort.SessionOptions(); opts.log_severity_level = 3
sess = ort.InferenceSession(sys.argv[1], opts, providers=["CPUExecutionProvider"])
feeds = dict(np.load(sys.argv[2]))
sess.run(None, feeds)
"""


def peak_of(cmd: list[str]) -> int:
    """Peak RSS in bytes of the process tree started by ``cmd`` (Linux: ru_maxrss in KiB)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    subprocess.run(
        cmd, check=True, stdout=subprocess.DEVNULL, env={**os.environ, "PYTHONPATH": str(ROOT)}
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    if after <= before and before:
        raise SystemExit("ru_maxrss did not move: run each measurement in a fresh process")
    return after * 1024


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model")
    ap.add_argument("--measure", nargs=2, metavar=("ONNX", "FEEDS"), help=argparse.SUPPRESS)
    ap.add_argument("--engine", default="both", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    py = sys.executable
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    if args.engine == "interpreter":  # a grandchild: its only child is the measured run
        feeds = np.load(args.measure[1])
        with tempfile.TemporaryDirectory() as tmp:
            inputs = []
            for name in feeds.files:
                np.save(os.path.join(tmp, f"{name}.npy"), feeds[name])
                inputs += ["--input", f"{name}={os.path.join(tmp, name + '.npy')}"]
            peak = peak_of(
                [
                    py,
                    "-m",
                    "graphconv",
                    "run",
                    args.model,
                    *inputs,
                    "-o",
                    os.path.join(tmp, "out.npz"),
                ]
            )
        print(f"graphconv run  peak {peak / 2**20:8.0f} MiB", flush=True)
        return 0
    if args.engine == "onnxruntime":
        peak = peak_of([py, "-c", ORT_CHILD, *args.measure])
        print(f"onnxruntime    peak {peak / 2**20:8.0f} MiB", flush=True)
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        onnx_path, feeds_path = os.path.join(tmp, "m.onnx"), os.path.join(tmp, "in.npz")
        subprocess.run(
            [py, "-m", "graphconv", "convert", args.model, "-o", onnx_path],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
        )
        subprocess.run(
            [
                py,
                "-c",
                "import sys, numpy as np; from graphconv import load, "
                "random_feeds; g = load(sys.argv[1]); np.savez(sys.argv[2], "
                "**random_feeds(g))",
                args.model,
                feeds_path,
            ],
            check=True,
            env=env,
            stderr=subprocess.DEVNULL,
        )
        for engine in ("interpreter", "onnxruntime"):
            subprocess.run(
                [py, __file__, args.model, "--engine", engine, "--measure", onnx_path, feeds_path],
                check=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
