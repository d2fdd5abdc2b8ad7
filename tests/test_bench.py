"""`graphconv bench` runs and reports; the benchmark scripts run. No timing is asserted here:
the numbers are measured by the benchmark and go in the README (see "Speed")."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from helpers import ROOT, cli, one_line_error

import graphconv as gc
from graphconv import ConvAttrs, GraphBuilder
from graphconv.bench import bench
from graphconv.kernels.threads import (
    chunks,
    parallel_map,
    scratch,
    serial_map,
    set_threads,
    threads,
)

MODEL = ROOT / "models" / "fcn_tiny.prototxt"


def test_bench_json_has_the_documented_fields():
    proc = cli("bench", MODEL, "--repeat", "2", "--json", "--profile")
    assert proc.returncode == 0, proc.stderr
    res = json.loads(proc.stdout)
    assert res["interpreter_s"] > 0 and res["onnxruntime_s"] > 0
    assert res["ratio"] == pytest.approx(res["interpreter_s"] / res["onnxruntime_s"])
    g = gc.load(str(MODEL))
    # profiled: every kernel call is named (fused layers count in their producer)
    profiled = {name for name, _, _ in res["interpreter_layers"]}
    assert profiled and profiled <= {layer.name for layer in g.layers}
    assert all(t >= 0 for _, _, t in res["interpreter_layers"])
    assert res["onnxruntime_nodes"] and all(t >= 0 for _, _, t in res["onnxruntime_nodes"])


def test_bench_text_report_and_reference():
    proc = cli("bench", MODEL, "--repeat", "1", "--threads", "1", "--against", "reference")
    assert proc.returncode == 0, proc.stderr
    for word in ("interpreter", "onnxruntime", "ratio", "reference", "1 threads"):
        assert word in proc.stdout, proc.stdout


def test_bench_rejects_bad_options():
    assert "--repeat" in one_line_error(cli("bench", MODEL, "--repeat", "0"))
    assert "--threads" in one_line_error(cli("bench", MODEL, "--threads", "0"))


def test_bench_api_profiles_each_kernel_call():
    b = GraphBuilder("one", seed=0)
    b.add(
        "Convolution",
        b.input("data", (1, 4, 12, 12)),
        ConvAttrs(num_output=4, kernel=(3, 3), pads=1, dilation=1),
        name="conv",
    )
    res = bench(b.build(), repeat=1, threads=1, profile=True)
    assert res.ratio > 0 and res.threads == 1 and threads() == 1
    assert {name for name, _, _ in res.interpreter_layers} == {"conv", "data"}
    set_threads(os.cpu_count() or 1)  # back to the default for the other tests


@pytest.mark.parametrize(
    "script,args",
    [
        ("layers.py", ["--no-reference", "--repeat", "1", "--only", "upscore2"]),
    ],
)
def test_benchmark_scripts_run(script, args):
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / script), *args],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    rows = [line for line in proc.stdout.splitlines() if line.startswith("| FCN")]
    assert len(rows) == 1 and rows[0].count("|") == 7, proc.stdout


def test_parallel_map_covers_every_item_once_and_propagates_errors():
    out = np.zeros(1000)

    def fill(r):
        lo, hi = r
        out[lo:hi] += np.arange(lo, hi)

    parallel_map(fill, chunks(1000, 7))
    np.testing.assert_array_equal(out, np.arange(1000))
    serial_map(fill, chunks(1000, 300))
    np.testing.assert_array_equal(out, 2 * np.arange(1000))

    def boom(i):
        if i == 3:
            raise ValueError("item 3")

    with pytest.raises(ValueError, match="item 3"):
        parallel_map(boom, list(range(8)))
    assert scratch(10).shape == (10,) and scratch(10).dtype == np.float32


def test_parallel_map_workers_errors_nesting_and_concurrent_callers():
    """An error raised on a worker reaches the caller and leaves the pool usable; a call made
    inside a worker's item runs in order there; calls from two threads at once (one of them
    then runs in order) both cover every item; a new thread count rebuilds the pool."""
    import threading
    import time

    saved = threads()
    try:
        set_threads(3)
        seen = []

        def on_worker_only(i):
            time.sleep(0.005)  # every thread takes some items
            seen.append(threading.current_thread().name)
            if threading.current_thread() is not threading.main_thread():
                raise KeyError("worker")

        with pytest.raises(KeyError, match="worker"):
            parallel_map(on_worker_only, list(range(12)))
        assert any(name.startswith("graphconv-") for name in seen)

        grid = np.zeros((6, 50))

        def outer(i):
            def inner(j):
                grid[i, j] += 1

            parallel_map(inner, list(range(50)))

        parallel_map(outer, list(range(6)))
        np.testing.assert_array_equal(grid, 1)

        totals = np.zeros((2, 400))

        def caller(k):
            def add(i):
                time.sleep(0.0002)
                totals[k, i] += i

            parallel_map(add, list(range(400)))

        users = [threading.Thread(target=caller, args=(k,)) for k in range(2)]
        for t in users:
            t.start()
        for t in users:
            t.join()
        np.testing.assert_array_equal(totals, np.tile(np.arange(400.0), (2, 1)))

        set_threads(2)
        out = np.zeros(100)
        parallel_map(lambda r: out.__setitem__(slice(*r), 1.0), chunks(100, 9))
        assert out.sum() == 100
    finally:
        set_threads(saved)
