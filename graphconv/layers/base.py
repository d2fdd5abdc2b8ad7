"""The layer-type protocol and its registry.

Each layer type is one class holding every fact about it: its attribute dataclass, shape rule,
parameter shapes and initialisation, NumPy kernel, ONNX emission and MAC count. Everything else
dispatches through :func:`layer_type`; nothing switches on type strings.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np

from ..errors import GraphError
from ..ir import TensorSpec, he_init
# chain_epilogues: re-exported for graphconv/interpreter.py's import
from ..kernels.epilogue import Epilogue, apply_by_blocks, chain_epilogues, per_channel  # noqa: F401

_REGISTRY: dict[str, "LayerType"] = {}


class LayerType:
    """Base of all layer definitions. Subclasses override what applies to them."""

    type: ClassVar[str]
    Attrs: ClassVar[type]
    arity: ClassVar[tuple[int, int | None]] = (1, 1)
    is_source: ClassVar[bool] = False  # True for Input: the interpreter feeds it
    copies_input: ClassVar[bool] = False  # every output equals the single input (Dropout, Split)
    # run() returns new arrays that nobody else holds, so the interpreter may apply a following
    # layer's epilogue to them in place (see run_then and epilogue)
    fresh_output: ClassVar[bool] = False

    def infer(self, a: Any, ins: Sequence[TensorSpec]) -> list[TensorSpec]:
        raise NotImplementedError

    def param_shapes(self, a: Any, ins: Sequence[TensorSpec]) -> dict[str, tuple[int, ...]]:
        return {}

    def init_params(self, a: Any, ins: Sequence[TensorSpec],
                    rng: np.random.Generator) -> dict[str, np.ndarray]:
        """Seeded random parameters: He-scaled weights, small normal biases."""
        out = {}
        for key, shape in self.param_shapes(a, ins).items():
            if key == "bias":
                out[key] = (0.1 * rng.standard_normal(shape)).astype(np.float32)
            else:
                out[key] = he_init(shape, self.fan_in(a, shape), rng)
        return out

    def fan_in(self, a: Any, weight_shape: tuple[int, ...]) -> int:
        return math.prod(weight_shape[1:])

    def run(self, a: Any, xs: Sequence[np.ndarray],
            p: Mapping[str, np.ndarray]) -> list[np.ndarray]:
        raise NotImplementedError

    def epilogue(self, a: Any, p: Mapping[str, np.ndarray], x: TensorSpec) -> Epilogue | None:
        """This layer as an in-place, per-channel map of its one input ``x``, or None when it is
        not one (the default). The interpreter then fuses it into the layer producing ``x``: the
        producer applies it to each chunk of its output while the chunk is in cache."""
        return None

    def fold_affine(self, a: Any, p: Mapping[str, np.ndarray],
                    affine: Affine) -> dict[str, np.ndarray] | None:
        """Parameters that make ``run`` produce its output followed by ``affine`` (per output
        channel), or None when this layer cannot absorb one (the default)."""
        return None

    def run_then(self, a: Any, xs: Sequence[np.ndarray], p: Mapping[str, np.ndarray],
                 epilogue: Epilogue) -> list[np.ndarray]:
        """``run``, then ``epilogue`` in place on the single output. Only called when
        ``fresh_output``; kernels that work in chunks override it to apply it per chunk."""
        (y,) = self.run(a, xs, p)
        apply_by_blocks(epilogue, y)
        return [y]

    def to_onnx(self, layer, em, ins: Sequence[str], outs: Sequence[str]) -> None:
        raise NotImplementedError

    def macs(self, a: Any, ins: Sequence[TensorSpec], outs: Sequence[TensorSpec]) -> int:
        return 0


class Affine:
    """The epilogue ``block * scale[c] + shift[c]`` (BatchNorm with stored statistics, Scale).
    Being explicit, consecutive ones merge into one, and a producer can fold one into its
    weights (see LayerType.fold_affine)."""

    def __init__(self, scale, shift) -> None:
        scale = np.asarray(scale, dtype=np.float64).reshape(-1)
        self.scale64 = scale
        self.shift64 = np.broadcast_to(np.asarray(shift, dtype=np.float64), scale.shape).copy()
        self._s = per_channel(scale)
        self._t = per_channel(self.shift64)

    def __call__(self, block: np.ndarray, ch: slice) -> None:
        block *= self._s(ch)
        block += self._t(ch)

    def then(self, other: Affine) -> Affine:
        """This map followed by ``other``, as one."""
        return Affine(self.scale64 * other.scale64, self.shift64 * other.scale64 + other.shift64)


def merge_affines(fns: Sequence[Epilogue]) -> list[Epilogue]:
    out: list[Epilogue] = []
    for fn in fns:
        if out and isinstance(out[-1], Affine) and isinstance(fn, Affine) \
                and (len(out[-1].scale64) == len(fn.scale64) or 1 in (len(out[-1].scale64),
                                                                      len(fn.scale64))):
            out[-1] = out[-1].then(fn)
        else:
            out.append(fn)
    return out


class PassThrough(LayerType):
    """A layer whose one output is its input at inference (Dropout, Identity)."""

    copies_input = True

    def infer(self, a, ins):
        return [ins[0]]

    def run(self, a, xs, p):
        return [xs[0]]

    def epilogue(self, a, p, x):
        return lambda block, ch: None

    def to_onnx(self, layer, em, ins, outs):
        em.node("Identity", list(ins), list(outs), name=layer.name)


def register(cls: type[LayerType]) -> type[LayerType]:
    """Class decorator: register one instance of a layer type under ``cls.type``."""
    if cls.type in _REGISTRY:
        raise RuntimeError(f"layer type {cls.type} registered twice")
    _REGISTRY[cls.type] = cls()
    return cls


def layer_type(name: str, layer: str | None = None, source: str | None = None) -> LayerType:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise GraphError(f"unknown layer type '{name}' (known: {', '.join(sorted(_REGISTRY))})",
                         layer=layer, source=source) from None


def layer_types() -> dict[str, LayerType]:
    return dict(_REGISTRY)


# ---- small helpers shared by the attribute dataclasses -------------------------------------------

def as_tuple(value: Any, n: int | None = None, what: str = "value") -> tuple[int, ...]:
    """Normalise an int or a sequence to a tuple of ints (broadcasting an int to length n)."""
    if isinstance(value, (int, np.integer)):
        return (int(value),) * (n if n is not None else 1)
    t = tuple(int(v) for v in value)
    if n is not None and len(t) == 1 and n > 1:
        t = t * n
    if n is not None and len(t) != n:
        raise ValueError(f"{what} has {len(t)} entries, expected {n}")
    return t


def spatial_rank_check(x: TensorSpec, n: int, what: str) -> None:
    if x.rank != n + 2:
        raise ValueError(f"{what} needs a rank-{n + 2} input (N, C and {n} spatial axes), "
                         f"got shape {x}")
