"""The command line, through a subprocess: each command, each exit code, one-line errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from helpers import IN_CI, ROOT, cli, one_line_error

import graphconv as gc

MODELS = ROOT / "models"


def ort_run(path, feeds):
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    return dict(zip(names, sess.run(names, feeds)))


def test_convert_then_run_agree_with_onnxruntime(tmp_path):
    model = MODELS / "fcn_tiny.prototxt"
    out = tmp_path / "fcn.onnx"
    proc = cli("convert", model, "-o", out, "--opset", "15")
    assert proc.returncode == 0, proc.stderr
    m = onnx.load(str(out))
    onnx.checker.check_model(m)
    assert m.opset_import[0].version == 15
    x = np.random.default_rng(5).standard_normal((1, 3, 64, 96)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    proc = cli("run", model, "--input", f"image={tmp_path / 'x.npy'}", "-o", tmp_path / "o.npz")
    assert proc.returncode == 0, proc.stderr
    ours = np.load(tmp_path / "o.npz")
    theirs = ort_run(out, {"image": x})
    assert set(ours.files) == set(theirs) == {"score"}
    ref = theirs["score"]
    assert np.abs(ours["score"] - ref).max() <= 1e-4 * np.abs(ref).max()


def test_convert_validate_and_validate_report_ok(tmp_path):
    proc = cli(
        "convert", MODELS / "upsample_vs_deconv.prototxt", "-o", tmp_path / "u.onnx", "--validate"
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count(" ok") == 2
    proc = cli("validate", MODELS / "wavenet_dilated_1d.prototxt", "--seed", "3")
    assert proc.returncode == 0, proc.stderr
    assert (
        proc.stdout.strip().splitlines()[-1] == "ok: interpreter vs onnxruntime on the "
        "exported graph"
    )


def test_mismatch_exits_1_and_names_first_layer(tmp_path):
    # rtol 0 demands bit equality; float32 GEMMs in different orders differ in the last bits.
    proc = cli("validate", MODELS / "fcn_tiny.prototxt", "--rtol", "0")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "MISMATCH" in proc.stdout and "FAILED: export" in proc.stdout
    assert "first diverging layer (end to end): layer '" in proc.stdout
    assert "first layer that differs on identical inputs: layer '" in proc.stdout
    out = tmp_path / "never.onnx"
    proc = cli("convert", MODELS / "fcn_tiny.prototxt", "-o", out, "--validate", "--rtol", "0")
    assert proc.returncode == 1
    assert not out.exists()


def test_bad_prototxt_one_line_with_file_and_line(tmp_path):
    bad = tmp_path / "bad.prototxt"
    bad.write_text('name: "x"\nlayer {\n  name: "a"\n  type: "Input"\n  top: "a"\n  bogus: 3\n}\n')
    out = tmp_path / "o.onnx"
    line = one_line_error(cli("convert", bad, "-o", out))
    assert "bad.prototxt:6:" in line and "bogus" in line
    assert not out.exists()


def test_bad_layer_names_file_line_layer_and_problem(tmp_path):
    bad = tmp_path / "grp.prototxt"
    bad.write_text(
        'layer { name: "data" type: "Input" top: "data"\n'
        "        input_param { shape { dim: 1 dim: 21 dim: 8 dim: 8 } } }\n"
        'layer { name: "upscore" type: "Deconvolution" bottom: "data" top: "up"\n'
        "        convolution_param { num_output: 21 group: 3 kernel_size: 4 stride: 2 } }\n"
        'layer { name: "up2" type: "Deconvolution" bottom: "up" top: "up2"\n'
        "        convolution_param { num_output: 4 group: 4 kernel_size: 4 stride: 2 } }\n"
    )
    line = one_line_error(cli("validate", bad))
    assert "grp.prototxt:5" in line and "layer 'up2' (Deconvolution)" in line
    assert "group 4 does not divide 21 input channels" in line


def test_unsupported_layers_are_listed_together(tmp_path):
    bad = tmp_path / "uns.prototxt"
    bad.write_text(
        'input: "data" input_shape { dim: 1 dim: 3 dim: 8 dim: 8 }\n'
        'layer { name: "p1" type: "ROIPooling" bottom: "data" top: "p1" }\n'
        'layer { name: "c" type: "Convolution" bottom: "data" top: "c"\n'
        "        convolution_param { num_output: 2 kernel_size: 1 } }\n"
        'layer { name: "d1" type: "Proposal" bottom: "c" top: "d1" }\n'
    )
    line = one_line_error(cli("convert", bad, "-o", tmp_path / "o.onnx"))
    assert "2 unsupported layer(s)" in line
    assert "'p1' (ROIPooling, uns.prototxt:2)" in line and "'d1' (Proposal, uns.prototxt:5)" in line


@pytest.mark.parametrize(
    "args, needle",
    [
        (("convert", "models/fcn_tiny.prototxt"), "-o/--output"),
        (("convert", "models/nope.prototxt", "-o", "x.onnx"), "nope.prototxt: no such file"),
        (("validate", "models/fcn_tiny.prototxt", "--input-shape", "image=1,x"), "NAME=D1,D2"),
        (("validate", "models/fcn_tiny.prototxt", "--passes", "no-such-pass"), "unknown pass"),
        (("convert", "models/fcn_tiny.prototxt", "-o", "x.onnx", "--opset", "9"), "opset 9"),
        (("frobnicate",), "invalid choice"),
        (
            ("run", "models/fcn_tiny.prototxt", "-o", "o.npz"),
            "no --input given for graph input(s) image",
        ),
    ],
)
def test_usage_errors_exit_2(args, needle, tmp_path):
    line = one_line_error(cli(*args))
    assert needle in line
    assert not (ROOT / "x.onnx").exists() and not (ROOT / "o.npz").exists()


def test_run_rejects_wrong_input_shape(tmp_path):
    np.save(tmp_path / "x.npy", np.zeros((1, 3, 8, 8), np.float32))
    line = one_line_error(
        cli(
            "run",
            MODELS / "fcn_tiny.prototxt",
            "--input",
            f"image={tmp_path / 'x.npy'}",
            "-o",
            tmp_path / "o.npz",
        )
    )
    assert "(1, 3, 8, 8)" in line and "(1, 3, 64, 96)" in line
    assert not (tmp_path / "o.npz").exists()


def test_input_shape_override_changes_the_graph(tmp_path):
    out = tmp_path / "small.onnx"
    proc = cli(
        "convert", MODELS / "fcn_tiny.prototxt", "-o", out, "--input-shape", "image=2,3,32,48"
    )
    assert proc.returncode == 0, proc.stderr
    m = onnx.load(str(out))
    dims = [d.dim_value for d in m.graph.output[0].type.tensor_type.shape.dim]
    assert dims == [2, 5, 32, 48]


def test_debug_shows_traceback(tmp_path):
    proc = cli("--debug", "convert", "models/nope.prototxt", "-o", tmp_path / "x.onnx")
    assert proc.returncode != 0 and "Traceback" in proc.stderr


def test_passes_command_lists_registry():
    proc = cli("passes")
    assert proc.returncode == 0


def test_console_script_installed():
    script = Path(sys.executable).parent / "graphconv"
    if not script.exists():
        if IN_CI:
            pytest.fail(f"console script {script} missing: the package is not installed")
        pytest.skip(f"graphconv is not installed next to {sys.executable}")
    proc = subprocess.run([str(script), "passes"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_bench_compile_reports_each_size():
    proc = cli("bench-compile", "--layers", "60,120", "--repeat", "1", "--json")
    assert proc.returncode == 0, proc.stderr
    import json

    rows = json.loads(proc.stdout)
    assert [r["layers"] >= n for r, n in zip(rows, (60, 120))] == [True, True]
    assert all(r["layers_after"] > r["layers"] and r["total_s"] > 0 for r in rows)
    line = one_line_error(cli("bench-compile", "--layers", "x"))
    assert "--layers" in line


# ---- the verdict and its exit codes (issue 17) ----------------------------------------------


def test_lossy_pass_exits_4_with_the_measured_error():
    proc = cli("validate", MODELS / "fcn_tiny.prototxt", "--passes", "split-separable:rank=1")
    assert proc.returncode == 4, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[-1].startswith("FAILED: passes, end-to-end")
    passes_line = lines[
        lines.index("passes: original vs rewritten graph, both in the interpreter") + 1
    ]
    rel = float(passes_line.split(", rel ")[1].split()[0])
    assert rel > 0.05 and "MISMATCH" in passes_line
    proc = cli(
        "validate",
        MODELS / "fcn_tiny.prototxt",
        "--passes",
        "split-separable:rank=1",
        "--passes-rtol",
        str(2 * rel),
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"rel {passes_line.split(', rel ')[1].split()[0]}" in proc.stdout  # still printed


def test_exact_flag_reports_every_site(tmp_path):
    proc = cli(
        "validate",
        MODELS / "upsample_vs_deconv.prototxt",
        "--passes",
        "upsample-to-deconv,deconv-to-conv",
        "--exact",
        "-v",
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "rewrite sites of upsample-to-deconv: 1 checked (1 bit-equal on integers)" in proc.stdout
    assert "rewrite sites of deconv-to-conv: 2 checked (2 bit-equal on integers)" in proc.stdout
    assert proc.stdout.count("bit-equal on integer inputs and weights") == 3


def test_nan_weights_warn_at_load_and_fail_with_exit_5(tmp_path):
    model = tmp_path / "nan.prototxt"
    model.write_text(
        'layer { name: "data" type: "Input" top: "data"\n'
        "        input_param { shape { dim: 1 dim: 3 dim: 8 dim: 8 } } }\n"
        'layer { name: "conv1" type: "Convolution" bottom: "data" top: "conv1"\n'
        "        convolution_param { num_output: 4 kernel_size: 3 } }\n"
        'layer { name: "conv2" type: "Convolution" bottom: "conv1" top: "conv2"\n'
        "        convolution_param { num_output: 4 kernel_size: 3\n"
        '                            weight_filler { type: "constant" value: nan } } }\n'
    )
    out = tmp_path / "never.onnx"
    proc = cli("convert", model, "-o", out, "--validate")
    assert proc.returncode == 5, proc.stdout + proc.stderr
    assert not out.exists()
    assert "warning: layer 'conv2' (Convolution): parameter 'weight' holds 144 NaN" in proc.stderr
    nonfinite = [line for line in proc.stdout.splitlines() if line.startswith("non-finite:")]
    assert nonfinite and all(
        "first produced by layer 'conv2' (Convolution)" in line for line in nonfinite
    )
    assert proc.stdout.splitlines()[-1].startswith("FAILED: non-finite")


def test_repro_folder_from_the_cli(tmp_path):
    # rtol 0: some layer differs from onnxruntime in the last bits on identical inputs
    proc = cli("validate", MODELS / "fcn_tiny.prototxt", "--rtol", "0", "--repro", tmp_path / "r")
    assert proc.returncode == 1
    assert {p.name for p in (tmp_path / "r").iterdir()} == {
        "layer.onnx",
        "inputs.npz",
        "expected.npz",
        "README.txt",
    }
    assert f"repro written to {tmp_path / 'r'}" in proc.stdout


@pytest.mark.parametrize("value", ["-1", "nan", "inf", "x"])
def test_bad_tolerances_are_usage_errors(value):
    line = one_line_error(cli("validate", MODELS / "fcn_tiny.prototxt", "--rtol", value))
    assert "--rtol" in line and "expected a finite number >= 0" in line


# ---- user mistakes are usage errors, before any work (issue 19) --------------------------------


@pytest.mark.parametrize("where", ["missing", "folder", "under_file"])
def test_output_path_that_cannot_be_written(tmp_path, where):
    (tmp_path / "plain").write_text("x")
    out = {
        "missing": tmp_path / "nope" / "o.onnx",
        "folder": tmp_path,
        "under_file": tmp_path / "plain" / "o.onnx",
    }[where]
    line = one_line_error(cli("convert", MODELS / "fcn_tiny.prototxt", "-o", out))
    assert str(out) in line and "Traceback" not in line


def test_debug_after_the_command_and_huge_dims(tmp_path):
    proc = cli("validate", MODELS / "fcn_tiny.prototxt", "--debug")
    assert proc.returncode == 0, proc.stderr
    line = one_line_error(
        cli(
            "validate",
            MODELS / "fcn_tiny.prototxt",
            "--input-shape",
            "image=99999999999999999999,3,8,8",
        )
    )
    assert "--input-shape" in line and "above" in line


def test_weights_for_onnx_and_unknown_input_shape(tmp_path):
    onnx_path = tmp_path / "f.onnx"
    assert cli("convert", MODELS / "fcn_tiny.prototxt", "-o", onnx_path).returncode == 0
    line = one_line_error(cli("validate", onnx_path, "--weights", tmp_path / "w.caffemodel"))
    assert "ONNX model carries its own weights" in line
    line = one_line_error(
        cli("validate", MODELS / "fcn_tiny.prototxt", "--input-shape", "nosuch=1,3,8,8")
    )
    assert "fcn_tiny.prototxt" in line and "'nosuch'" in line and "inputs: image" in line


@pytest.mark.parametrize(
    "kind", ["complex", "structured", "unicode", "npz", "empty", "garbage", "lying_header"]
)
def test_bad_input_arrays_are_usage_errors(tmp_path, kind):
    path = tmp_path / f"{kind}.npy"
    shape = (1, 3, 64, 96)
    if kind == "complex":
        np.save(path, np.zeros(shape, np.complex64))
    elif kind == "structured":
        np.save(path, np.zeros(shape, [("a", "f4"), ("b", "i4")]))
    elif kind == "unicode":
        np.save(path, np.full(shape, "x"))
    elif kind == "npz":
        np.savez(path, x=np.zeros(shape, np.float32))
        path = tmp_path / "npz.npy.npz"
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "garbage":
        path.write_bytes(b"\x93NUMPY\x01\x00garbage")
    else:  # a 64-byte file whose header declares 1e12 floats
        header = np.lib.format.header_data_from_array_1_0(np.zeros(1, np.float32))
        header["shape"] = (10**12,)
        with open(path, "wb") as f:
            np.lib.format.write_array_header_1_0(f, header)
    line = one_line_error(
        cli(
            "run",
            MODELS / "fcn_tiny.prototxt",
            "--input",
            f"image={path}",
            "-o",
            tmp_path / "o.npz",
        )
    )
    assert "--input image" in line and str(path) in line
    assert not (tmp_path / "o.npz").exists()


def test_run_random_prints_statistics_and_validate_takes_real_inputs(tmp_path):
    import graphconv as gc
    from graphconv.interpreter import random_feeds

    proc = cli(
        "run", MODELS / "fcn_tiny.prototxt", "--random", "--seed", "4", "-o", tmp_path / "o.npz"
    )
    assert proc.returncode == 0, proc.stderr
    g = gc.load(MODELS / "fcn_tiny.prototxt", seed=4)
    ref = gc.run(g, random_feeds(g, 4))["score"]
    line = next(x for x in proc.stdout.splitlines() if x.startswith("score 1x5x64x96:"))
    assert f"max {ref.max():.4g}" in line and "NaN 0, Inf 0" in line
    x = np.full((1, 3, 64, 96), np.nan, np.float32)  # a real input that is all NaN
    np.save(tmp_path / "x.npy", x)
    proc = cli("validate", MODELS / "fcn_tiny.prototxt", "--input", f"image={tmp_path / 'x.npy'}")
    assert proc.returncode == 5, proc.stdout + proc.stderr  # the input was used, not random


@pytest.mark.parametrize(
    "spec, expected",
    [
        ("split-separable:rank=0", "option rank=0: the rank of a split is at least 1"),
        (
            "split-separable:rank=x",
            "option rank=x is not an integer (options: rank=INT, tol=FLOAT)",
        ),
        ("split-separable:foo=1", "has no option 'foo' (options: rank=INT, tol=FLOAT)"),
        ("deconv-to-conv:rank=4", "pass 'deconv-to-conv' takes no options"),
    ],
)
def test_pass_option_errors_list_the_valid_options(spec, expected):
    line = one_line_error(cli("validate", MODELS / "fcn_tiny.prototxt", "--passes", spec))
    assert expected in line


def test_pass_summary_shows_the_onnx_op_census_and_no_change():
    proc = cli("validate", MODELS / "fcn_tiny.prototxt", "--passes", "deconv-to-subpixel")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (
        "before deconv-to-subpixel: 11 ONNX nodes (Conv 4, ConvTranspose 2, LeakyRelu 1, "
        "Relu 4)" in proc.stdout
    )
    after = next(
        x
        for x in proc.stdout.splitlines()
        if x.startswith("after  deconv-to-subpixel:") and "ONNX nodes" in x
    )
    assert "ConvTranspose" not in after and "Conv 12" in after
    proc = cli("validate", MODELS / "fcn_tiny.prototxt", "--passes", "fold-batchnorm")
    assert "fold-batchnorm: changed nothing: 12 layers" in proc.stdout


@pytest.mark.parametrize("argv", [["--help"], ["--version"], ["passes"]])
def test_quick_commands_import_neither_onnx_nor_numpy(argv):
    """Start-up: these commands must not pay for onnx (about 0.85 s) or NumPy; timed as whole
    processes, --help, --version and passes take about 0.1 s of CPU (README)."""
    code = (
        "import sys; from graphconv.cli import main; rc = main(sys.argv[1:]); "
        "heavy = [m for m in ('onnx', 'onnxruntime', 'numpy', 'networkx') if m in sys.modules]; "
        "print('HEAVY', heavy, rc)"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, *argv], capture_output=True, text=True, timeout=60
    )
    assert proc.stdout.strip().splitlines()[-1] == "HEAVY [] 0", proc.stdout + proc.stderr


def test_the_pass_list_read_from_source_equals_the_registry():
    from graphconv.cli.passes import catalog
    from graphconv.passes import options_of, registry

    real = {
        name: (options_of(fn), ((fn.__doc__ or "").strip().splitlines() or [""])[0])
        for name, fn in registry().items()
    }
    assert catalog() == real


def test_version():
    proc = cli("--version")
    assert proc.returncode == 0 and proc.stdout.strip() == f"graphconv {gc.__version__}"
