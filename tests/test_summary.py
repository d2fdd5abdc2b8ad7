"""graphconv summary (graphconv.summary and the CLI) against hand-computed numbers.

Oracles: the models' own arithmetic worked by hand in the comments (parameters, MACs, bytes,
receptive fields), the rewrite sites the passes record, and the JSON and CSV parsers.
"""

from __future__ import annotations

import csv
import io
import json

import pytest
from helpers import ROOT, cli

import graphconv as gc
from graphconv import ConvAttrs, GraphBuilder
from graphconv.summary import compare, csv_text, key_attrs, summarize, table

MODELS = sorted((ROOT / "models").glob("*.prototxt"))


def _row(summary, name):
    return next(r for r in summary["layers"] if r["name"] == name)


def test_fcn_tiny_by_hand():
    s = summarize(gc.load(ROOT / "models" / "fcn_tiny.prototxt"))
    conv1 = _row(s, "conv1")
    assert conv1["params"] == 3 * 16 * 9 + 16  # weights + biases
    assert conv1["macs"] == 64 * 96 * 16 * 3 * 9  # per output sample: 3 channels x 3x3
    assert conv1["activation_bytes"] == 16 * 64 * 96 * 4  # float32
    assert conv1["output"] == "1x16x64x96" and conv1["attrs"] == "k3 p1 out16"
    down2 = _row(s, "down2")
    # conv1 3x3: 3 wide from -1; down1 3x3 s2: 3 + 2*1 = 5 from -1 - 1 = -2, jump 2;
    # down2 3x3 s2: 5 + 2*2 = 9 from -2 - 2 = -4, jump 4
    assert down2["receptive_field"] == {
        "size": [9, 9],
        "jump": [4, 4],
        "start": [-4, -4],
        "exact": True,
    }
    up1 = _row(s, "up1")  # kernel 4 stride 2 pad 1: per axis 32 x 64 x 16 taps, 32x48 out
    assert up1["macs"] == 64 * 32 * 16 * 24 * 16
    assert up1["receptive_field"]["jump"] == [2, 2] and not up1["receptive_field"]["exact"]
    t = s["totals"]
    assert t["layers"] == 12
    assert t["params"] == 448 + (16 * 9 * 32 + 32) + (32 * 9 * 64 + 64) + (64 * 16 * 32 + 32) + (
        32 * 16 * 16 + 16
    ) + (16 * 5 + 5)
    assert t["macs"] == sum(r["macs"] for r in s["layers"])


def test_key_attrs():
    b = GraphBuilder("k")
    x = b.input("x", (1, 4, 9, 9))
    b.add(
        "Convolution",
        x,
        ConvAttrs(
            num_output=4, kernel=(3, 1), stride=2, dilation=2, group=4, pads_begin=1, pads_end=0
        ),
    )
    g = b.build()
    assert key_attrs(g.layers[-1]) == "k3x1 s2 p1/0 d2 g4 out4"
    assert key_attrs(g.layers[0]) == ""


def test_passes_name_the_layers_they_made():
    from graphconv.passes import apply_recorded

    g = gc.load(ROOT / "models" / "upsample_vs_deconv.prototxt")
    after, sites = apply_recorded(g, ["upsample-to-deconv", "deconv-to-conv"])
    c = compare(g, after, sites)
    made = {r["name"]: (r.get("pass"), r.get("replaces")) for r in c["after"]["layers"]}
    assert made["features"] == (None, None)  # untouched
    assert made["learned/conv"] == ("deconv-to-conv", ["learned"])
    # the nearest Upsample became a Deconvolution, which deconv-to-conv lowered in turn
    assert made["nearest/deconv/conv"] == ("upsample-to-deconv+deconv-to-conv", ["nearest"])
    assert c["before"]["totals"]["layers"] == 7 and c["after"]["totals"]["layers"] == 11
    lines = table(c).splitlines()
    learned = next(line for line in lines if line.startswith("learned "))
    left, right = learned.split(" | ")
    assert "Deconvolution" in left and "learned/zero_insert" in right
    assert right.rstrip().endswith("deconv-to-conv")
    pad = lines[lines.index(learned) + 1]  # the next layer it became, nothing on the left
    assert pad.split(" | ")[0].strip() == "" and "learned/pad" in pad
    assert any(
        line.startswith("head_nearest") and line.count("head_nearest") == 2 for line in lines
    )


@pytest.mark.parametrize("path", MODELS, ids=lambda p: p.stem)
def test_cli_json_on_every_bundled_model(path, capsys):
    """In process (graphconv.cli.main): the same code as the console script, without the
    interpreter start-up; test_cli_wavenet_text_and_passes runs it as a subprocess."""
    from graphconv.cli import main

    graph = gc.load(path)
    assert main(["summary", str(path), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [row["name"] for row in data["layers"]] == [la.name for la in graph.layers]
    assert set(data["layers"][0]) == {
        "name",
        "type",
        "attrs",
        "output",
        "params",
        "macs",
        "activation_bytes",
        "receptive_field",
    }
    assert data["totals"]["layers"] == len(graph.layers)
    rows = list(csv.DictReader(io.StringIO(csv_text(summarize(graph)))))
    assert [row["name"] for row in rows] == [la.name for la in graph.layers]
    assert table(summarize(graph)).splitlines()[-1].startswith("total")


def test_cli_wavenet_text_and_passes():
    r = cli("summary", ROOT / "models" / "wavenet_dilated_1d.prototxt")
    logits = next(line for line in r.stdout.splitlines() if line.startswith("logits"))
    assert logits.split()[-3:] == ["31", "1", "-15"]  # size, jump, start
    r = cli(
        "summary",
        ROOT / "models" / "wavenet_dilated_1d.prototxt",
        "--passes",
        "dilated-to-dense",
        "--json",
    )
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    after = {row["name"]: row for row in data["after"]["layers"]}
    # the dense kernel of dil8 has 2*8+1 = 17 taps: same field, 17/3 the MACs
    assert after["logits"]["receptive_field"]["size"] == [31]
    assert after["dil8/dense"]["pass"] == "dilated-to-dense"
    assert after["dil8/dense"]["replaces"] == ["dil8"]
    assert after["dil8/dense"]["macs"] * 3 == _row(data["before"], "dil8")["macs"] * 17
    assert "note: dilated-to-dense" in r.stderr


def test_cli_errors_are_one_line(tmp_path, capsys):
    from graphconv.cli import main

    assert main(["summary", str(tmp_path / "missing.prototxt"), "--json"]) == 2
    err = capsys.readouterr()
    assert len(err.err.strip().splitlines()) == 1 and not err.out


def test_csv(capsys):
    from graphconv.cli import main

    assert main(["summary", str(ROOT / "models" / "wavenet_dilated_1d.prototxt"), "--csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert rows[-1]["name"] == "logits" and rows[-1]["rf_size"] == "31"
    g = gc.load(ROOT / "models" / "fcn_tiny.prototxt")
    rows = list(csv.DictReader(io.StringIO(csv_text(compare(g, g, [])))))
    assert {r["graph"] for r in rows} == {"before", "after"}


def test_any_rewriting_function_can_be_recorded():
    """The hook a target's legalization uses: any Graph -> Graph function, sites recorded."""
    from graphconv.cli.summary import recorded
    from graphconv.passes import apply

    g = gc.load(ROOT / "models" / "fcn_tiny.prototxt")
    after, sites = recorded(lambda x: apply(x, ["deconv-to-conv"]), g)
    rows = {r["name"]: r for r in compare(g, after, sites)["after"]["layers"]}
    assert rows["up1/conv"]["pass"] == "deconv-to-conv" and rows["up1/conv"]["replaces"] == ["up1"]
    assert "pass" not in rows["conv1"]


def test_folded_layers_show_as_absorbed():
    b = GraphBuilder("fold")
    x = b.input("x", (1, 2, 6, 6))
    y = b.add("Convolution", x, ConvAttrs(num_output=3, kernel=(3, 3)))
    y = b.add("BatchNorm", y, gc.BatchNormAttrs())
    g = b.build()
    from graphconv.passes import apply_recorded

    after, sites = apply_recorded(g, ["fold-batchnorm"])
    lines = table(compare(g, after, sites)).splitlines()
    conv = next(line for line in lines if line.startswith("convolution "))
    assert conv.rstrip().endswith("fold-batchnorm")
    bn = next(line for line in lines if line.startswith("batchnorm "))
    assert bn.rstrip().endswith("(absorbed above)") and bn.split(" | ")[1].strip().startswith("(")
