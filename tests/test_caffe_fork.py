"""Caffe forks' pooling rounding (graphconv.frontends.caffe.forks, geometry's ceil_odd_extra)
against the per-window oracle with the fork's length rule, onnxruntime, and YOLOv3-tiny."""

from __future__ import annotations

import numpy as np
import oracles as O
import pytest
from helpers import ZOO, check, cli, write, zoo_files

import graphconv as gc
from graphconv import GraphBuilder, PoolAttrs
from graphconv.geometry import pooled_length

YOLO = "ChenYingpeng__caffe-yolov3__prototxt_yolov3-tiny.prototxt"


@pytest.mark.parametrize("h", range(1, 12))
@pytest.mark.parametrize(
    "k,s,p", [(2, 1, 0), (3, 2, 0), (3, 2, 1), (2, 2, 0), (1, 2, 0), (5, 2, 2)]
)
def test_fork_length_rule_matches_the_oracle(h, k, s, p):
    if h + 2 * p < k:
        return
    assert pooled_length(h, k, s, p, "ceil_odd_extra") == O.caffe_pooled_len(
        h, k, s, p, "CAFFE_YOLOV3"
    )


@pytest.mark.parametrize("method", ["max", "ave"])
@pytest.mark.parametrize("k,s,p,h", [(2, 1, 0, 13), (3, 2, 0, 9), (3, 2, 1, 8), (2, 2, 0, 7)])
def test_fork_pooling_matches_the_window_oracle_and_onnxruntime(method, k, s, p, h):
    """(3, 2, 0) on 9: the extra window starts at 8, the last sample (on an even length it would
    start past the input, which AVE refuses: the fork would divide by zero)."""
    rng = np.random.default_rng(h + k)
    x = rng.standard_normal((1, 3, h, h + 2)).astype(np.float32)
    b = GraphBuilder("pool")
    attrs = PoolAttrs(kernel=k, stride=s, pad=p, method=method, round_mode="ceil_odd_extra")
    b.add("Pooling", b.input("x", x.shape), attrs)
    ref, _ = O.caffe_pool(x, k, s, p, method.upper(), "CAFFE_YOLOV3")
    # MAX picks input values (exact); AVE sums at most 9 values and divides: float32 rounding
    check(b.build(), x, ref, tol=1e-6)


POOL_NET = """
layer { name: "pool" type: "Pooling" bottom: "data" top: "pool"
  pooling_param { pool: MAX kernel_size: 2 stride: 1 } }
"""


def test_ave_window_past_the_input_under_the_fork_is_refused():
    b = GraphBuilder("pool")
    attrs = PoolAttrs(kernel=3, stride=2, method="ave", round_mode="ceil_odd_extra")
    with pytest.raises(gc.GraphError, match="starts at 10, past the input of 10"):
        b.add("Pooling", b.input("x", (1, 1, 10, 10)), attrs)


def test_the_flag_selects_the_fork_and_an_unknown_fork_is_a_usage_error(tmp_path):
    path = write(tmp_path, POOL_NET, inputs={"data": (1, 2, 13, 13)})
    assert gc.load(path).specs["pool"].shape == (1, 2, 12, 12)
    assert gc.load(path, caffe_fork="caffe-yolov3").specs["pool"].shape == (1, 2, 13, 13)
    with pytest.raises(gc.UsageError, match=r"unknown Caffe fork 'darknet' \(known: bvlc, "):
        gc.load(path, caffe_fork="darknet")


def test_the_fork_refuses_kernels_whose_axes_it_would_size_inconsistently(tmp_path):
    text = POOL_NET.replace("kernel_size: 2 stride: 1", "kernel_h: 2 kernel_w: 3 stride: 1")
    with pytest.raises(gc.GraphError, match="kernel_h - stride_h is odd"):
        gc.load(write(tmp_path, text, inputs={"data": (1, 2, 13, 13)}), caffe_fork="caffe-yolov3")


def _yolo():
    zoo_files()  # skips (fails under CI) when the folder is absent
    path = ZOO / YOLO
    if not path.is_file():
        pytest.skip(f"{YOLO} is not in {ZOO}")
    return path


def test_yolov3_tiny_without_the_flag_names_the_pooling_and_the_flag():
    with pytest.raises(gc.GraphError) as err:
        gc.load(_yolo())
    msg = str(err.value)
    assert "layer 'layer21-route' (Concat)" in msg
    assert "layer 'layer12-maxpool', a stride-1 2x2 pooling" in msg
    assert "(13 -> 12)" in msg and "--caffe-fork caffe-yolov3" in msg


def test_yolov3_tiny_loads_and_validates_under_its_fork():
    path = _yolo()
    g = gc.load(path, caffe_fork="caffe-yolov3")
    assert g.specs["layer12-maxpool"].shape == (1, 512, 13, 13)
    proc = cli("validate", path, "--caffe-fork", "caffe-yolov3")
    assert proc.returncode == 0, proc.stderr + proc.stdout
    assert "layer23-conv 1x255x26x26" in proc.stdout
