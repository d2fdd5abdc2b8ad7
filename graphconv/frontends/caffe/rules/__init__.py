"""Caffe layer parameters -> graphconv layer types, one rule per Caffe type.

A rule reads a LayerParameter (and the input specs) and returns a :class:`Spec`: the graphconv
layer type, its attrs, and the Caffe blobs in order with our parameter names and their fillers.
Rules live in one module per layer family (mirroring ``graphconv/layers/``) and register
themselves with :func:`rule`, under their V2 type string and, where one exists, their V1 enum name.
"""

from ._table import DROPPED, RULES, V1_TYPES, Spec, _filler, _per_axis, drop, rule  # noqa: F401  (the public names)

drop(
    "SoftmaxWithLoss",
    "EuclideanLoss",
    "SigmoidCrossEntropyLoss",
    "HingeLoss",
    "InfogainLoss",
    "MultinomialLogisticLoss",
    "ContrastiveLoss",
    "Accuracy",
    "Silence",
    v1={
        "SOFTMAX_LOSS": "SoftmaxWithLoss",
        "EUCLIDEAN_LOSS": "EuclideanLoss",
        "SIGMOID_CROSS_ENTROPY_LOSS": "SigmoidCrossEntropyLoss",
        "HINGE_LOSS": "HingeLoss",
        "INFOGAIN_LOSS": "InfogainLoss",
        "MULTINOMIAL_LOGISTIC_LOSS": "MultinomialLogisticLoss",
        "CONTRASTIVE_LOSS": "ContrastiveLoss",
        "ACCURACY": "Accuracy",
        "SILENCE": "Silence",
        "DATA": "Data",
        "IMAGE_DATA": "ImageData",
        "HDF5_DATA": "HDF5Data",
        "MEMORY_DATA": "MemoryData",
        "WINDOW_DATA": "WindowData",
        "DUMMY_DATA": "DummyData",
    },
)

from . import activation, conv, detection, elementwise, linear, norm, pool, python, resample, tensor  # noqa: E402,F401  (importing a family registers its rules)  # noqa: E402,F401  (SSD layers; Python and plugin layers)
