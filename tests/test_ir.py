"""IR validation, immutability, topological ordering and the interpreter's bookkeeping."""

import dataclasses
import weakref

import numpy as np
import oracles as O
import pytest

import graphconv as gc
import graphconv.interpreter as interp
from graphconv import ConvAttrs, DeconvAttrs, GraphBuilder, InputAttrs, Layer, ReLUAttrs
from graphconv.registry import layer_type


def inp(name="data", shape=(1, 2, 4, 4)):
    return Layer(name, "Input", (), (name,), InputAttrs(shape=shape))


def relu(name, src, dst=None, slope=0.0):
    return Layer(name, "ReLU", (src,), (dst or name,), ReLUAttrs(negative_slope=slope))


def raises_naming(layer, *fragments, exc=gc.GraphError):
    """Context manager: ``exc`` whose message names ``layer`` and contains every fragment."""

    class _Ctx:
        def __enter__(self):
            self.cm = pytest.raises(exc)
            self.info = self.cm.__enter__()
            return self.info

        def __exit__(self, *a):
            handled = self.cm.__exit__(*a)
            msg = str(self.info.value)
            assert f"layer '{layer}'" in msg, msg
            for f in fragments:
                assert f in msg, (f, msg)
            assert self.info.value.layer == layer
            assert "\n" not in msg
            return handled

    return _Ctx()


# ---- structural validation -----------------------------------------------------------------------


def test_duplicate_layer_names():
    with raises_naming("r", "duplicate"):
        gc.Graph(layers=(inp(), relu("r", "data", "a"), relu("r", "a", "b")), outputs=("b",))


def test_tensor_produced_twice():
    with raises_naming("r2", "'a'", "already produced", "'r1'"):
        gc.Graph(layers=(inp(), relu("r1", "data", "a"), relu("r2", "data", "a")), outputs=("a",))


def test_input_tensor_never_defined():
    with raises_naming("r", "'ghost'", "not produced"):
        gc.Graph(layers=(inp(), relu("r", "ghost", "a")), outputs=("a",))


def test_builder_input_used_before_definition():
    b = GraphBuilder()
    b.input("data", (1, 1, 3))
    with raises_naming("early", "'later'", "not produced"):
        b.add("ReLU", "later", name="early")
    # the failed add left the builder usable
    y = b.add("ReLU", "data", name="ok")
    assert [layer.name for layer in b.build().layers] == ["data", "ok"] and y == "ok"


def test_cycle():
    layers = (
        inp(),
        Layer("add_a", "ReLU", ("t2",), ("t1",)),
        Layer("add_b", "ReLU", ("t1",), ("t2",)),
        relu("out", "data"),
    )
    with pytest.raises(gc.GraphError) as info:
        gc.Graph(layers=layers, outputs=("out",))
    msg = str(info.value)
    assert "cycle" in msg
    assert "add_a" in msg and "add_b" in msg
    assert info.value.layer in ("add_a", "add_b")


def test_self_loop():
    with raises_naming("loop", "cycle"):
        gc.Graph(layers=(inp(), Layer("loop", "ReLU", ("x",), ("x",))), outputs=("x",))


def test_graph_output_must_exist_and_be_present():
    with pytest.raises(gc.GraphError, match="'nope'"):
        gc.Graph(layers=(inp(), relu("r", "data")), outputs=("nope",))
    with pytest.raises(gc.GraphError, match="output"):
        gc.Graph(layers=(inp(), relu("r", "data")), outputs=())


def test_unknown_type_and_wrong_attrs_type():
    with raises_naming("mystery", "unknown layer type 'Frobnicate'"):
        Layer("mystery", "Frobnicate", ("data",), ("y",))
    with raises_naming("r", "ReLUAttrs", "ConvAttrs"):
        Layer("r", "ReLU", ("data",), ("y",), ConvAttrs(num_output=1, kernel=(1,)))
    with raises_naming("c", "attributes are required"):
        Layer("c", "Convolution", ("data",), ("y",))


def test_arity():
    with raises_naming("r", "inputs", "got 2"):
        gc.Graph(layers=(inp(), Layer("r", "ReLU", ("data", "data"), ("y",))), outputs=("y",))


# ---- attribute / shape / parameter validation ----------------------------------------------------


def test_group_not_dividing_input_channels():
    b = GraphBuilder()
    x = b.input("data", (1, 3, 5, 5))
    with raises_naming("grouped", "group 2", "3 input channels"):
        b.add("Convolution", x, ConvAttrs(num_output=4, kernel=(3, 3), group=2), name="grouped")
    with raises_naming("dgrouped", "group"):
        b.add(
            "Deconvolution", x, DeconvAttrs(num_output=4, kernel=(3, 3), group=2), name="dgrouped"
        )


def test_group_not_dividing_num_output_at_attrs():
    with pytest.raises(ValueError, match="group"):
        ConvAttrs(num_output=3, kernel=(1, 1), group=2)


def test_kernel_larger_than_padded_input():
    b = GraphBuilder()
    x = b.input("data", (1, 1, 4, 4))
    with raises_naming("big", "exceeds", "axis 3"):
        # extent 2*(3-1)+1 = 5 on axis 3 vs padded 4
        b.add("Convolution", x, ConvAttrs(num_output=1, kernel=(3, 3), dilation=(1, 2)), name="big")
    # the same kernel fits with one sample of padding
    b.add(
        "Convolution",
        x,
        ConvAttrs(num_output=1, kernel=(3, 3), dilation=(1, 2), pads_end=(0, 1)),
        name="fits",
    )


def test_kernel_rank_must_match_input():
    b = GraphBuilder()
    x = b.input("data", (1, 1, 4, 4))
    with raises_naming("c1d", "1-D", "rank"):
        b.add("Convolution", x, ConvAttrs(num_output=1, kernel=3), name="c1d")


def test_wrong_param_shape():
    b = GraphBuilder()
    x = b.input("data", (1, 2, 4, 4))
    w = np.zeros((3, 2, 3, 2), np.float32)
    with raises_naming("conv", "'weight'", "(3, 2, 3, 2)", "(3, 2, 3, 3)"):
        b.add(
            "Convolution",
            x,
            ConvAttrs(num_output=3, kernel=(3, 3)),
            params={"weight": w, "bias": np.zeros(3)},
            name="conv",
        )
    # deconv weights are [C, O/g, *k]: the conv layout is rejected
    with raises_naming("deconv", "'weight'"):
        b.add(
            "Deconvolution",
            x,
            DeconvAttrs(num_output=4, kernel=(2, 2), group=2),
            params={"weight": np.zeros((4, 1, 2, 2)), "bias": np.zeros(4)},
            name="deconv",
        )


def test_missing_and_unexpected_params():
    b = GraphBuilder()
    x = b.input("data", (1, 2, 4, 4))
    w = np.zeros((3, 2, 1, 1), np.float32)
    with raises_naming("nobias", "missing parameter 'bias'"):
        b.add(
            "Convolution",
            x,
            ConvAttrs(num_output=3, kernel=(1, 1)),
            params={"weight": w},
            name="nobias",
        )
    with raises_naming("extra", "unexpected parameter 'bias'"):
        b.add(
            "Convolution",
            x,
            ConvAttrs(num_output=3, kernel=(1, 1), bias=False),
            params={"weight": w, "bias": np.zeros(3)},
            name="extra",
        )


@pytest.mark.parametrize(
    "kw,what",
    [
        (dict(stride=0), "stride"),
        (dict(stride=(1, 0)), "stride"),
        (dict(dilation=0), "dilation"),
        (dict(pads_begin=-1), "pads_begin"),
        (dict(pads_end=(0, -2)), "pads_end"),
        (dict(num_output=0), "num_output"),
        (dict(group=0), "group"),
        (dict(kernel=(0, 3)), "kernel"),
        (dict(kernel=(1, 1, 1, 1)), "kernel"),
        (dict(stride=(1, 2, 3)), "stride"),
    ],
)
def test_attrs_out_of_range_raise_clear_valueerror(kw, what):
    args = dict(num_output=2, kernel=(3, 3))
    args.update(kw)
    with pytest.raises(ValueError) as info:
        ConvAttrs(**args)
    assert what in str(info.value)
    with pytest.raises(ValueError) as info:
        DeconvAttrs(**args)
    assert what in str(info.value)


def test_attrs_error_via_builder_is_a_valueerror_before_any_layer_exists():
    # attrs are validated when constructed, i.e. before GraphBuilder.add sees them
    b = GraphBuilder()
    x = b.input("data", (1, 1, 4))
    with pytest.raises(ValueError, match=r"stride must be >= 1"):
        b.add("Convolution", x, ConvAttrs(num_output=1, kernel=(1,), stride=0))
    assert [layer.name for layer in b.layers] == ["data"]


def test_pads_shorthand_and_int_broadcast():
    a = ConvAttrs(num_output=1, kernel=(3, 2), pads=1, stride=2)
    assert a.pads_begin == (1, 1) and a.pads_end == (1, 1) and a.stride == (2, 2)


# ---- immutability --------------------------------------------------------------------------------


def _small_graph():
    rng = np.random.default_rng(0)
    w = rng.standard_normal((3, 2, 3, 3)).astype(np.float32)
    bias = rng.standard_normal(3).astype(np.float32)
    b = GraphBuilder("small")
    x = b.input("data", (1, 2, 5, 5))
    c = b.add(
        "Convolution",
        x,
        ConvAttrs(num_output=3, kernel=(3, 3), pads=1),
        params={"weight": w, "bias": bias},
        name="conv",
    )
    r = b.add("ReLU", c, ReLUAttrs(0.1), name="relu")
    b.add("ReLU", r, name="relu2")
    return b.build(), w, bias


def test_params_are_read_only_copies():
    g, w, _ = _small_graph()
    layer = g.layer("conv")
    with pytest.raises(ValueError):
        layer.params["weight"][0, 0, 0, 0] = 1.0
    with pytest.raises(ValueError):
        layer.params["weight"] += 1.0
    with pytest.raises(TypeError):
        layer.params["weight"] = np.zeros_like(w)
    w[...] = 0.0  # the caller's array was copied
    assert np.any(layer.params["weight"] != 0)
    assert layer.params["weight"].dtype == np.float32


def test_graph_and_layers_are_frozen():
    g, _, _ = _small_graph()
    with pytest.raises(dataclasses.FrozenInstanceError):
        g.name = "other"
    with pytest.raises(dataclasses.FrozenInstanceError):
        g.layers = ()
    with pytest.raises(dataclasses.FrozenInstanceError):
        g.layers[1].name = "renamed"
    with pytest.raises(TypeError):
        g.specs["conv"] = None
    assert isinstance(g.layers, tuple) and isinstance(g.outputs, tuple)


def test_replace_builds_a_new_validated_graph():
    g, _, _ = _small_graph()
    g2 = g.replace(outputs=("relu",))
    assert g.outputs == ("relu2",) and g2.outputs == ("relu",)
    with pytest.raises(gc.GraphError):
        g.replace(outputs=("missing",))


# ---- topological order ---------------------------------------------------------------------------


def test_layers_out_of_order_are_sorted():
    layers = (
        relu("r3", "r2", slope=0.5),
        relu("r2", "r1", slope=0.25),
        inp(shape=(1, 1, 6)),
        relu("r1", "data", slope=0.1),
    )
    g = gc.Graph(layers=layers, outputs=("r3",))
    assert [layer.name for layer in g.layers] == ["data", "r1", "r2", "r3"]
    x = np.linspace(-3, 3, 6, dtype=np.float32).reshape(1, 1, 6)
    ref = O.leaky_relu(O.leaky_relu(O.leaky_relu(x, 0.1), 0.25), 0.5)
    O.assert_close(gc.run(g, {"data": x})["r3"], ref, 1e-6)


def test_sort_is_stable_for_independent_layers():
    layers = (relu("zb", "data", slope=0.2), relu("za", "data", slope=0.3), inp(shape=(1, 1, 2)))
    g = gc.Graph(layers=layers, outputs=("zb", "za"))
    assert [layer.name for layer in g.layers] == ["data", "zb", "za"]


# ---- interpreter bookkeeping ---------------------------------------------------------------------


def test_last_uses_chain():
    g, _, _ = _small_graph()
    assert [layer.name for layer in g.layers] == ["data", "conv", "relu", "relu2"]
    dying = interp.last_uses(g)
    assert dying[1] == ["data"]  # the input dies after conv
    assert "conv" in dying[2]  # conv's output dies after relu
    assert "relu" in dying[3]  # relu's output dies after relu2
    assert 0 not in dying  # nothing dies at the Input layer itself
    seen = [t for ts in dying.values() for t in ts]
    assert len(seen) == len(set(seen))


def test_last_uses_branches():
    # data -> a -> b ; data -> c ; (a, ...) : 'data' must live until its last consumer
    layers = (inp(shape=(1, 1, 3)), relu("a", "data"), relu("b", "a"), relu("c", "data"))
    g = gc.Graph(layers=layers, outputs=("b", "c"))
    dying = interp.last_uses(g)
    where = {t: i for i, ts in dying.items() for t in ts}
    assert where["data"] == 3
    assert where["a"] == 2


def test_interpreter_frees_dead_tensors(monkeypatch):
    # Watch the conv output through a weak reference: once its last consumer (relu) has run,
    # the interpreter must hold no reference to it while later layers run.
    g, _, _ = _small_graph()
    relu_type = layer_type("ReLU")
    original = relu_type.run
    refs, alive_during = {}, {}

    def spying_run(a, xs, p):
        call = len(alive_during)
        alive_during[call] = {k: r() is not None for k, r in refs.items()}
        for k, x in enumerate(xs):
            refs[f"call{call}.in{k}"] = weakref.ref(x)
        return original(a, xs, p)

    monkeypatch.setattr(relu_type, "run", spying_run)
    x = np.random.default_rng(1).standard_normal((1, 2, 5, 5)).astype(np.float32)
    out = gc.run(g, {"data": x}, fuse=False)  # fused, the ReLUs would never be called
    # second ReLU call (relu2): conv's output (input of the first ReLU call) is already gone
    assert alive_during[1] == {"call0.in0": False}
    assert set(out) == {"relu2"}


def test_plan_fuses_per_channel_chains_unless_requested():
    g, w, bias = _small_graph()
    steps = interp.plan(g)
    assert [(s.layer.name, [f.name for f in s.fused]) for s in steps] == [
        ("data", []),
        ("conv", ["relu", "relu2"]),
    ]
    assert [s.layer.name for s in interp.plan(g, frozenset({"relu"}))] == ["data", "conv", "relu2"]
    x = np.random.default_rng(3).standard_normal((1, 2, 5, 5)).astype(np.float32)
    ref = np.maximum(O.leaky_relu(O.conv_direct(x, w, bias, 1, 1, 1, 1, 1), 0.1), 0)
    O.assert_close(gc.run(g, {"data": x})["relu2"], ref, 1e-5)
    O.assert_close(gc.run(g, {"data": x}, fuse=False)["relu2"], ref, 1e-5)


def test_requested_intermediates_are_kept_and_correct():
    g, w, bias = _small_graph()
    x = np.random.default_rng(2).standard_normal((1, 2, 5, 5)).astype(np.float32)
    outs = gc.run(g, {"data": x}, outputs=["conv", "relu2", "data"])
    assert list(outs) == ["conv", "relu2", "data"]
    ref_conv = O.conv_direct(x, w, bias, 1, 1, 1, 1, 1)
    O.assert_close(outs["conv"], ref_conv, 1e-5)
    O.assert_close(outs["relu2"], np.maximum(O.leaky_relu(ref_conv, 0.1), 0), 1e-5)
    np.testing.assert_array_equal(outs["data"], x)
    only = gc.run(g, {"data": x}, outputs=["relu"])
    assert list(only) == ["relu"]
    O.assert_close(only["relu"], O.leaky_relu(ref_conv, 0.1), 1e-5)


def test_run_argument_errors():
    g, _, _ = _small_graph()
    x = np.zeros((1, 2, 5, 5), np.float32)
    with pytest.raises(gc.GraphError, match="'nothere'"):
        gc.run(g, {"data": x}, outputs=["nothere"])
    with pytest.raises(gc.GraphconvError, match="data"):
        gc.run(g, {})
    with pytest.raises(gc.GraphconvError, match="'?extra'?"):
        gc.run(g, {"data": x, "extra": x})


def test_wrong_feed_shape_names_the_input_layer():
    g, _, _ = _small_graph()
    with raises_naming("data", "(1, 2, 4, 4)", "(1, 2, 5, 5)"):
        gc.run(g, {"data": np.zeros((1, 2, 4, 4), np.float32)})


def test_kernel_errors_are_reraised_naming_the_layer(monkeypatch):
    g, _, _ = _small_graph()
    relu_type = layer_type("ReLU")

    def broken(a, xs, p):
        raise RuntimeError("boom")

    monkeypatch.setattr(relu_type, "run", broken)
    with raises_naming("relu", "(ReLU)", "RuntimeError", "boom", "1x3x5x5") as info:
        gc.run(g, {"data": np.zeros((1, 2, 5, 5), np.float32)}, fuse=False)
    assert isinstance(info.value.__cause__, RuntimeError)


def test_kernel_returning_wrong_shape_is_caught(monkeypatch):
    g, _, _ = _small_graph()
    relu_type = layer_type("ReLU")
    monkeypatch.setattr(relu_type, "run", lambda a, xs, p: [xs[0][..., :-1]])
    with raises_naming("relu", "kernel produced shape"):
        gc.run(g, {"data": np.zeros((1, 2, 5, 5), np.float32)}, fuse=False)


def test_fused_epilogue_errors_name_the_chain(monkeypatch):
    g, _, _ = _small_graph()

    def broken(a, p, x):
        def fn(block, ch):
            raise RuntimeError("boom")

        return fn

    monkeypatch.setattr(layer_type("ReLU"), "epilogue", broken)
    with raises_naming("conv", "boom", "relu, relu2 fused in"):
        gc.run(g, {"data": np.zeros((1, 2, 5, 5), np.float32)})


def test_interpreter_plans_live_outside_the_graph_and_die_with_it():
    """The plan cache is the interpreter's (keyed weakly by the Graph, which hashes by
    identity), not an entry smuggled into the frozen Graph's __dict__."""
    b = GraphBuilder()
    b.add("ReLU", b.input("data", (1, 2, 3, 3)), ReLUAttrs(), name="relu")
    g = b.build()
    assert hash(g) == hash(g) and g != b.build()  # identity hashing (eq=False)
    gc.run(g, {"data": np.ones((1, 2, 3, 3), np.float32)})
    assert "_interpreter_plans" not in g.__dict__
    assert g in interp._PLANS
    ref = weakref.ref(g)
    del g
    import gc as garbage

    garbage.collect()
    assert ref() is None
    assert all(k is not None for k in interp._PLANS.keys())


def test_reused_specs_are_trusted_only_for_exactly_these_tensors():
    """A spec mapping with a tensor more (made for another graph) is not trusted: every layer is
    inferred again, so even a wrong entry in it cannot leak into the graph."""
    layers = (inp(shape=(1, 2, 4, 4)), relu("r", "data"))
    right = {"data": gc.TensorSpec((1, 2, 4, 4)), "r": gc.TensorSpec((1, 2, 4, 4))}
    assert gc.Graph(layers, ("r",), reuse=right).specs == right
    wrong = {
        "data": gc.TensorSpec((1, 2, 4, 4)),
        "r": gc.TensorSpec((9, 9)),
        "other": gc.TensorSpec((1,)),
    }
    assert gc.Graph(layers, ("r",), reuse=wrong).specs == right
    missing = {"data": gc.TensorSpec((1, 2, 4, 4))}
    assert gc.Graph(layers, ("r",), reuse=missing).specs == right


def test_unknown_layer_type_lists_the_registered_ones():
    with raises_naming("x", "unknown layer type 'NoSuchType'", "Convolution", "ReLU"):
        Layer("x", "NoSuchType", ("data",), ("x",))
