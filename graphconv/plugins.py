"""Custom layers: a user's Python file defines a layer type with the built-ins' protocol.

A plugin file imports graphconv, defines a :class:`graphconv.LayerType` subclass (a ``type``
name, an ``Attrs`` dataclass, ``infer``, ``run`` and ``to_onnx``; optionally ``param_shapes``,
``init_params``, ``macs`` and ``from_caffe``) and registers it::

    graphconv.register_layer(MyLayer, caffe_types=["MyLayer"],
                             python_layers=["my_module.MyLayer"])

``caffe_types`` are prototxt ``type:`` strings the class translates; ``python_layers`` are Caffe
``Python`` layers, matched by ``python_param { module layer }`` as ``"module.layer"``. The Caffe
attributes come from the class's ``from_caffe(layer_parameter, input_specs)`` when it has one
(a Python layer's ``python_param.param_str`` is there to parse), else ``Attrs()``.

``graphconv --plugin FILE.py COMMAND ...`` (or ``COMMAND ... --plugin FILE.py``) runs the file
before loading the model; :func:`load_plugins` does the same from Python. A file is run once per
process; registering a type again from a plugin replaces it, a built-in name is refused. Every
problem with a plugin (a syntax error, an exception while it runs, a class missing a method, no
layer registered) is a one-line :class:`ParseError` naming the file (the CLI exits 2).
"""

from __future__ import annotations

import dataclasses
import importlib.util
import inspect
import os
import sys
import traceback
from typing import Iterable

from .errors import ParseError
from .registry import LayerType, register_plugin

# the methods every layer type must define itself (the base class only raises)
REQUIRED = ("infer", "run", "to_onnx")

_OWNED: set[str] = set()  # layer type names registered by plugins
_LOADED: dict[str, list[str]] = {}  # plugin file (absolute) -> the types it registered
_loading: list[str] = []  # the plugin file being run (a stack: a plugin may load another)


def _source_of(cls) -> str:
    if _loading:
        return _loading[-1]
    try:
        return inspect.getsourcefile(cls) or "<plugin>"
    except TypeError:
        return "<plugin>"


def _check_class(cls, where: str) -> None:
    if not (isinstance(cls, type) and issubclass(cls, LayerType)):
        raise ParseError(f"register_layer needs a LayerType subclass, got {cls!r}", file=where)
    name = cls.__name__
    if not isinstance(getattr(cls, "type", None), str) or not cls.type:
        raise ParseError(f"layer class {name} has no 'type' name (a string)", file=where)
    attrs = getattr(cls, "Attrs", None)
    if not (isinstance(attrs, type) and dataclasses.is_dataclass(attrs)):
        raise ParseError(f"layer class {name} has no 'Attrs' dataclass", file=where)
    missing = [m for m in REQUIRED if getattr(cls, m) is getattr(LayerType, m)]
    if missing:
        raise ParseError(
            f"layer class {name} ({cls.type}) does not define {', '.join(missing)} "
            f"(a layer type needs {', '.join(REQUIRED)})",
            file=where,
        )


def register_layer(
    cls: type[LayerType],
    caffe_types: Iterable[str] = (),
    python_layers: Iterable[str] = (),
) -> type[LayerType]:
    """Register a custom layer type and the Caffe layers that translate to it (see the module
    docstring). Returns ``cls``, so it also works as a plain decorator."""
    from .frontends.caffe.rules import python as python_rules

    where = _source_of(cls)
    _check_class(cls, where)
    try:
        register_plugin(cls, _OWNED)
    except RuntimeError as e:
        raise ParseError(f"cannot register layer type: {e}", file=where) from None
    _OWNED.add(cls.type)
    try:
        for caffe_type in caffe_types:
            python_rules.add_caffe_type(caffe_type, cls.type)
        for dotted in python_layers:
            module, _, layer = str(dotted).rpartition(".")
            if not module or not layer:
                raise ValueError(f"python layer '{dotted}' is not 'module.LayerClass'")
            python_rules.add_python_layer(module, layer, cls.type)
    except ValueError as e:
        raise ParseError(str(e), file=where) from None
    if _loading:
        _LOADED.setdefault(_loading[-1], []).append(cls.type)
    return cls


def load_plugins(paths: Iterable[str]) -> None:
    """Run each plugin file once (see the module docstring); errors name the file."""
    for path in paths:
        load_plugin(path)


def load_plugin(path: str) -> list[str]:
    """Run one plugin file (once per process); the layer types it registered."""
    full = os.path.abspath(os.fspath(path))
    if full in _LOADED:
        return _LOADED[full]
    try:
        with open(full, encoding="utf-8") as f:
            source = f.read()
    except (OSError, UnicodeDecodeError) as e:
        raise ParseError(f"cannot read plugin: {e}", file=path) from None
    try:
        code = compile(source, full, "exec")
    except SyntaxError as e:
        raise ParseError(f"plugin has a syntax error: {e.msg}", file=path, line=e.lineno) from None
    name = "graphconv_plugin_" + "".join(c if c.isalnum() else "_" for c in full)
    spec = importlib.util.spec_from_file_location(name, full)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    _loading.append(full)
    _LOADED[full] = []
    try:
        exec(code, module.__dict__)  # noqa: S102 - running the user's plugin is the point
    except ParseError:
        del _LOADED[full]
        raise
    except Exception as e:  # noqa: BLE001 - any failure of the user's code, as one line
        del _LOADED[full]
        frames = [f for f in traceback.extract_tb(e.__traceback__) if f.filename == full]
        line = frames[-1].lineno if frames else None
        first = str(e).splitlines()[0] if str(e) else ""
        raise ParseError(
            f"plugin raised {type(e).__name__}: {first}".rstrip(": "), file=path, line=line
        ) from None
    finally:
        _loading.pop()
    if not _LOADED[full]:
        del _LOADED[full]
        raise ParseError(
            "plugin registered no layer type (call graphconv.register_layer(YourClass, ...))",
            file=path,
        )
    return _LOADED[full]
