"""graphconv run: run the model in the NumPy interpreter, save and summarise the outputs."""

from __future__ import annotations

from ._args import input_arg, model_args
from ._common import EXIT_OK, input_feeds, load_graph, save_npz
from ._session import record, say


def add(sub) -> None:
    r = sub.add_parser("run", help="run the model with the NumPy interpreter")
    model_args(r)
    r.add_argument(
        "--input",
        action="append",
        type=input_arg,
        default=[],
        metavar="NAME=FILE.npy",
        help="an input array (.npy)",
    )
    r.add_argument(
        "--random",
        action="store_true",
        help="seeded standard-normal values (--seed) for inputs without --input",
    )
    r.add_argument("-o", "--output", required=True, help="output .npz with every graph output")
    r.set_defaults(func=cmd_run)


def cmd_run(args) -> int:
    import numpy as np

    from ..interpreter import random_feeds, run

    graph = load_graph(args)
    feeds = input_feeds(args, graph, args.random) or random_feeds(graph, args.seed)
    outs = run(graph, feeds)
    save_npz(args.output, outs)
    stats_of = {}
    for name, arr in outs.items():
        a = np.asarray(arr, dtype=np.float64)
        finite = a[np.isfinite(a)]
        stats = (
            f"min {finite.min():.4g}, max {finite.max():.4g}, mean {finite.mean():.4g}"
            if finite.size
            else "no finite values"
        )
        stats_of[name] = {
            "shape": list(arr.shape),
            "min": float(finite.min()) if finite.size else None,
            "max": float(finite.max()) if finite.size else None,
            "mean": float(finite.mean()) if finite.size else None,
            "nan": int(np.isnan(a).sum()),
            "inf": int(np.isinf(a).sum()),
        }
        say(
            f"{name} {'x'.join(map(str, arr.shape))}: {stats}, NaN {int(np.isnan(a).sum())}, "
            f"Inf {int(np.isinf(a).sum())}"
        )
    say(f"wrote {args.output}")
    record("outputs", stats_of)
    record("written", args.output)
    return EXIT_OK
