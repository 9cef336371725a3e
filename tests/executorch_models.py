"""Small PyTorch sources for the ExecuTorch tests, written to real .py files on demand."""

from __future__ import annotations

from pathlib import Path

SOURCE = '''
import torch


class Forked(torch.nn.Module):
    """conv -> relu -> (conv -> relu) + conv (a residual: 2-tensor cuts) -> mean (left on the
    portable kernels by XNNPACK) -> linear; a second output (sigmoid) is made early, so it
    crosses every later cut."""

    def __init__(self):
        super().__init__()
        self.c1 = torch.nn.Conv2d(3, 8, 3, padding=1)
        self.c2 = torch.nn.Conv2d(8, 8, 3, padding=1)
        self.c3 = torch.nn.Conv2d(8, 8, 1)
        self.fc = torch.nn.Linear(8, 5)

    def forward(self, x):
        a = torch.relu(self.c1(x))
        b = torch.relu(self.c2(a))
        d = b + self.c3(a)
        s = torch.sigmoid(d)
        return self.fc(d.mean(dim=(2, 3))), s


class WeightPermute(torch.nn.Module):
    """A weight transposed in the graph (a permute of a parameter feeding a matmul): the
    transposed weight must travel with its consumer, never across a cut."""

    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.randn(6, 4))

    def forward(self, x):
        y = torch.relu(x)
        return torch.matmul(y, self.w.permute(1, 0)) + 1.0


class ConvBn(torch.nn.Module):
    """conv -> batch norm -> relu, twice (a depthwise second conv) with a residual add, then
    mean (portable kernels) -> linear: XNNPACK folds each batch norm into its conv, and the
    per-operator program converts NCHW<->NHWC around each conv call."""

    def __init__(self):
        super().__init__()
        self.c1 = torch.nn.Conv2d(3, 16, 3, padding=1)
        self.b1 = torch.nn.BatchNorm2d(16)
        self.c2 = torch.nn.Conv2d(16, 16, 3, padding=1, groups=16)
        self.b2 = torch.nn.BatchNorm2d(16)
        self.fc = torch.nn.Linear(16, 4)

    def forward(self, x):
        a = torch.relu(self.b1(self.c1(x)))
        b = torch.relu(self.b2(self.c2(a))) + a
        return self.fc(b.mean(dim=(2, 3)))


def conv_bn():
    torch.manual_seed(0)
    model = ConvBn().eval()
    for bn in (model.b1, model.b2):  # statistics a trained model would have, not 0 and 1
        bn.running_mean.uniform_(-1.0, 1.0)
        bn.running_var.uniform_(0.5, 2.0)
    return model, torch.zeros(1, 3, 64, 64)


class Chain(torch.nn.Module):
    """Four 3x3 convolutions with ReLUs on a 256x256 image: eight units
    whose parts take milliseconds to run (longer than a scheduler time slice)."""

    def __init__(self):
        super().__init__()
        self.convs = torch.nn.ModuleList(
            torch.nn.Conv2d(3 if i == 0 else 16, 16, 3, padding=1) for i in range(4)
        )

    def forward(self, x):
        for conv in self.convs:
            x = torch.relu(conv(x))
        return x


def forked():
    torch.manual_seed(0)
    return Forked(), torch.zeros(1, 3, 12, 12)


def chain():
    torch.manual_seed(0)
    return Chain(), torch.zeros(1, 3, 256, 256)


def weight_permute():
    torch.manual_seed(0)
    return WeightPermute(), torch.zeros(2, 4)
'''

# Operators ExecuTorch 1.5.1 cannot take, each checked to fail for real: ``aten.sort`` lowers
# (XNNPACK leaves it to the portable kernels) but the runtime has no kernel for
# ``aten::sort.values``, so only the parts that hold it cannot load; a custom operator without
# an out variant cannot be lowered at all; a complex intermediate fails the edge verifier.
BAD_SOURCE = """
import torch


class Sorted(torch.nn.Module):
    def forward(self, x):
        v, _ = torch.sort(torch.relu(x), dim=1)
        return v * 2.0 + 1.0


@torch.library.custom_op("sbtest::twist", mutates_args=())
def twist(x: torch.Tensor) -> torch.Tensor:
    return x.flip(-1) * 2.0


@twist.register_fake
def _(x):
    return torch.empty_like(x)


class Custom(torch.nn.Module):
    def forward(self, x):
        return twist(torch.relu(x)) + 1.0


class ComplexAbs(torch.nn.Module):
    def forward(self, x):
        return torch.abs(torch.fft.rfft(torch.relu(x))) + 1.0


def sorted_values():
    return Sorted(), torch.randn(2, 8)


def custom_op():
    return Custom(), torch.randn(2, 8)


def complex_abs():
    return ComplexAbs(), torch.randn(2, 8)
"""
SORT_UNIT = 1  # sorted_values: units relu, sort, mul, add


def write_models(folder: Path) -> Path:
    path = folder / "et_models.py"
    path.write_text(SOURCE)
    return path


def write_bad_models(folder: Path) -> Path:
    path = folder / "et_bad_models.py"
    path.write_text(BAD_SOURCE)
    return path
