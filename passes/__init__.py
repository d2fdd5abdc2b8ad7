"""Rewrite passes: each a function ``Graph -> Graph`` registered by name, one per file.

``apply(graph, names)`` runs a pipeline; a failure names the pass and the ones before it.

What lives here: one module per pass (``deconv_to_conv``, ``fold_batchnorm``, ...), each a rule
stating its rewrite as a pattern, when it is exact and what it costs; the table of passes by
name (``_registry``); the splicing plumbing every rule shares (``_rewrite``: walk, replace,
keep output names, record sites); the pipeline (``apply`` and friends, here) and the per-site
checks (``verify``).

What must not: layer semantics or arithmetic a layer type or the interpreter also needs (ask the
layer's definition, e.g. ``LayerType.affine`` / ``fold_affine``, or share a module such as
``graphconv.affine``); shape formulas (the layer types and geometry own them); protobuf, file
formats or ONNX export; printing (the CLI's job). A pass never mutates its input Graph.
"""

from __future__ import annotations

from typing import Iterable

from graphconv.errors import GraphconvError, UsageError
from graphconv.ir import Graph

from ._registry import (  # noqa: F401  (the public names)
    _PASSES,
    Pass,
    _check_options,
    options_of,
    parse_pass,
    register,
    registry,
)


def _resolve(names: Iterable[str]) -> list[tuple[str, dict]]:
    specs = [parse_pass(n) for n in names]
    unknown = [n for n, _ in specs if n not in _PASSES]
    if unknown:
        known = ", ".join(sorted(_PASSES)) or "none registered yet"
        raise UsageError(f"unknown pass(es) {', '.join(unknown)} (available: {known})")
    return specs


def apply(graph: Graph, names: Iterable[str], verify: bool | str = False) -> Graph:
    """Run the named passes in order (``name`` or ``name:key=value``).

    ``verify=True`` runs the interpreter before and after each pass on seeded random input and
    raises if an output changed (relative error above 1e-5). ``verify="exact"`` checks every
    rewrite site on its own (:mod:`passes.verify`): bit equality on small-integer inputs and
    weights where the site's arithmetic stays on integers, else a 1e-4 relative tolerance; the
    first failing site raises, naming the pass, the layer and the first differing element.
    A failure names the pass and those before.
    """
    if verify not in (False, True, "exact"):
        raise UsageError(f"verify must be False, True or 'exact', got {verify!r}")
    if verify == "exact":
        after, checks = apply_checked(graph, names)
        bad = [c for c in checks if not c.ok]
        if bad:
            raise GraphconvError(f"rewrite check failed: {bad[0].line()}")
        return after
    done: list[str] = []
    for name, options in _resolve(names):
        after = _run_pass(graph, name, options, done)
        if verify:
            _verify(graph, after, name)
        graph = after
        done.append(name)
    return graph


def _run_pass(graph: Graph, name: str, options: dict, done: list[str]) -> Graph:
    _check_options(name, options)
    try:
        return _PASSES[name](graph, **options)
    except GraphconvError as e:
        before = f" after {', '.join(done)}" if done else ""
        raise type(e)(f"pass '{name}'{before}: {e}") from e


def apply_recorded(graph: Graph, names: Iterable[str]) -> tuple[Graph, list[tuple]]:
    """Run the passes and return the result with every rewrite site, as ``(pass function,
    options, Site)`` in the order they were made."""
    from ._rewrite import recording

    sites: list[tuple] = []
    done: list[str] = []
    for name, options in _resolve(names):
        with recording() as found:
            graph = _run_pass(graph, name, options, done)
        sites.extend((_PASSES[name], options, site) for site in found)
        done.append(name)
    return graph, sites


def apply_checked(graph: Graph, names: Iterable[str], *, seed: int = 0, rtol: float = 1e-4):
    """Run the passes, then check every rewrite site on its own; returns ``(graph, checks)``
    with one :class:`passes.verify.SiteCheck` per site."""
    from .verify import check_site

    after, sites = apply_recorded(graph, names)
    return after, [
        check_site(site, fn, options, seed=seed, rtol=rtol) for fn, options, site in sites
    ]


def _verify(before: Graph, after: Graph, name: str, rtol: float = 1e-5) -> None:
    from graphconv.interpreter import random_feeds, run
    from graphconv.validate import compare

    feeds = random_feeds(before)
    a, b = run(before, feeds), run(after, feeds)
    for t in before.outputs:
        err, rel = compare(b[t], a[t])
        if not rel <= rtol:
            raise GraphconvError(f"pass '{name}' changed output '{t}': rel error {rel:.3g}")


from . import (  # noqa: E402,F401
    batchnorm_to_affine,
    bilinear_to_deconv,
    crop_to_pad,
    deconv_to_conv,
    deconv_to_subpixel,
    dilated_to_dense,
    dilated_to_space_to_batch,
    eliminate,
    explicit_pad,
    fold_batchnorm,
    fold_pad,
    grouped_deconv,
    inner_product_to_conv,
    limit_stride,
    pad_to_conv,
    remove_output_padding,
    resize_to_conv,
    split_large_kernel,
    split_separable,
    upsample_to_deconv,
)
from .legalize import Plan, legalize  # noqa: E402,F401  (the planner: not a registered pass)
