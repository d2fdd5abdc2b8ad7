"""Small helpers shared by several test files (no test imports another test)."""

from __future__ import annotations

import numpy as np

# ---- comparing outputs behind a saturating last layer --------------------------------------------
#
# A network ending in Softmax (or Sigmoid, TanH) turns float32 rounding in its logits into output
# differences that say nothing about correctness. Softmax depends only on differences of logits:
# if logits z are perturbed by e, every probability changes by at most the factor exp(ptp(e))
# (ptp over the softmax axis), since p_i(z + e) = p_i(z) exp(e_i) / sum_j p_j(z) exp(e_j).
# ONNX's light SqueezeNet has 1000 tied logits of 9.5e9, where one float32 ulp is 1024: a GEMM
# kernel that rounds one channel differently moves the output from 0.001 to 0.024, both correct.
# The rule, wherever an output comes from such a layer:
#   1. the logits are compared with the oracle at the usual tolerance (they are sums: well
#      conditioned relative to their scale);
#   2. the layer itself is checked on the interpreter's own logits against its float64
#      definition (identical inputs, so only the layer's own rounding counts);
#   3. the output is compared with the oracle's at the usual tolerance plus the slack the measured
#      logit discrepancy allows (zero when the logits agree up to a common shift).

SATURATING = ("Softmax", "Sigmoid", "TanH")


def saturated_outputs(graph) -> dict[str, str]:
    """Graph outputs produced by a Softmax, Sigmoid or TanH layer -> that layer's input."""
    return {t: graph.producer[t].inputs[0] for t in graph.outputs
            if graph.producer[t].type in SATURATING}


def saturation(layer, z: np.ndarray) -> np.ndarray:
    """The layer's float64 definition applied to ``z``."""
    z = np.asarray(z, dtype=np.float64)
    if layer.type == "Softmax":
        e = np.exp(z - z.max(axis=layer.attrs.axis, keepdims=True))
        return e / e.sum(axis=layer.attrs.axis, keepdims=True)
    return 1 / (1 + np.exp(-z)) if layer.type == "Sigmoid" else np.tanh(z)


def saturation_slack(layer, ref_out, got_z, ref_z) -> np.ndarray:
    """Elementwise bound on how far the layer's output moves when its input goes from ``ref_z``
    (whose output is ``ref_out``) to ``got_z``."""
    e = np.asarray(got_z, dtype=np.float64) - np.asarray(ref_z, dtype=np.float64)
    if layer.type == "Softmax":  # only logit differences matter: a common shift cancels
        # p_i(z + e) <= p_i(z) exp(ptp e); a probability rounded to 0 in float32 was below the
        # smallest subnormal; two probabilities never differ by more than 1
        grow = np.expm1(np.minimum(np.ptp(e, axis=layer.attrs.axis, keepdims=True), 200.0))
        tiny = np.finfo(np.float32).smallest_subnormal
        return np.minimum((np.abs(ref_out) + tiny) * grow, 1.0)
    return np.abs(e) * (0.25 if layer.type == "Sigmoid" else 1.0)  # max slope 1/4, 1


def assert_saturated_close(layer, got, want, got_z, ref_z, *, rtol: float, atol: float):
    """Steps 2 and 3 above for the output ``got`` of ``layer`` (computed from ``got_z``) against
    the oracle's output ``want`` (computed from ``ref_z``); step 1 is the caller's comparison."""
    np.testing.assert_allclose(got, saturation(layer, got_z), rtol=rtol, atol=atol,
                               err_msg=f"layer '{layer.name}' on the interpreter's own input")
    want = np.asarray(want, dtype=np.float64)
    err = np.abs(np.asarray(got, dtype=np.float64) - want)
    slack = saturation_slack(layer, want, got_z, ref_z)
    bound = atol + rtol * np.abs(want) + slack
    worst = np.unravel_index(np.argmax(err - bound), err.shape)
    assert np.all(err <= bound), (
        f"layer '{layer.name}' ({layer.type}): error {err[worst]:.3g} at {worst} exceeds "
        f"{bound[worst]:.3g} (of which {slack[worst]:.3g} from the logit discrepancy)")


def onnxruntime_tensors(model, feeds: dict, names) -> dict[str, np.ndarray]:
    """Any tensors of the ONNX ``model`` (graph outputs or intermediate), run by onnxruntime."""
    import onnx
    import onnxruntime as ort

    m = onnx.ModelProto()
    m.CopyFrom(model)
    have = {o.name for o in m.graph.output}
    m.graph.output.extend(onnx.helper.make_tensor_value_info(t, onnx.TensorProto.FLOAT, None)
                          for t in names if t not in have)
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    sess = ort.InferenceSession(m.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    return dict(zip(names, sess.run(list(names), feeds)))
