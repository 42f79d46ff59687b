"""GTCRN, the ultra-light speech enhancer (grouped temporal convolutions, dual-path grouped RNNs), as soi-mcu takes it.

Source: X. Rong, T. Sun, X. Zhang, Y. Hu, C. Zhu and J. Lu, "GTCRN: A Speech Enhancement Model
Requiring Ultralow Computational Resources", ICASSP 2024; the authors' code, Xiaobin-Rong/gtcrn
(gtcrn.py: SFE, TRA, ConvBlock, GTConvBlock, GRNN, DPGRNN, Encoder, Decoder). The network is theirs
module for module, with their sizes: the subband feature extraction (SFE, nn.Unfold over three
neighbouring bins), the encoder (two strided-in-frequency ConvBlocks, the second grouped, and three
GTConvBlocks: channel split, SFE, 1x1 conv, dilated depthwise conv over time, 1x1 conv, temporal
recurrent attention (TRA: mean power per channel, a GRU, a linear layer, a sigmoid gate) and the
channel shuffle), two DPGRNNs (an intra-frame bidirectional grouped GRU over frequency, a linear
layer and a LayerNorm over (frequency, channels), then an inter-frame grouped GRU over time in every
bin, a linear layer and a LayerNorm), and the decoder (the mirror image with stride-1 transposed
convs and the encoder's outputs added as skips) ending in a tanh.

Where this file departs from gtcrn.py, and why:
- The ERB band merging (`ERB.bm`: 257 bins -> 129) and splitting (`ERB.bs`), the magnitude feature
  and the complex ratio mask are the front and back end, outside the network: they are fixed
  per-frame arithmetic on the STFT (done with CMSIS-DSP beside the network). The network takes the
  ERB features (3 channels: magnitude, real, imaginary; 129 bands) and returns the two mask
  channels over 129 bands, as in gtcrn.py between `self.erb.bm` and `self.erb.bs`.
- The channel shuffle is written with reshape instead of einops' rearrange (the same permutation;
  torch.fx cannot trace into einops).
- GTConvBlock pads the past with F.pad as the authors do; their decoder's ConvTranspose2d with
  stride 1 is the flipped conv on that padded input, causal as it is.

A frame is one STFT hop (16 kHz, hop 256: 62.5 frames/s).

    soi-mcu run examples/gtcrn.py:build --board mps3-an547
"""

import torch
from torch import nn

ERB_BANDS = 129  # 65 low bins kept + 64 ERB bands


class SFE(nn.Module):
    """Subband Feature Extraction"""

    def __init__(self, kernel_size: int = 3, stride: int = 1) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.unfold = nn.Unfold(kernel_size=(1, kernel_size), stride=(1, stride), padding=(0, (kernel_size - 1) // 2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B,C,T,F)"""
        return self.unfold(x).reshape(x.shape[0], x.shape[1] * self.kernel_size, x.shape[2], x.shape[3])


class TRA(nn.Module):
    """Temporal Recurrent Attention"""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.att_gru = nn.GRU(channels, channels * 2, 1, batch_first=True)
        self.att_fc = nn.Linear(channels * 2, channels)
        self.att_act = nn.Sigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B,C,T,F)"""
        zt = torch.mean(x.pow(2), dim=-1)  # (B,C,T)
        at = self.att_gru(zt.transpose(1, 2))[0]
        at = self.att_fc(at).transpose(1, 2)
        at = self.att_act(at)
        return x * at[..., None]  # (B,C,T,1)


class ConvBlock(nn.Module):
    def __init__(self, in_channels, out_channels, kernel_size, stride, padding, groups=1, use_deconv=False,
                 is_last=False) -> None:
        super().__init__()
        conv_module = nn.ConvTranspose2d if use_deconv else nn.Conv2d
        self.conv = conv_module(in_channels, out_channels, kernel_size, stride, padding, groups=groups)
        self.bn = nn.BatchNorm2d(out_channels)
        self.act = nn.Tanh() if is_last else nn.PReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(self.conv(x)))


class GTConvBlock(nn.Module):
    """Group Temporal Convolution"""

    def __init__(self, in_channels, hidden_channels, kernel_size, stride, padding, dilation, use_deconv=False) -> None:
        super().__init__()
        self.use_deconv = use_deconv
        self.pad_size = (kernel_size[0] - 1) * dilation[0]
        conv_module = nn.ConvTranspose2d if use_deconv else nn.Conv2d
        self.sfe = SFE(kernel_size=3, stride=1)
        self.point_conv1 = conv_module(in_channels // 2 * 3, hidden_channels, 1)
        self.point_bn1 = nn.BatchNorm2d(hidden_channels)
        self.point_act = nn.PReLU()
        self.depth_conv = conv_module(hidden_channels, hidden_channels, kernel_size, stride=stride, padding=padding,
                                      dilation=dilation, groups=hidden_channels)
        self.depth_bn = nn.BatchNorm2d(hidden_channels)
        self.depth_act = nn.PReLU()
        self.point_conv2 = conv_module(hidden_channels, in_channels // 2, 1)
        self.point_bn2 = nn.BatchNorm2d(in_channels // 2)
        self.tra = TRA(in_channels // 2)

    def shuffle(self, x1: torch.Tensor, x2: torch.Tensor) -> torch.Tensor:
        """x1, x2: (B,C,T,F)"""
        x = torch.stack([x1, x2], dim=1)
        x = x.transpose(1, 2).contiguous()  # (B,C,2,T,F)
        return x.reshape(x.shape[0], x.shape[1] * 2, x.shape[3], x.shape[4])  # 'b c g t f -> b (c g) t f'

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, C, T, F)"""
        x1, x2 = torch.chunk(x, chunks=2, dim=1)
        x1 = self.sfe(x1)
        h1 = self.point_act(self.point_bn1(self.point_conv1(x1)))
        h1 = nn.functional.pad(h1, [0, 0, self.pad_size, 0])
        h1 = self.depth_act(self.depth_bn(self.depth_conv(h1)))
        h1 = self.point_bn2(self.point_conv2(h1))
        h1 = self.tra(h1)
        return self.shuffle(h1, x2)


class GRNN(nn.Module):
    """Grouped RNN"""

    def __init__(self, input_size, hidden_size, num_layers=1, batch_first=True, bidirectional=False) -> None:
        super().__init__()
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.bidirectional = bidirectional
        self.rnn1 = nn.GRU(input_size // 2, hidden_size // 2, num_layers, batch_first=batch_first,
                           bidirectional=bidirectional)
        self.rnn2 = nn.GRU(input_size // 2, hidden_size // 2, num_layers, batch_first=batch_first,
                           bidirectional=bidirectional)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, seq_length, input_size); the initial state is zeros (gtcrn.py's h=None)"""
        x1, x2 = torch.chunk(x, chunks=2, dim=-1)
        y1, _ = self.rnn1(x1)
        y2, _ = self.rnn2(x2)
        return torch.cat([y1, y2], dim=-1)


class DPGRNN(nn.Module):
    """Grouped Dual-path RNN"""

    def __init__(self, input_size, width, hidden_size) -> None:
        super().__init__()
        self.input_size = input_size
        self.width = width
        self.hidden_size = hidden_size
        self.intra_rnn = GRNN(input_size=input_size, hidden_size=hidden_size // 2, bidirectional=True)
        self.intra_fc = nn.Linear(hidden_size, hidden_size)
        self.intra_ln = nn.LayerNorm((width, hidden_size), eps=1e-8)
        self.inter_rnn = GRNN(input_size=input_size, hidden_size=hidden_size, bidirectional=False)
        self.inter_fc = nn.Linear(hidden_size, hidden_size)
        self.inter_ln = nn.LayerNorm((width, hidden_size), eps=1e-8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, C, T, F)"""
        # Intra RNN
        x = x.permute(0, 2, 3, 1)  # (B,T,F,C)
        intra_x = x.reshape(x.shape[0] * x.shape[1], x.shape[2], x.shape[3])  # (B*T,F,C)
        intra_x = self.intra_rnn(intra_x)  # (B*T,F,C)
        intra_x = self.intra_fc(intra_x)  # (B*T,F,C)
        intra_x = intra_x.reshape(x.shape[0], -1, self.width, self.hidden_size)  # (B,T,F,C)
        intra_x = self.intra_ln(intra_x)
        intra_out = torch.add(x, intra_x)
        # Inter RNN
        x = intra_out.permute(0, 2, 1, 3)  # (B,F,T,C)
        inter_x = x.reshape(x.shape[0] * x.shape[1], x.shape[2], x.shape[3])
        inter_x = self.inter_rnn(inter_x)  # (B*F,T,C)
        inter_x = self.inter_fc(inter_x)  # (B*F,T,C)
        inter_x = inter_x.reshape(x.shape[0], self.width, -1, self.hidden_size)  # (B,F,T,C)
        inter_x = inter_x.permute(0, 2, 1, 3)  # (B,T,F,C)
        inter_x = self.inter_ln(inter_x)
        inter_out = torch.add(intra_out, inter_x)
        return inter_out.permute(0, 3, 1, 2)  # (B,C,T,F)


class Encoder(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.en_convs = nn.ModuleList([
            ConvBlock(3 * 3, 16, (1, 5), stride=(1, 2), padding=(0, 2), use_deconv=False, is_last=False),
            ConvBlock(16, 16, (1, 5), stride=(1, 2), padding=(0, 2), groups=2, use_deconv=False, is_last=False),
            GTConvBlock(16, 16, (3, 3), stride=(1, 1), padding=(0, 1), dilation=(1, 1), use_deconv=False),
            GTConvBlock(16, 16, (3, 3), stride=(1, 1), padding=(0, 1), dilation=(2, 1), use_deconv=False),
            GTConvBlock(16, 16, (3, 3), stride=(1, 1), padding=(0, 1), dilation=(5, 1), use_deconv=False),
        ])

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        en_outs = []
        for conv in self.en_convs:
            x = conv(x)
            en_outs.append(x)
        return x, en_outs


class Decoder(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.de_convs = nn.ModuleList([
            GTConvBlock(16, 16, (3, 3), stride=(1, 1), padding=(2 * 5, 1), dilation=(5, 1), use_deconv=True),
            GTConvBlock(16, 16, (3, 3), stride=(1, 1), padding=(2 * 2, 1), dilation=(2, 1), use_deconv=True),
            GTConvBlock(16, 16, (3, 3), stride=(1, 1), padding=(2 * 1, 1), dilation=(1, 1), use_deconv=True),
            ConvBlock(16, 16, (1, 5), stride=(1, 2), padding=(0, 2), groups=2, use_deconv=True, is_last=False),
            ConvBlock(16, 2, (1, 5), stride=(1, 2), padding=(0, 2), use_deconv=True, is_last=True),
        ])

    def forward(self, x: torch.Tensor, en_outs: list[torch.Tensor]) -> torch.Tensor:
        n_layers = len(self.de_convs)
        for i in range(n_layers):
            x = self.de_convs[i](x + en_outs[n_layers - 1 - i])
        return x


class GTCRN(nn.Module):
    """The network between ERB.bm and ERB.bs: (B, 3, T, 129) ERB features -> (B, 2, T, 129) mask."""

    frame_rate_hz = 16000 / 256
    freq_bins = ERB_BANDS

    def __init__(self) -> None:
        super().__init__()
        self.sfe = SFE(3, 1)
        self.encoder = Encoder()
        self.dpgrnn1 = DPGRNN(16, 33, 16)
        self.dpgrnn2 = DPGRNN(16, 33, 16)
        self.decoder = Decoder()

    def forward(self, feat: torch.Tensor) -> torch.Tensor:
        feat = self.sfe(feat)  # (B,9,T,129)
        feat, en_outs = self.encoder(feat)
        feat = self.dpgrnn1(feat)  # (B,16,T,33)
        feat = self.dpgrnn2(feat)  # (B,16,T,33)
        return self.decoder(feat, en_outs)


def build() -> nn.Module:
    torch.manual_seed(0)
    model = GTCRN()
    for m in model.modules():  # batch-norm statistics as training would leave them
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 1.5)
    return model.eval()
