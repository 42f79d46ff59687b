"""A DS-CNN keyword spotter (Arm's "Hello Edge" DS-CNN small, as in MLPerf Tiny's keyword-spotting
benchmark and Google's kws_streaming ds_cnn), in its streaming form, as soi-mcu takes it.

Source: ARM-software/ML-KWS-for-MCU and mlcommons/tiny benchmark/training/keyword_spotting
(DS_CNN): 10 MFCCs every 20 ms (40 ms window), a 10x4 conv with 64 filters strided 2x2, batch norm,
ReLU, four depthwise-separable blocks (3x3 depthwise + batch norm + ReLU, 1x1 conv to 64 + batch
norm + ReLU), average pooling and a dense layer to 12 classes. Streaming, the first conv pads its
9 past frames and strides in frequency only (a time stride would halve the output rate), the
depthwise convs pad their 2 past frames, and the pooling averages the frequency bins of each frame:
the model gives 12 logits on every frame, over a receptive field of 17 frames.

    soi-mcu run examples/ds_cnn_kws.py:build --board mps2-an386
"""

import torch
from torch import nn

MFCC = 10
FILTERS = 64
CLASSES = 12


def _bn_relu(channels: int) -> list:
    return [nn.BatchNorm2d(channels), nn.ReLU()]


class DsCnn(nn.Module):
    frame_rate_hz = 50.0  # 20 ms hop
    freq_bins = MFCC

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Sequential(nn.ZeroPad2d((1, 2, 9, 0)), nn.Conv2d(1, FILTERS, (10, 4), stride=(1, 2)),
                                   *_bn_relu(FILTERS))
        blocks = []
        for _ in range(4):
            blocks.append(nn.Sequential(
                nn.ZeroPad2d((1, 1, 2, 0)), nn.Conv2d(FILTERS, FILTERS, 3, groups=FILTERS), *_bn_relu(FILTERS),
                nn.Conv2d(FILTERS, FILTERS, 1), *_bn_relu(FILTERS),
            ))
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Conv2d(FILTERS, CLASSES, 1)  # the dense layer on the pooled frame

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (batch, 1, time, 10 MFCCs)
        h = self.blocks(self.conv1(x))
        return self.fc(h.mean(dim=3, keepdim=True))


def build() -> nn.Module:
    model = DsCnn()
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.copy_(torch.randn(m.num_features, generator=gen) * 0.1)
                m.running_var.copy_(torch.rand(m.num_features, generator=gen) + 0.5)
    return model.eval()
