"""Small PyTorch models in the styles people bring (ResNet, MobileNetV2/V3, DeepLabV3, UNet,
ConvNeXt blocks), exported by both of PyTorch's ONNX exporters, loaded by graphconv, and run by
the interpreter against PyTorch's own output (the oracle); one file also goes through
``graphconv validate`` (the file in onnxruntime against the interpreter on the imported graph).

The TorchScript exporter (``dynamo=False``) writes the opset asked for (13 and 17 here); the
dynamo exporter (onnxscript) writes opset 18 or newer (18 and 21: Gelu, GroupNormalization).
Each model is exported once per session (module-scope fixture).

torch is a test-only dependency (``pip install torch==2.13.0``, done by ``.ci/run``): without it
these tests skip, except under ``CI=true`` where a missing torch is a failure.

Tolerance: every output is compared relative to its largest magnitude at 1e-4. Both sides are
float32 with different summation orders (PyTorch's oneDNN/BLAS kernels against NumPy's); about
10 layers of 3x3 convolutions over at most a few hundred terms each, normalisations and
interpolations accumulate a few 1e-6 relative; 1e-4 leaves a margin of ten for any CPU kernel
while a wrong axis, padding, rounding or coefficient shows as 1e-2 or more.
"""

from __future__ import annotations

import warnings

import oracles as O
import pytest
from helpers import IN_CI, cli

import graphconv as gc

if IN_CI:  # under CI a missing torch is a failure, not a skip
    import torch
else:
    torch = pytest.importorskip(
        "torch", reason="torch is not installed (pip install torch==2.13.0); PyTorch tests skipped"
    )
nn, F = torch.nn, torch.nn.functional

EXPORTS = [("torchscript", 13), ("torchscript", 17), ("dynamo", 18), ("dynamo", 21)]
# the dynamo exporter takes 1-3 s a model: opset 21 (Gelu, GroupNormalization) only where it
# writes something 18 does not
AT_21 = ("unet", "convnext")
TOL = 1e-4


# ---- the models ---------------------------------------------------------------------------------


def conv_bn(cin, cout, k=3, stride=1, groups=1, dilation=1, act=None):
    layers = [
        nn.Conv2d(cin, cout, k, stride, dilation * (k // 2), dilation, groups, bias=False),
        nn.BatchNorm2d(cout),
    ]
    return nn.Sequential(*layers, *([act] if act is not None else []))


class ResNetBlock(nn.Module):
    """Stem (stride-2 conv, max pooling), a basic block with a projection shortcut,
    AdaptiveAvgPool2d(1), flatten, Linear."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(conv_bn(3, 8, 3, 2, act=nn.ReLU()), nn.MaxPool2d(3, 2, 1))
        self.a = conv_bn(8, 16, 3, 2, act=nn.ReLU())
        self.b = conv_bn(16, 16, 3)
        self.short = conv_bn(8, 16, 1, 2)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 10))

    def forward(self, x):
        x = self.stem(x)
        return self.head(F.relu(self.b(self.a(x)) + self.short(x)))


class MobileNetV2Block(nn.Module):
    """Inverted residuals: 1x1 expand, ReLU6, depthwise 3x3 (stride 1 and 2), 1x1 project."""

    def __init__(self):
        super().__init__()
        self.stem = conv_bn(3, 8, 3, 2, act=nn.ReLU6())
        self.expand = conv_bn(8, 32, 1, act=nn.ReLU6())
        self.dw = conv_bn(32, 32, 3, 1, groups=32, act=nn.ReLU6())
        self.project = conv_bn(32, 8, 1)
        self.down = nn.Sequential(
            conv_bn(8, 24, 1, act=nn.ReLU6()), conv_bn(24, 24, 3, 2, groups=24, act=nn.ReLU6())
        )
        self.head = nn.Linear(24, 5)

    def forward(self, x):
        x = self.stem(x)
        x = x + self.project(self.dw(self.expand(x)))
        return self.head(F.adaptive_avg_pool2d(self.down(x), 1).flatten(1))


class SqueezeExcite(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.fc1, self.fc2 = nn.Conv2d(c, c // 4, 1), nn.Conv2d(c // 4, c, 1)

    def forward(self, x):
        s = F.adaptive_avg_pool2d(x, 1)
        return x * F.hardsigmoid(self.fc2(F.relu(self.fc1(s))))


class MobileNetV3Block(nn.Module):
    """Hardswish, depthwise 5x5, squeeze-and-excite with Hardsigmoid, SiLU and Mish heads."""

    def __init__(self):
        super().__init__()
        self.stem = conv_bn(3, 16, 3, 2, act=nn.Hardswish())
        self.dw = conv_bn(16, 16, 5, 1, groups=16, act=nn.Hardswish())
        self.se = SqueezeExcite(16)
        self.project = conv_bn(16, 16, 1, act=nn.SiLU())
        self.last = nn.Conv2d(16, 12, 1)

    def forward(self, x):
        x = self.stem(x)
        x = x + self.project(self.se(self.dw(x)))
        return F.mish(self.last(x))


class DeepLabV3Block(nn.Module):
    """ASPP: dilated 3x3 branches, an image-pooling branch upsampled bilinearly, concat, 1x1,
    then bilinear upsampling to the input size (align_corners False)."""

    def __init__(self):
        super().__init__()
        self.backbone = conv_bn(3, 16, 3, 2, act=nn.ReLU())
        self.branches = nn.ModuleList(
            [conv_bn(16, 8, 1, act=nn.ReLU())]
            + [conv_bn(16, 8, 3, dilation=d, act=nn.ReLU()) for d in (2, 3)]
        )
        self.pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(16, 8, 1), nn.ReLU())
        self.fuse = conv_bn(32, 8, 1, act=nn.ReLU())
        self.classify = nn.Conv2d(8, 4, 1)

    def forward(self, x):
        size = x.shape[-2:]
        f = self.backbone(x)
        pooled = F.interpolate(
            self.pool(f), size=f.shape[-2:], mode="bilinear", align_corners=False
        )
        y = self.fuse(torch.cat([b(f) for b in self.branches] + [pooled], 1))
        return F.interpolate(self.classify(y), size=size, mode="bilinear", align_corners=False)


class UNetBlock(nn.Module):
    """Encoder/decoder with skips: transposed-convolution, nearest and bilinear
    (align_corners True) upsampling, GroupNorm, InstanceNorm, concat."""

    def __init__(self):
        super().__init__()
        self.enc1 = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.GroupNorm(2, 8), nn.ReLU())
        self.enc2 = nn.Sequential(
            nn.Conv2d(8, 16, 3, 2, 1), nn.InstanceNorm2d(16, affine=True), nn.ReLU()
        )
        self.enc3 = nn.Sequential(nn.Conv2d(16, 16, 3, 2, 1), nn.GroupNorm(4, 16), nn.ReLU())
        self.up3 = nn.ConvTranspose2d(16, 16, 2, stride=2)
        self.dec2 = nn.Sequential(nn.Conv2d(32, 8, 3, padding=1), nn.InstanceNorm2d(8), nn.ReLU())
        self.dec1 = nn.Conv2d(8 + 8, 3, 3, padding=1)

    def forward(self, x):
        e1 = self.enc1(x)
        e2 = self.enc2(e1)
        e3 = self.enc3(e2)
        d2 = self.dec2(torch.cat([self.up3(e3), e2], 1))
        near = F.interpolate(d2, scale_factor=2, mode="nearest")
        lin = F.interpolate(d2, size=e1.shape[-2:], mode="bilinear", align_corners=True)
        return self.dec1(torch.cat([near + lin, e1], 1))


class ConvNeXtBlock(nn.Module):
    """Depthwise 7x7, channels-last LayerNorm, Linear (4x), GELU (erf and tanh), Linear, layer
    scale, residual; a strided LayerNorm'd downsampling and a classifier head."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 16, 4, stride=4)
        self.dw = nn.Conv2d(16, 16, 7, padding=3, groups=16)
        self.norm = nn.LayerNorm(16, eps=1e-6)
        self.pw1, self.pw2 = nn.Linear(16, 64), nn.Linear(64, 16)
        self.gamma = nn.Parameter(torch.rand(16) + 0.5)
        self.head_norm = nn.LayerNorm(16)
        self.head = nn.Linear(16, 7)

    def forward(self, x):
        x = self.stem(x)
        y = self.norm(self.dw(x).permute(0, 2, 3, 1))
        y = self.pw2(F.gelu(self.pw1(y))) * self.gamma
        x = x + F.gelu(y.permute(0, 3, 1, 2), approximate="tanh")
        return self.head(self.head_norm(x.mean((-2, -1))))


MODELS = {
    "resnet": (ResNetBlock, (1, 3, 32, 32)),
    "mobilenet_v2": (MobileNetV2Block, (1, 3, 32, 32)),
    "mobilenet_v3": (MobileNetV3Block, (1, 3, 32, 32)),
    "deeplab_v3": (DeepLabV3Block, (1, 3, 32, 32)),
    "unet": (UNetBlock, (1, 3, 24, 24)),
    "convnext": (ConvNeXtBlock, (1, 3, 32, 32)),
}


CASES = [(n, e, o) for n in MODELS for e, o in EXPORTS if o != 21 or n in AT_21]


def build(name):
    """The model in eval mode with non-trivial BatchNorm statistics and norm affines, its input
    and PyTorch's output."""
    torch.manual_seed(0)
    cls, shape = MODELS[name]
    model = cls().eval()
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 1.5)
            if isinstance(m, (nn.BatchNorm2d, nn.GroupNorm, nn.LayerNorm, nn.InstanceNorm2d)):
                if m.weight is not None:
                    m.weight.uniform_(0.5, 1.5)
                    m.bias.uniform_(-0.5, 0.5)
        x = torch.randn(shape)
        y = model(x)
    return model, x, y.numpy()


def export(model, x, path, exporter, opset):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if exporter == "torchscript":
            torch.onnx.export(
                model, (x,), str(path), dynamo=False, opset_version=opset, input_names=["x"]
            )
        else:
            torch.onnx.export(
                model, (x,), str(path), dynamo=True, opset_version=opset, input_names=["x"]
            )


class Exports:
    """Each (model, exporter, opset) exported on first use, once per session:
    ``exports[name, exporter, opset]`` -> (path, input, PyTorch's output)."""

    def __init__(self, folder):
        self.folder, self.done, self.built = folder, {}, {}

    def __getitem__(self, key):
        if key not in self.done:
            name, exporter, opset = key
            if name not in self.built:
                self.built[name] = build(name)
            model, x, y = self.built[name]
            path = self.folder / f"{name}_{exporter}_{opset}.onnx"
            export(model, x, path, exporter, opset)
            self.done[key] = (path, x.numpy(), y)
        return self.done[key]

    def values(self):
        return [self[key] for key in CASES]


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    return Exports(tmp_path_factory.mktemp("pytorch"))


@pytest.mark.parametrize("name,exporter,opset", CASES)
def test_export_loads_and_matches_pytorch(exported, name, exporter, opset):
    path, x, want = exported[name, exporter, opset]
    import onnx

    written = max(
        o.version for o in onnx.load(str(path)).opset_import if o.domain in ("", "ai.onnx")
    )
    assert written >= opset  # (the dynamo exporter writes 18 at the least)
    graph = gc.load(str(path))
    (inp,) = graph.inputs
    got = gc.run(graph, {inp: x})[graph.outputs[0]]
    O.assert_close(got, want, TOL, f"{name} {exporter} opset {opset}")


def test_the_exports_use_the_new_ops(exported):
    """The models exercise what this file is about: each op below is written by at least one
    export (so a change in an exporter that stopped writing them would show here)."""
    import onnx

    ops = set()
    for path, _, _ in exported.values():
        ops |= {n.op_type for n in onnx.load(str(path)).graph.node}
    wanted = {
        "Clip",
        "HardSwish",
        "HardSigmoid",
        "Erf",
        "Gelu",
        "Mish",
        "ReduceMean",
        "InstanceNormalization",
        "LayerNormalization",
        "ConvTranspose",
        "Resize",
    }
    assert wanted <= ops, wanted - ops


def test_graphconv_validate_compares_the_file_with_onnxruntime(exported):
    path, _, _ = exported["mobilenet_v3", "dynamo", 18]
    proc = cli("validate", path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "ok: " in proc.stdout, proc.stdout
    assert "the input ONNX file in onnxruntime" in proc.stdout, proc.stdout


@pytest.mark.parametrize("name", ["resnet", "mobilenet_v3"])
def test_dynamic_batch_export_matches_pytorch_at_another_batch(exported, name, tmp_path):
    """``convert --dynamic-batch`` of a file exported at batch 1 runs at batch 3 in onnxruntime
    and matches PyTorch's model run at batch 3."""
    from graphconv.validate import run_onnxruntime

    path, _, _ = exported[name, "torchscript", 17]
    out = tmp_path / "dynamic.onnx"
    proc = cli("convert", path, "-o", out, "--dynamic-batch")
    assert proc.returncode == 0, proc.stderr
    model, _, _ = build(name)
    x = torch.randn((3, *MODELS[name][1][1:]))
    with torch.no_grad():
        want = model(x).numpy()
    import onnx

    got = run_onnxruntime(onnx.load(str(out)), {"x": x.numpy()})
    (value,) = got.values()
    O.assert_close(value, want, TOL, f"{name} at batch 3")
