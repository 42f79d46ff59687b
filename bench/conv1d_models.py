"""Conv1d models for the whole-model bench: features as channels over one frequency bin, the shape of a
DS-TCN keyword spotter (depthwise k=3 in time + pointwise blocks, residual), where the pointwise 1x1
convs carry most of the MACs.

    soi-mcu run bench/conv1d_models.py:build_dstcn --board mps2-an386 --frames 16 --out out/dstcn
"""

from __future__ import annotations

import torch
from torch import nn


class DsBlock(nn.Module):
    """x + pointwise(relu(bn(depthwise_k3_dilated(x)))), causal in time."""

    def __init__(self, channels: int, dilation: int) -> None:
        super().__init__()
        self.pad = nn.ConstantPad1d((2 * dilation, 0), 0.0)
        self.dw = nn.Conv1d(channels, channels, 3, dilation=dilation, groups=channels)
        self.norm = nn.BatchNorm1d(channels)
        self.pw = nn.Conv1d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + torch.relu(self.pw(torch.relu(self.norm(self.dw(self.pad(x))))))


class DsTcn(nn.Module):
    """40 features -> 64 channels, two 64-channel blocks, 64 -> 128, two 128-channel blocks, 12 classes."""

    def __init__(self, features: int = 40, narrow: int = 64, wide: int = 128, classes: int = 12) -> None:
        super().__init__()
        self.inp = nn.Conv1d(features, narrow, 1)
        self.b1 = DsBlock(narrow, 1)
        self.b2 = DsBlock(narrow, 2)
        self.widen = nn.Conv1d(narrow, wide, 1)
        self.b3 = DsBlock(wide, 4)
        self.b4 = DsBlock(wide, 8)
        self.head = nn.Conv1d(wide, classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.inp(x))
        h = self.b2(self.b1(h))
        h = torch.relu(self.widen(h))
        return self.head(self.b4(self.b3(h)))


def build_dstcn() -> nn.Module:
    model = DsTcn()
    gen = torch.Generator().manual_seed(3)
    with torch.no_grad():  # batch norm statistics that are not the identity, so folding them is exercised
        for m in model.modules():
            if isinstance(m, nn.BatchNorm1d):
                m.running_mean.uniform_(-0.3, 0.3, generator=gen)
                m.running_var.uniform_(0.5, 1.5, generator=gen)
    return model.eval()
