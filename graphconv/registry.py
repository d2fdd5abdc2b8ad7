"""The layer-type protocol and the table of layer types.

Each layer type is one class holding every fact about it: its attribute dataclass, shape rule,
parameter shapes and initialisation, NumPy kernel, fusion hooks, ONNX emission and MAC count.
Everything else dispatches through :func:`layer_type`; nothing switches on type strings.

This module imports nothing of graphconv's but :mod:`graphconv.errors`, so the IR (which looks
types up) and the layer modules (which register into the table and use the IR's TensorSpec) no
longer import each other.

Registration order: the table is filled by importing :mod:`graphconv.layers`, and
``graphconv/__init__.py`` does that before anything else of ours runs. Since Python runs a
package's ``__init__`` before any of its submodules, every ``import graphconv.<anything>``
(``passes`` included, which imports graphconv) fills the table first. No lookup imports the
layers lazily: a miss is an unknown type, reported as a :class:`GraphError`.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Mapping, Sequence

import numpy as np

from .errors import GraphError

if TYPE_CHECKING:  # annotations only: importing the IR here would make ir <-> registry a cycle
    from .ir import TensorSpec

# ``fn(block, channels)``: graphconv.kernels.epilogue.Epilogue, named here without importing it
_Epilogue = Callable[[np.ndarray, slice], None]

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
        """Output specs for inputs ``ins``; raises ValueError when they do not fit ``a``."""
        raise NotImplementedError

    def param_shapes(self, a: Any, ins: Sequence[TensorSpec]) -> dict[str, tuple[int, ...]]:
        """Shape of every parameter blob by name (none by default)."""
        return {}

    def init_params(
        self, a: Any, ins: Sequence[TensorSpec], rng: np.random.Generator
    ) -> dict[str, np.ndarray]:
        """Seeded random parameters: He-scaled weights, small normal biases."""
        out = {}
        for key, shape in self.param_shapes(a, ins).items():
            if key == "bias":
                out[key] = (0.1 * rng.standard_normal(shape)).astype(np.float32)
            else:
                out[key] = he_init(shape, self.fan_in(a, shape), rng)
        return out

    def fan_in(self, a: Any, weight_shape: tuple[int, ...]) -> int:
        """Inputs feeding one output unit, for He initialisation."""
        return math.prod(weight_shape[1:])

    def run(
        self, a: Any, xs: Sequence[np.ndarray], p: Mapping[str, np.ndarray]
    ) -> list[np.ndarray]:
        """The NumPy kernel: output arrays for input arrays ``xs`` and parameters ``p``."""
        raise NotImplementedError

    def affine(
        self, a: Any, p: Mapping[str, np.ndarray], x: TensorSpec
    ) -> tuple[np.ndarray, np.ndarray] | None:
        """This layer as ``y = x * mult[c] + shift[c]`` over channel axis 1 of its one input
        ``x`` (float64 ``(mult, shift)``, each of length C or 1), or None when it is not one
        (the default). Both the interpreter's fusion and the fold-batchnorm pass read it."""
        return None

    def epilogue(self, a: Any, p: Mapping[str, np.ndarray], x: TensorSpec) -> _Epilogue | None:
        """This layer as an in-place, per-channel map of its one input ``x``, or None when it is
        not one (the default). The interpreter then fuses it into the layer producing ``x``: the
        producer applies it to each chunk of its output while the chunk is in cache."""
        return None

    def fold_affine(
        self, a: Any, p: Mapping[str, np.ndarray], affine: Any
    ) -> dict[str, np.ndarray] | None:
        """Parameters that make ``run`` produce its output followed by ``affine`` (an
        :class:`graphconv.affine.Affine`, per output channel), or None when this layer cannot
        absorb one (the default). The new parameters always include ``bias``."""
        return None

    def run_then(
        self, a: Any, xs: Sequence[np.ndarray], p: Mapping[str, np.ndarray], epilogue: _Epilogue
    ) -> list[np.ndarray] | None:
        """``run``, then ``epilogue`` in place on the single output, for kernels that work in
        chunks and apply it per chunk. Only called when ``fresh_output``. The default returns
        None: the caller (the interpreter) then runs ``run`` and applies the epilogue itself,
        block by block on its threads (scheduling is not the table's business)."""
        return None

    def compare_outputs(
        self, a: Any, got: np.ndarray, ref: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """``got`` and ``ref`` (one output of this layer from two engines, or two graphs) as the
        pair to compare element by element (graphconv/validate.py). The default is the arrays
        themselves; a layer whose output is a set in a row order engines may choose
        differently (DetectionOutput) puts ``got``'s rows in ``ref``'s order first."""
        return got, ref

    def to_onnx(self, layer: Any, em: Any, ins: Sequence[str], outs: Sequence[str]) -> None:
        """Emit ONNX nodes computing ``outs`` from ``ins`` through the emitter ``em``."""
        raise NotImplementedError

    def macs(self, a: Any, ins: Sequence[TensorSpec], outs: Sequence[TensorSpec]) -> int:
        """Multiply-accumulates of one run (0 for data movement)."""
        return 0

    def scratch_bytes(self, a: Any, ins: Sequence[TensorSpec], outs: Sequence[TensorSpec]) -> int:
        """Bytes a run allocates beyond its outputs at once (a padded copy of the input, an
        uncropped result), for the memory estimate (graphconv/memory.py); 0 when small."""
        return 0


def he_init(shape: tuple[int, ...], fan_in: int, rng: np.random.Generator) -> np.ndarray:
    """He (MSRA) normal initialisation: std sqrt(2 / fan_in)."""
    return rng.standard_normal(shape, dtype=np.float32) * np.float32(
        math.sqrt(2.0 / max(fan_in, 1))
    )


def register(cls: type[LayerType]) -> type[LayerType]:
    """Class decorator: register one instance of a layer type under ``cls.type``."""
    if cls.type in _REGISTRY:
        raise RuntimeError(f"layer type {cls.type} registered twice")
    _REGISTRY[cls.type] = cls()
    return cls


def layer_type(name: str, layer: str | None = None, source: str | None = None) -> LayerType:
    """The registered definition of type ``name``; an unknown name is a GraphError naming
    ``layer`` (and its ``source``) and listing the known types."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise GraphError(
            f"unknown layer type '{name}' (known: {', '.join(sorted(_REGISTRY))})",
            layer=layer,
            source=source,
        ) from None


def layer_types() -> dict[str, LayerType]:
    """A copy of the table: type name -> definition."""
    return dict(_REGISTRY)


def attrs_classes() -> dict[str, type]:
    """Every registered type's attribute class, by class name."""
    return {lt.Attrs.__name__: lt.Attrs for lt in _REGISTRY.values()}


def register_plugin(cls: type[LayerType], owned: set[str]) -> None:
    """Register a user's layer type (:mod:`graphconv.plugins`). A name in ``owned`` (one a
    plugin registered before) is replaced, so loading a plugin twice is harmless; any other
    name already in the table is a RuntimeError."""
    if cls.type in _REGISTRY and cls.type not in owned:
        raise RuntimeError(f"layer type {cls.type} is built in")
    _REGISTRY[cls.type] = cls()
