"""MLPerf Tiny's streaming wake-word model (DS-TCN), in PyTorch, as soi-mcu takes it.

Source: mlcommons/tiny, benchmark/training/streaming_wakeword/keras_model.py (`ds_tcn`, default
config) and str_ww_util.py (features): 40 log filterbank energies every 32 ms (a 64 ms window at
16 kHz), four blocks of a depthwise conv over time (kernels 3, 5, 10, 15, no bias) and a 1x1 conv
(128, 64, 64, 32 filters, no bias) with batch norm, ReLU and dropout 0.2, then a dense layer to 3
classes. The reference pads 'valid' so that a 1 s clip (30 frames, the receptive field) leaves one
frame; streaming, each block pads its past instead (causal), and the dense layer is a 1x1 conv that
gives the 3 logits of the last 30 frames on every frame.

    soi-mcu run examples/ds_tcn_wakeword.py:build --board mps2-an386
"""

import torch
from torch import nn

FILTERS = (128, 64, 64, 32)
KERNELS = (3, 5, 10, 15)
FEATURES = 40
CLASSES = 3


class DsTcn(nn.Module):
    frame_rate_hz = 1000 / 32  # one frame of features every 32 ms

    def __init__(self) -> None:
        super().__init__()
        blocks = []
        channels = FEATURES
        for filters, kernel in zip(FILTERS, KERNELS, strict=True):
            blocks.append(nn.Sequential(
                nn.ConstantPad1d((kernel - 1, 0), 0.0),  # causal: the past only
                nn.Conv1d(channels, channels, kernel, groups=channels, bias=False),  # depthwise over time
                nn.Conv1d(channels, filters, 1, bias=False),
                nn.BatchNorm1d(filters),
                nn.ReLU(),
                nn.Dropout(0.2),
            ))
            channels = filters
        self.blocks = nn.Sequential(*blocks)
        self.dense = nn.Conv1d(channels, CLASSES, 1)  # the dense layer, applied to every frame

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (batch, 40 features, time)
        return self.dense(self.blocks(x))


def build() -> nn.Module:
    """The model with batch-norm statistics as training leaves them (load trained weights here)."""
    model = DsTcn()
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm1d):
                m.running_mean.copy_(torch.randn(m.num_features, generator=gen) * 0.1)
                m.running_var.copy_(torch.rand(m.num_features, generator=gen) + 0.5)
    return model.eval()
