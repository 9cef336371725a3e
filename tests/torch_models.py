"""Small PyTorch sources for the tests: a branchy module in a real .py file, written on demand."""

from __future__ import annotations

from pathlib import Path

BRANCHY_SOURCE = '''
import torch


class Branchy(torch.nn.Module):
    """conv -> conv -> (+ skip) -> conv -> mean: a residual connection gives a 2-tensor cut."""

    def __init__(self):
        super().__init__()
        self.a = torch.nn.Conv2d(3, 8, 3, padding=1)
        self.b = torch.nn.Conv2d(8, 8, 3, padding=1)
        self.c = torch.nn.Conv2d(8, 4, 1)

    def forward(self, x):
        y = torch.relu(self.a(x))
        z = torch.relu(self.b(y)) + y
        return self.c(z).mean(dim=(2, 3))


def make():
    torch.manual_seed(0)
    return Branchy()


def make_with_inputs():
    return make(), torch.zeros(1, 3, 16, 16)


def two_inputs():
    class Two(torch.nn.Module):
        def forward(self, image, scale):
            return image * scale

    return Two()


def raises():
    raise ValueError("weights file missing")


def not_a_module():
    return 42


class DataDependent(torch.nn.Module):
    def forward(self, x):
        if x.sum() > 0:
            return x * 2
        return x - 1


def data_dependent():
    return DataDependent()
'''


def write_branchy(folder: Path) -> Path:
    path = folder / "branchy_net.py"
    path.write_text(BRANCHY_SOURCE)
    return path
