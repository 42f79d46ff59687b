"""SOI's own pieces as PyTorch modules, for users' models: they train offline as they are, and the
importer turns them into the SC shift and the S-CC extrapolation."""

from __future__ import annotations

import torch
from torch import nn


class TimeShift(nn.Module):
    """SC: delay by `frames` frames (what follows sees only the past and can be precomputed)."""

    def __init__(self, frames: int = 1) -> None:
        super().__init__()
        self.frames = frames

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.pad(x, (0, 0, self.frames, 0))[:, :, : x.shape[2]]


class RepeatFrames(nn.Module):
    """Extrapolation of an S-CC pair: repeat each frame `factor` times, restoring the frame rate."""

    def __init__(self, factor: int = 2) -> None:
        super().__init__()
        self.factor = factor

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.repeat_interleave(x, self.factor, dim=2)
