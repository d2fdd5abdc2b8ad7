"""Kernels: speed only. Semantics never live here; the layer class is the spec.

A layer type's meaning (attributes, shape rule, parameters, what ``run`` computes, ONNX
emission) is its class in ``graphconv.layers``; its ``run`` makes one call into this package.
What lives here is how that result is computed fast in NumPy, with the same bits on every path
a kernel picks:

  conv        im2col in chunks of output rows, 1x1 as one product per group, depthwise by
              blocks of channels (flat runs at stride 1)
  transposed  transposed convolution by output phases (sub-pixel form), col2im when dilated
  winograd    Winograd F(2, 3) for stride-1 3x3(x3) layers with many channels
  pool        Caffe pooling: whole-plane reductions, 2-D tiles, flat 2-D passes, per axis
  epilogue    fused per-channel epilogues and the channel blocks element-wise work shares
  threads     the worker pool, BLAS thread control, per-thread scratch buffers

Kernels may import ``graphconv.geometry`` (lengths and index formulas) and each other, never
``graphconv.layers``: attribute objects arrive as arguments and are read by field name.
"""
