"""Causal Conv-TasNet (a TCN separator with residual and skip paths), in PyTorch, as soi-mcu takes it.

Source: Y. Luo and N. Mesgarani, "Conv-TasNet: Surpassing Ideal Time-Frequency Magnitude Masking for
Speech Separation", IEEE/ACM TASLP 27(8), 2019 (causal configuration, cLN), as implemented in asteroid
(asteroid/models/conv_tasnet.py, asteroid/masknn/convolutional.py: TDConvNet and Conv1DBlock,
asteroid/masknn/norms.py: ChanLN). A learned encoder (L = 16 samples, hop 8, ReLU), a bottleneck
(channel-wise layer norm, 1x1 conv to B), R repeats of X blocks (1x1 conv to H, PReLU, cLN, depthwise
conv of kernel P and dilation 2^x, PReLU, cLN, then a 1x1 residual conv back to B and a 1x1 skip conv
to Sc), the sum of the skips through PReLU and a 1x1 conv to one mask per source, a sigmoid, the
masks applied to the encoder output and a shared learned decoder.

The streaming form works on frames of one hop (8 new samples at 8 kHz: 1000 frames/s). Over samples,
the encoder Conv1d(1, N, L, stride=L/2) sees the current hop and the one before: over frames that is
Conv1d(L/2, N, 2) on the past frame and this one. The decoder's ConvTranspose1d(N, 1, L, stride=L/2)
overlap-adds the second half of the previous frame's basis output to the first half of this frame's:
over frames, Conv1d(N, L/2, 2) with the transposed basis split in halves (`decoder_weights_from`). The
depthwise convs pad the past only (asteroid pads both sides and chomps the end: the same output).
The sizes are the paper's small causal ones scaled to a microcontroller (paper: N=512, B=128, H=512,
X=8, R=3); the receptive field is 62 frames.

    soi-mcu run examples/conv_tasnet.py:build --board mps3-an547
"""

import torch
from torch import nn

HOP = 8  # samples per frame: L = 16 with 50 % overlap
N, B, H, SC = 64, 32, 64, 32  # encoder filters, bottleneck, block hidden and skip channels
P, X, R = 3, 4, 2  # depthwise kernel, blocks per repeat, repeats
SOURCES = 2


class ChannelwiseLayerNorm(nn.Module):
    """cLN: every frame normalized over its channels (asteroid's ChanLN), on (batch, channels, time)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(x.transpose(1, 2)).transpose(1, 2)


class Conv1DBlock(nn.Module):
    def __init__(self, dilation: int) -> None:
        super().__init__()
        self.shared = nn.Sequential(
            nn.Conv1d(B, H, 1), nn.PReLU(), ChannelwiseLayerNorm(H),
            nn.ConstantPad1d(((P - 1) * dilation, 0), 0.0),  # causal: the past only
            nn.Conv1d(H, H, P, dilation=dilation, groups=H), nn.PReLU(), ChannelwiseLayerNorm(H),
        )
        self.res_conv = nn.Conv1d(H, B, 1)
        self.skip_conv = nn.Conv1d(H, SC, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        shared = self.shared(x)
        return self.res_conv(shared), self.skip_conv(shared)


class ConvTasNet(nn.Module):
    frame_rate_hz = 8000 / HOP

    def __init__(self) -> None:
        super().__init__()
        self.encoder = nn.Sequential(nn.ConstantPad1d((1, 0), 0.0), nn.Conv1d(HOP, N, 2, bias=False), nn.ReLU())
        self.bottleneck = nn.Sequential(ChannelwiseLayerNorm(N), nn.Conv1d(N, B, 1))
        self.blocks = nn.ModuleList(Conv1DBlock(2**x) for _ in range(R) for x in range(X))
        self.mask_net = nn.Sequential(nn.PReLU(), nn.Conv1d(SC, SOURCES * N, 1))
        self.decoder = nn.Sequential(nn.ConstantPad1d((1, 0), 0.0), nn.Conv1d(N, HOP, 2, bias=False))

    def forward(self, frames: torch.Tensor) -> torch.Tensor:  # (batch, HOP samples, time)
        w = self.encoder(frames)
        x = self.bottleneck(w)
        skips = 0
        for block in self.blocks:
            residual, skip = block(x)
            x = x + residual
            skips = skips + skip
        masks = torch.sigmoid(self.mask_net(skips)).chunk(SOURCES, dim=1)
        # every source's hop of samples, the sources one after the other over the channels
        return torch.cat([self.decoder(w * mask) for mask in masks], dim=1)


def decoder_weights_from(basis: torch.Tensor) -> torch.Tensor:
    """A trained ConvTranspose1d(N, 1, 2 * HOP, stride=HOP) weight (N, 1, 2 * HOP) -> the frame decoder's
    Conv1d(N, HOP, 2) weight (HOP, N, 2): tap 0 (the previous frame) adds its basis' second half, tap 1
    (this frame) its first half."""
    halves = basis[:, 0].reshape(basis.shape[0], 2, HOP)  # (N, first/second half, HOP)
    return torch.stack([halves[:, 1], halves[:, 0]], dim=-1).permute(1, 0, 2).contiguous()


def build() -> nn.Module:
    """The model with random weights (load trained ones here; decoder_weights_from converts the decoder)."""
    torch.manual_seed(0)
    model = ConvTasNet()
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.LayerNorm):  # trained norms are not the identity
                m.weight.copy_(1 + 0.2 * torch.randn_like(m.weight))
                m.bias.copy_(0.1 * torch.randn_like(m.bias))
    return model.eval()
