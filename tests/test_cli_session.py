"""How commands talk (graphconv/cli/_session.py): --json gives one JSON object and nothing else
on stdout, --quiet counts notes, and progress shows on a terminal only."""

from __future__ import annotations

import io
import json
import re

import pytest
from helpers import ROOT, write

from graphconv.cli import _session, main

MODEL = str(ROOT / "models" / "fcn_tiny.prototxt")


def _json(capsys, argv) -> tuple[int, dict, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    lines = out.strip().splitlines()
    assert len(lines) == 1, out  # one object, nothing else
    return code, json.loads(lines[0]), err


def test_validate_json_has_the_verdict_and_per_output_errors(capsys):
    code, obj, _ = _json(capsys, ["validate", MODEL, "--json"])
    assert code == 0 and obj["ok"] and obj["exit_code"] == 0
    v = obj["validation"]
    assert v["ok"] and v["failed"] == [] and v["verdict"].startswith("ok:")
    (check,) = v["export"]
    assert check["name"] == "score" and check["shape"] == [1, 5, 64, 96]
    assert 0 <= check["rel"] <= 1e-4 and check["scale"] > 0
    assert obj["graph"]["types"]["Deconvolution"] == 2
    assert obj["seconds"] > 0 and obj["load_seconds"] >= 0
    assert obj["lines"][-1] == v["verdict"]  # the human lines, kept in the object


def test_a_failed_validation_in_json_keeps_its_exit_code(capsys):
    code, obj, _ = _json(capsys, ["validate", MODEL, "--rtol", "0", "--json"])
    assert code == 1 and not obj["ok"] and obj["validation"]["failed"]


def test_convert_and_run_json(capsys, tmp_path):
    out = str(tmp_path / "m.onnx")
    code, obj, _ = _json(
        capsys, ["convert", MODEL, "-o", out, "--passes", "deconv-to-conv", "--json"]
    )
    assert code == 0 and obj["written"]["path"] == out
    assert "ConvTranspose" in obj["passes"]["onnx_before"]
    assert "ConvTranspose" not in obj["passes"]["onnx_after"]
    assert obj["written"]["onnx_ops"] == obj["passes"]["onnx_after"]
    code, obj, _ = _json(
        capsys, ["run", MODEL, "--random", "-o", str(tmp_path / "o.npz"), "--json"]
    )
    stats = obj["outputs"]["score"]
    assert code == 0 and stats["shape"] == [1, 5, 64, 96] and stats["nan"] == 0
    assert stats["min"] <= stats["mean"] <= stats["max"]


def test_json_errors_are_an_object_too(capsys):
    code, obj, err = _json(capsys, ["validate", "nosuch.prototxt", "--json"])
    assert code == 2 and not obj["ok"] and "no such file" in obj["error"]
    assert err.strip().startswith("graphconv: error:")


def test_quiet_counts_notes_instead_of_listing_them(capsys, tmp_path):
    path = write(
        tmp_path,
        'layer { name: "d" type: "Dropout" bottom: "data" top: "data" }\n'
        'layer { name: "r" type: "ReLU" bottom: "data" top: "y" }\n'
        'layer { name: "loss" type: "SoftmaxWithLoss" bottom: "y" bottom: "y" top: "l" '
        "}\n",
        inputs={"data": (1, 3, 4, 4)},
    )
    assert main(["validate", str(path)]) == 0
    loud = capsys.readouterr().err
    notes = [line for line in loud.splitlines() if line.startswith("note:")]
    assert notes
    assert main(["validate", str(path), "-q"]) == 0
    quiet = capsys.readouterr().err.strip().splitlines()
    assert quiet == [f"note: {len(notes)} notes not shown (--quiet)"]


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize("tty", [True, False])
def test_progress_shows_only_on_a_terminal(tty, monkeypatch, capsys):
    stream = _Terminal() if tty else io.StringIO()
    monkeypatch.setattr("sys.stderr", stream)
    monkeypatch.setattr(_session, "PROGRESS_AFTER", 0.0)
    monkeypatch.setattr(_session, "PROGRESS_EVERY", 0.0)
    assert main(["validate", MODEL]) == 0
    shown = stream.getvalue()
    if tty:
        assert re.search(r"graphconv: interpreter: layer \d+/\d+ \(\d+ s\)", shown)
        assert "graphconv: onnxruntime" in shown
        assert shown.endswith("\r")  # the line is cleared at the end
    else:
        assert "\r" not in shown
