"""Caffe rules: ``Python`` layers (matched by ``python_param { module layer }``) and the Caffe
types of plugin layers (:mod:`graphconv.plugins`).

A Python layer runs user code that the prototxt does not carry; graphconv knows one only by its
``(module, layer)`` pair: from a plugin, or from :data:`IDENTITY_AT_TEST`, the built-in table of
Python layers that copy their input at test time. A Python layer with no bottoms is a data
source and is handled by the reader (it becomes a graph input).
"""

from __future__ import annotations

from ....layers.activation import DropoutAttrs
from ....registry import layer_type
from ._table import RULES, Spec, rule

# (module, layer) -> why it is the identity at test time. Each becomes a Dropout (a copy), and
# the load notes say so.
IDENTITY_AT_TEST: dict[tuple[str, str], str] = {
    # TimoSaemann/ENet prototxts/enet_deploy.prototxt (and its train files): spatial dropout
    # ("p" drops whole channels in TRAIN; its param_str says phase TEST in the deploy file),
    # the identity at inference as every dropout is
    ("spatial_dropout", "SpatialDropoutLayer"): "ENet's spatial dropout",
}

PYTHON_LAYERS: dict[tuple[str, str], str] = {}  # (module, layer) -> plugin layer type
PLUGIN_CAFFE_TYPES: dict[str, str] = {}  # Caffe type string -> plugin layer type


def _plugin_spec(type_name: str, lp, ins) -> Spec:
    lt = layer_type(type_name)
    from_caffe = getattr(lt, "from_caffe", None)
    try:
        attrs = from_caffe(lp, ins) if from_caffe is not None else lt.Attrs()
    except Exception as e:  # noqa: BLE001 - the plugin's code: report it as this layer's error
        first = str(e).splitlines()[0] if str(e) else ""
        raise ValueError(
            f"plugin {type_name}: {type(e).__name__} reading the attributes: {first}"
        ) from None

    keys = list(lt.param_shapes(attrs, ins))
    return Spec(type_name, attrs, blobs=[(k, None) for k in keys])


def add_python_layer(module: str, layer: str, type_name: str) -> None:
    """Translate Python layers ``module.layer`` to the plugin type ``type_name``."""
    PYTHON_LAYERS[(module, layer)] = type_name


def add_caffe_type(caffe_type: str, type_name: str) -> None:
    """Translate the Caffe type ``caffe_type`` to the plugin type ``type_name``; a Caffe type
    graphconv translates itself is refused (ValueError)."""
    if caffe_type in RULES and caffe_type not in PLUGIN_CAFFE_TYPES:
        raise ValueError(f"Caffe type '{caffe_type}' is built in; a plugin cannot replace it")
    PLUGIN_CAFFE_TYPES[caffe_type] = type_name
    RULES[caffe_type] = lambda lp, ins: _plugin_spec(PLUGIN_CAFFE_TYPES[lp.type], lp, ins)


def python_known(lp) -> bool:
    """Whether a Python layer's ``(module, layer)`` is a plugin's or in the built-in table."""
    key = (lp.python_param.module, lp.python_param.layer)
    return key in PYTHON_LAYERS or key in IDENTITY_AT_TEST


def python_note(lp) -> str | None:
    """The load note for a Python layer the built-in table maps, else None."""
    key = (lp.python_param.module, lp.python_param.layer)
    if key in PYTHON_LAYERS or key not in IDENTITY_AT_TEST:
        return None
    return (
        f"Python layer '{lp.name}' ({key[0]}.{key[1]}): {IDENTITY_AT_TEST[key]}, the identity "
        "at test time (a copy)"
    )


@rule("Python")
def python_layer(lp, ins):
    p = lp.python_param
    key = (p.module, p.layer)
    if key in PYTHON_LAYERS:
        return _plugin_spec(PYTHON_LAYERS[key], lp, ins)
    if key in IDENTITY_AT_TEST:
        if len(ins) != 1 or len(lp.top) != 1:
            raise ValueError(f"{p.module}.{p.layer} takes one bottom and one top")
        return Spec("Dropout", DropoutAttrs())
    raise ValueError(
        f"Python layer module '{p.module}' layer '{p.layer}' is unknown: define it in a plugin "
        "(graphconv --plugin FILE.py; see graphconv.plugins) and register it with "
        f"python_layers=['{p.module}.{p.layer}']"
    )
