"""The repro folder of ``validate --repro``: the first layer that differs on identical inputs,
alone, as files a runtime's bug tracker can take (see :func:`write_repro`)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import numpy as np

from .export import to_onnx
from .interpreter import run
from .ir import Graph

if TYPE_CHECKING:
    from .validate import LayerCheck


def write_repro(graph: Graph, feeds, failure: LayerCheck, folder: str, opset: int = 17) -> str:
    """Write the layer that differs on identical inputs as a file a runtime's bug tracker can
    take: ``layer.onnx`` (that layer alone), ``inputs.npz`` (the interpreter's inputs to it),
    ``expected.npz`` (the interpreter's outputs) and ``README.txt`` (what differs, and a command
    that shows it in onnxruntime). Returns the folder."""
    from .builder import cut_out
    from .files import write_folder_atomic

    layer = graph.layer(failure.layer)
    ins = list(dict.fromkeys(layer.inputs))
    values = run(graph, feeds, outputs=[*ins, *layer.outputs])
    alone = cut_out([layer], {t: graph.specs[t] for t in ins}, layer.outputs, f"repro_{layer.name}")
    model = to_onnx(alone, opset)
    command = (
        'python -c "import numpy as np, onnxruntime as ort; '
        "s = ort.InferenceSession('layer.onnx', providers=['CPUExecutionProvider']); "
        "x = dict(np.load('inputs.npz')); e = np.load('expected.npz'); "
        "[print(o.name, 'max abs diff', float(np.abs(r - e[o.name]).max()), "
        "'largest |expected|', float(np.abs(e[o.name]).max())) "
        'for o, r in zip(s.get_outputs(), s.run(None, x))]"'
    )
    text = (
        f"Layer '{layer.name}' ({layer.type}) of graph '{graph.name}', opset {opset}.\n"
        f"Fed identical inputs, onnxruntime's output differs from graphconv's interpreter:\n"
        f"  tensor '{failure.tensor}': max abs err {failure.max_abs:.3g}, which is "
        f"{failure.rel:.3g} of the largest |value|.\n\n"
        f"layer.onnx     the layer alone\ninputs.npz     its inputs (by ONNX input name)\n"
        f"expected.npz   graphconv's outputs (by ONNX output name)\n\n"
        f"To see the difference, in this folder run:\n  {command}\n"
    )

    def write(tmp: str) -> None:
        with open(os.path.join(tmp, "layer.onnx"), "wb") as f:
            f.write(model.SerializeToString())
        np.savez(os.path.join(tmp, "inputs.npz"), **{t: values[t] for t in ins})
        np.savez(os.path.join(tmp, "expected.npz"), **{t: values[t] for t in layer.outputs})
        with open(os.path.join(tmp, "README.txt"), "w") as f:
            f.write(text)

    write_folder_atomic(folder, write, "--repro")
    return folder
