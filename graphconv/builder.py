"""GraphBuilder: the one way frontends, passes and Python code make a Graph layer by layer.

A builder keeps the layers added so far, the shape of every tensor they define, and the set of
names in use. Each layer is checked (arity, attributes, parameter shapes) as it is added, so an
error names the layer that caused it; :meth:`GraphBuilder.build` hands the shapes to the Graph so
they are not inferred twice.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from .ir import Graph, Layer, TensorSpec, infer_layer, seeded_rng, unique_name
from .memory import check_layer
from .registry import layer_type


class GraphBuilder:
    """Build a graph layer by layer from Python, with shapes checked as you go.

    >>> b = GraphBuilder("demo")
    >>> x = b.input("data", (1, 3, 32, 32))
    >>> y = b.add("Convolution", x, ConvAttrs(num_output=8, kernel=(3, 3), pads=1))
    >>> g = b.build()

    Parameters left out are drawn with a seeded He initialisation (bias: small normal values),
    so a built graph is never trivially zero.
    """

    def __init__(self, name: str = "graph", seed: int = 0):
        self.name, self.seed = name, seed
        self.layers: list[Layer] = []
        self.specs: dict[str, TensorSpec] = {}
        self._taken: set[str] = set()  # layer and tensor names in use
        self._producer: dict[str, str] = {}  # tensor -> the name of the layer defining it
        self.param_bytes = 0  # parameters of the layers so far, sized before they are drawn

    # ---- names and shapes ----------------------------------------------------------------
    def claim(self, names: Iterable[str]) -> None:
        """Reserve names (of tensors or layers made elsewhere) so fresh names avoid them."""
        self._taken.update(names)

    def fresh_name(self, base: str) -> str:
        """``base``, or ``base_2``, ``base_3``, ..., whichever is unused; it is claimed."""
        return unique_name(base, self._taken)

    def defines(self, tensor: str) -> bool:
        """Whether a layer added so far produces ``tensor``."""
        return tensor in self.specs

    def producer(self, tensor: str) -> str:
        """The name of the layer that defines ``tensor`` (KeyError if none does)."""
        return self._producer[tensor]

    def spec(self, tensor: str) -> TensorSpec:
        """Shape and dtype of a tensor defined so far (KeyError if it is not)."""
        return self.specs[tensor]

    # ---- adding layers -------------------------------------------------------------------
    def input(self, name: str, shape: tuple[int, ...]) -> str:
        """Add a graph input ``name`` of the given full shape; returns its tensor name."""
        from .layers.tensor import InputAttrs

        return self.add("Input", [], InputAttrs(shape=tuple(shape)), name=name, outputs=[name])

    def add(
        self,
        type: str,
        inputs: str | Iterable[str],
        attrs: Any = None,
        *,
        params: Mapping[str, Any] | None = None,
        name: str | None = None,
        outputs: Iterable[str] | None = None,
        n_outputs: int = 1,
    ) -> Any:
        """Append a layer; returns its output name (or a tuple of names for several outputs).

        ``name`` (default: the type in lower case) is made unique. ``outputs`` default to the
        layer's name (``name:0``, ``name:1``, ... for several). ``params`` left out are drawn
        by the layer type's seeded initialisation.
        """
        inputs = [inputs] if isinstance(inputs, str) else list(inputs)
        name = unique_name(name or type.lower(), self._taken)
        outputs = (
            list(outputs)
            if outputs is not None
            else ([name] if n_outputs == 1 else [f"{name}:{i}" for i in range(n_outputs)])
        )
        lt = layer_type(type, layer=name)
        if attrs is None:
            attrs = lt.Attrs()
        ins = [self.specs[t] for t in inputs] if all(t in self.specs for t in inputs) else None
        layer = Layer(name, type, tuple(inputs), tuple(outputs), attrs, params or {})
        if params is None and ins is not None:
            try:
                self.charge(layer.error, lt.param_shapes(attrs, ins))
                params = lt.init_params(attrs, ins, seeded_rng(self.seed, name))
            except (ValueError, ZeroDivisionError) as e:
                raise layer.error(f"{e} (inputs {', '.join(map(str, ins))})") from None
            layer = layer.replace(params=params)
        if ins is None:
            missing = [t for t in inputs if t not in self.specs]
            raise layer.error(f"input tensor '{missing[0]}' is not produced by any layer")
        self._record(layer, infer_layer(layer, ins))
        return outputs[0] if len(outputs) == 1 else tuple(outputs)

    def charge(self, error, param_shapes, outputs=()) -> None:
        """Size a layer's parameters (and outputs) against the memory bound before anything is
        allocated (graphconv/memory.py); ``error(message)`` makes the exception."""
        self.param_bytes = check_layer(error, param_shapes, outputs, self.param_bytes)

    def append(self, layer: Layer) -> tuple[str, ...]:
        """Append a ready-made layer as it is (its name and output names are not changed);
        shape errors name the layers its inputs come from. Returns its output names."""
        missing = [t for t in layer.inputs if t not in self.specs]
        if missing:
            raise layer.error(f"input tensor '{missing[0]}' is not produced by any layer")
        ins = [self.specs[t] for t in layer.inputs]
        self._record(layer, infer_layer(layer, ins, [self._producer[t] for t in layer.inputs]))
        return layer.outputs

    def _record(self, layer: Layer, specs: list[TensorSpec]) -> None:
        for spec, out in zip(specs, layer.outputs):
            self.specs[out] = spec
            self._producer[out] = layer.name
        self.layers.append(layer)
        self._taken.update(layer.outputs)

    # ---- the result ----------------------------------------------------------------------
    def unconsumed(self, sources: bool = True) -> list[str]:
        """Tensors no layer reads, in order; without ``sources``, graph inputs are left out."""
        used = {t for layer in self.layers for t in layer.inputs}
        return [
            t
            for layer in self.layers
            for t in layer.outputs
            if t not in used and (sources or not layer.definition.is_source)
        ]

    def build(self, outputs: Iterable[str] | None = None, notes: Iterable[str] = ()) -> Graph:
        """Make the Graph; outputs default to every tensor no layer consumes."""
        if outputs is None:
            outputs = self.unconsumed()
        return Graph(tuple(self.layers), tuple(outputs), self.name, tuple(notes), reuse=self.specs)


def cut_out(
    layers: Iterable[Layer],
    input_specs: Mapping[str, TensorSpec],
    outputs: Iterable[str],
    name: str,
) -> Graph:
    """``layers`` as a graph of their own: an ``Input`` (named after the tensor, or
    ``<tensor>/input`` where a layer already has that name) for each tensor in ``input_specs``,
    which must be every tensor the layers read and do not make themselves."""
    layers = list(layers)
    taken = {layer.name for layer in layers}
    sources = []
    for t, spec in input_specs.items():
        source = t if t not in taken else f"{t}/input"
        taken.add(source)
        attrs = layer_type("Input").Attrs(shape=spec.shape)
        sources.append(Layer(source, "Input", (), (t,), attrs))
    return Graph((*sources, *layers), tuple(outputs), name)
