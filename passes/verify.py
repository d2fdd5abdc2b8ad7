"""Check every rewrite site on its own: the layers a pass replaced against their replacement.

A site (recorded by :func:`passes._rewrite.recording`) is cut out of the graph it was found in:
its original layers, fed by ``Input`` layers in place of the tensors they read. The pass is
applied again to that small graph and both sides run in the interpreter.

**Exact mode.** The lowering passes are linear in inputs and weights: every output sample of the
replacement sums the same products as the original, only in another order. With small-integer
inputs and weights (in [-2, 2]) every product and partial sum is an integer, and float32
arithmetic on integers is exact below 2**24 whatever the order; so the two sides must agree bit
for bit. The bound is checked, not assumed: the same site run on the absolute values of inputs
and weights dominates every partial sum, and must stay below 2**24. Any difference is a wrong
rewrite, reported with the first differing element.

**Tolerance mode.** Where the site does not stay on integers (BatchNorm divides by sqrt(var + eps),
AVE pooling divides by the window, bilinear weights are fractions) or the pass's decision depends
on the weight values (``split-separable`` factors by singular values), the site is checked with
its own float weights on seeded standard-normal inputs against a relative tolerance, and the
report says so and why.

Large sites are checked at a reduced spatial size (the rewrites are rules on attributes, not on
the input size); the check says which size it used.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import numpy as np

from graphconv.builder import cut_out
from graphconv.errors import GraphconvError
from graphconv.ir import Graph, TensorSpec, seeded_rng
from graphconv.validate import compare, computed_tensors

from ._rewrite import Site, recording

EXACT_LIMIT = 2.0**24  # float32 represents every integer up to this: integer sums are exact
SITE_MACS = 50_000_000  # above this a site is checked at a reduced spatial size
SHRINK = (32, 16, 8, 4, 2, 1)  # the spatial extents tried, largest first


@dataclass(frozen=True)
class SiteCheck:
    """The verdict on one rewrite site."""

    pass_name: str
    layer: str  # the layer the pass matched
    type: str
    mode: str  # "exact" (bit equality on integers) or "tolerance"
    ok: bool
    max_abs: float
    rel: float
    detail: str = ""  # the first differing element, or why tolerance mode was used
    size: str = ""  # the input shapes the site was checked at

    def line(self) -> str:
        head = f"{self.pass_name}: layer '{self.layer}' ({self.type}) at {self.size}: "
        if self.mode == "exact":
            body = (
                "bit-equal on integer inputs and weights"
                if self.ok
                else f"DIFFERS on integer inputs and weights: {self.detail}"
            )
        else:
            verdict = "ok" if self.ok else "EXCEEDS the tolerance"
            body = (
                f"checked by tolerance ({self.detail}): max abs err {self.max_abs:.3g}, "
                f"rel {self.rel:.3g} {verdict}"
            )
        return head + body


def site_graph(
    site: Site,
    shapes: Mapping[str, TensorSpec],
    params: Mapping[str, Mapping[str, np.ndarray]] | None = None,
) -> Graph:
    """The site's original layers as a graph of their own: an ``Input`` for each tensor they
    read (with ``shapes``), ``params`` replacing layers' weights where given."""
    layers = [
        layer if layer.name not in (params or {}) else layer.replace(params=params[layer.name])
        for layer in site.originals
    ]
    return cut_out(layers, shapes, site.outputs, f"site:{site.originals[0].name}")


def _shrunk(specs: Mapping[str, TensorSpec], extent: int | None) -> dict[str, TensorSpec]:
    if extent is None:
        return dict(specs)
    return {
        t: TensorSpec(s.shape[:2] + tuple(min(d, extent) for d in s.shape[2:]), s.dtype)
        if s.rank >= 3
        else s
        for t, s in specs.items()
    }


def _types(layers) -> list[str]:
    return [layer.type for layer in layers]


def _reapply(site: Site, graph: Graph, pass_fn, options) -> Graph | None:
    """The pass applied to a site graph, or None when it did not make the same rewrite."""
    with recording() as found:
        after = pass_fn(graph, **options)
    if len(found) != 1 or _types(found[0].replacement) != _types(site.replacement):
        return None
    return after


def _attempt(site: Site, extent: int | None, pass_fn, options, params):
    """(site graph, rewritten) at one spatial extent, or None where invalid or rewritten
    otherwise."""
    try:
        before = site_graph(site, _shrunk(site.input_specs, extent), params)
        after = _reapply(site, before, pass_fn, options)
    except GraphconvError:
        return None
    return None if after is None else (before, after)


def _candidates(site: Site, pass_fn, options, params=None):
    """(site graph, rewritten site graph): the full size when its MACs are within
    ``SITE_MACS``, else the largest reduced size that is, else the smallest valid size (found by
    bisection: a kernel's extent bounds it from below)."""
    from graphconv.analysis import total_macs

    def cheap(pair):
        return max(total_macs(pair[0]), total_macs(pair[1])) <= SITE_MACS

    full = max((max(s.shape[2:], default=1) for s in site.input_specs.values()), default=1)
    invalid, valid, best = 0, None, None
    for extent in (None, *(e for e in SHRINK if e < full)):
        pair = _attempt(site, extent, pass_fn, options, params)
        if pair is None:
            invalid = max(invalid, extent or full)
            continue
        valid, best = extent or full, pair
        if cheap(pair):
            yield pair
            return
    if valid is None:
        return
    lo, hi = invalid, valid  # invalid at lo (or nothing tried), valid at hi
    while hi - lo > 1:
        mid = (lo + hi) // 2
        pair = _attempt(site, mid, pass_fn, options, params)
        if pair is None:
            lo = mid
        else:
            hi, best = mid, pair
    yield best


def _integer_params(site: Site, seed: int) -> dict[str, dict[str, np.ndarray]]:
    return {
        layer.name: {
            k: seeded_rng(seed, "site", layer.name, k).integers(-2, 3, v.shape).astype(np.float32)
            for k, v in layer.params.items()
        }
        for layer in site.originals
    }


def _integer_feeds(graph: Graph, seed: int) -> dict[str, np.ndarray]:
    return {
        t: seeded_rng(seed, "site-input", t).integers(-2, 3, s.shape).astype(np.float32)
        for t, s in graph.inputs.items()
    }


def _every_tensor(graph: Graph, feeds) -> dict[str, np.ndarray]:
    from graphconv.interpreter import run

    return run(graph, feeds, outputs=computed_tensors(graph), fuse=False)


def _absolute(graph: Graph) -> Graph:
    return graph.replace(
        layers=tuple(
            layer.replace(params={k: np.abs(v) for k, v in layer.params.items()})
            if layer.params
            else layer
            for layer in graph.layers
        )
    )


def _not_integer(graph: Graph, values: Mapping[str, np.ndarray]) -> str | None:
    """Why the site is not on exact integers, or None when every value is an integer < 2**24."""
    for layer in graph.layers:
        for t in layer.outputs:
            v = values.get(t)
            if v is None or v.dtype.kind != "f":
                continue
            if not np.all(np.isfinite(v)) or not np.array_equal(v, np.round(v)):
                return f"layer '{layer.name}' ({layer.type}) computes non-integers"
            if v.size and float(np.max(np.abs(v))) >= EXACT_LIMIT:
                return f"layer '{layer.name}' ({layer.type}) exceeds 2**24"
    return None


def _first_difference(a: np.ndarray, b: np.ndarray, tensor: str) -> str:
    if a.shape != b.shape:
        return f"tensor '{tensor}' has shape {b.shape}, the original {a.shape}"
    idx = tuple(int(i) for i in np.argwhere(a != b)[0])
    return (
        f"tensor '{tensor}' first differs at {idx}: original {a[idx]:g}, "
        f"rewritten {b[idx]:g} ({int(np.sum(a != b))} of {a.size} elements differ)"
    )


def _size(graph: Graph) -> str:
    return ", ".join("x".join(map(str, s.shape)) for s in graph.inputs.values())


def _exact(site: Site, pass_fn, options, seed: int) -> SiteCheck | str:
    """The exact check, or the reason it does not apply."""
    params = _integer_params(site, seed)
    with np.errstate(all="ignore"):  # integer variances may be negative: then not exact
        return _exact_on(site, pass_fn, options, seed, params)


def _exact_on(site: Site, pass_fn, options, seed: int, params) -> SiteCheck | str:
    for before, after in _candidates(site, pass_fn, options, params):
        feeds = _integer_feeds(before, seed)
        ours = _every_tensor(before, feeds)
        why = _not_integer(before, ours)
        if why is None:
            absolute = {t: np.abs(v) for t, v in feeds.items()}
            why = _not_integer(before, _every_tensor(_absolute(before), absolute)) or _not_integer(
                after, _every_tensor(_absolute(after), absolute)
            )
        if why is not None:
            return why
        theirs = _every_tensor(after, feeds)
        first = site.originals[0]
        for t in site.outputs:
            if not np.array_equal(ours[t], theirs[t]):
                err, rel = compare(theirs[t], ours[t])
                return SiteCheck(
                    site.pass_name,
                    first.name,
                    first.type,
                    "exact",
                    False,
                    err,
                    rel,
                    _first_difference(ours[t], theirs[t], t),
                    _size(before),
                )
        return SiteCheck(
            site.pass_name, first.name, first.type, "exact", True, 0.0, 0.0, size=_size(before)
        )
    return "the pass makes another rewrite on integer weights (its decision depends on them)"


def _tolerance(site: Site, pass_fn, options, seed: int, rtol: float, why: str) -> SiteCheck:
    from graphconv.interpreter import random_feeds, run

    first = site.originals[0]
    for before, after in _candidates(site, pass_fn, options):
        feeds = random_feeds(before, seed)
        # the original unfused: the interpreter would otherwise fold a BatchNorm into the
        # convolution's weights as the pass does, and compare the folding with itself
        ours, theirs = run(before, feeds, fuse=False), run(after, feeds)
        worst = (0.0, 0.0)
        for t in site.outputs:
            err, rel = compare(theirs[t], ours[t])
            if not rel <= worst[1]:
                worst = (err, rel)
        return SiteCheck(
            site.pass_name,
            first.name,
            first.type,
            "tolerance",
            worst[1] <= rtol,
            worst[0],
            worst[1],
            why,
            _size(before),
        )
    raise GraphconvError(
        f"{site.pass_name}: layer '{first.name}': the rewrite could not be "
        "reproduced on the layer alone"
    )


def check_site(
    site: Site, pass_fn, options: Mapping | None = None, *, seed: int = 0, rtol: float = 1e-4
) -> SiteCheck:
    """Check one site exactly where its arithmetic stays on integers, else by ``rtol``."""
    options = dict(options or {})
    result = _exact(site, pass_fn, options, seed)
    if isinstance(result, SiteCheck):
        return result
    return _tolerance(site, pass_fn, options, seed, rtol, result)


def summarize(checks: list[SiteCheck]) -> list[str]:
    """One line per pass: how many sites, how many checked exactly, how many failed."""
    by_pass: dict[str, list[SiteCheck]] = {}
    for c in checks:
        by_pass.setdefault(c.pass_name, []).append(c)
    lines = []
    for name, cs in by_pass.items():
        exact = sum(c.mode == "exact" for c in cs)
        bad = sum(not c.ok for c in cs)
        tol = len(cs) - exact
        parts = [
            f"{exact} bit-equal on integers" if exact else "",
            f"{tol} by tolerance" if tol else "",
            f"{bad} FAILED" if bad else "",
        ]
        lines.append(
            f"rewrite sites of {name}: {len(cs)} checked ({', '.join(p for p in parts if p)})"
        )
    return lines


def exact_fraction(checks: list[SiteCheck]) -> float:
    return sum(c.mode == "exact" for c in checks) / max(len(checks), 1)
