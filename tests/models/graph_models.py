"""Users' models that are not an nn.Sequential: custom blocks, skips, Conv1d over time."""

import torch
from torch import nn

from soi_mcu.model.from_torch import RepeatFrames


class Residual(nn.Module):
    """A block with a skip: x + conv(relu(conv(x)))."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.pad = nn.ZeroPad2d((1, 1, 2, 0))
        self.conv1 = nn.Conv2d(channels, channels, 3)
        self.conv2 = nn.Conv2d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(torch.relu(self.conv1(self.pad(x))))


class UNetish(nn.Module):
    """Any nn.Module: custom blocks, a residual add, a concatenated skip, functional pads and activations."""

    def __init__(self) -> None:
        super().__init__()
        self.enc = nn.Conv2d(2, 8, (3, 3))
        self.down = nn.Sequential(nn.ZeroPad2d((1, 1, 1, 0)), nn.Conv2d(8, 8, (2, 3), stride=(2, 1)), nn.ReLU())
        self.res = Residual(8)
        self.up = RepeatFrames(2)
        self.head = nn.Conv2d(16, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        e = nn.functional.relu(self.enc(nn.functional.pad(x, (1, 1, 2, 0))))
        d = self.up(self.res(self.down(e)))
        return self.head(torch.cat([d, e], dim=1))


class Tcn1d(nn.Module):
    """Conv1d over time, features as channels, with a dilated residual block."""

    def __init__(self) -> None:
        super().__init__()
        self.inp = nn.Conv1d(6, 16, 1)
        self.pad = nn.ConstantPad1d((4, 0), 0.0)
        self.dconv = nn.Conv1d(16, 16, 3, dilation=2, groups=16)
        self.norm = nn.BatchNorm1d(16)
        self.out = nn.Conv1d(16, 4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.inp(x)
        h = h + torch.relu(self.norm(self.dconv(self.pad(h))))
        return self.out(h)


class Masked(nn.Module):
    """A mask model: the input spectrum times a mask, minus a learned offset path."""

    def __init__(self) -> None:
        super().__init__()
        self.enc = nn.Conv2d(1, 4, (1, 3), padding=(0, 1))
        self.mask = nn.Conv2d(4, 1, 1)
        self.bias = nn.Conv2d(1, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        m = torch.relu(self.mask(torch.relu(self.enc(x))))
        return x * m - self.bias(x)


def build_unetish() -> nn.Module:
    return UNetish()


def build_tcn() -> nn.Module:
    tcn = Tcn1d()
    with torch.no_grad():
        tcn.norm.running_mean.uniform_(-0.5, 0.5, generator=torch.Generator().manual_seed(1))
        tcn.norm.running_var.uniform_(0.5, 2.0, generator=torch.Generator().manual_seed(2))
    return tcn.eval()


def build_masked() -> nn.Module:
    return Masked()


class ConvLstm(nn.Module):
    """Conv1d front end, an LSTM over time (features as channels), a residual add and a 1x1 head."""

    def __init__(self) -> None:
        super().__init__()
        self.inp = nn.Conv1d(5, 8, 1)
        self.lstm = nn.LSTM(8, 8, batch_first=True)
        self.head = nn.Conv1d(8, 3, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.inp(x))
        r, _ = self.lstm(h.transpose(1, 2))
        return self.head(r.transpose(1, 2) + h)


def build_conv_lstm() -> nn.Module:
    return ConvLstm().eval()


class Gated(nn.Module):
    """A gated conv (as in GTCRN / gated TCNs): chunk the channels, one half gates the other; a slice."""

    def __init__(self) -> None:
        super().__init__()
        self.pad = nn.ZeroPad2d((1, 1, 1, 0))
        self.conv = nn.Conv2d(1, 8, (2, 3))
        self.head = nn.Conv2d(6, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, g = self.conv(self.pad(x)).chunk(2, dim=1)
        h = a * torch.sigmoid(g)
        return self.head(torch.cat([h, g[:, 1:3]], dim=1))


def build_gated() -> nn.Module:
    return Gated().eval()


class SkipSum(nn.Module):
    """TCN idioms: `skips = 0` summed over blocks, a block returning (residual, skip) whose last
    residual is never used, a mask chunk iterated in a comprehension, one decoder shared by the parts;
    a stride-1 transposed conv after a past padding (a causal conv), squares written two ways (the
    converter merges the two identical MULs)."""

    def __init__(self) -> None:
        super().__init__()
        self.inp = nn.Sequential(nn.ConstantPad1d((1, 0), 0.0), nn.Conv1d(4, 8, 2), nn.ConstantPad1d((2, 0), 0.0),
                                 nn.ConvTranspose1d(8, 8, 3, padding=2))
        self.res = nn.ModuleList(nn.Conv1d(8, 8, 1) for _ in range(2))
        self.skip = nn.ModuleList(nn.Conv1d(8, 8, 1) for _ in range(2))
        self.mask = nn.Conv1d(8, 16, 1)
        self.dec = nn.Conv1d(8, 3, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.inp(x)
        h, skips = w, 0
        for res, skip in zip(self.res, self.skip, strict=True):
            h, skips = h + res(h), skips + skip(h)
        masks = torch.sigmoid(self.mask(skips.pow(2) + skips ** 2 + skips)).chunk(2, dim=1)
        return torch.cat([self.dec(w * m) for m in masks], dim=1)


def build_skipsum() -> nn.Module:
    torch.manual_seed(3)
    return SkipSum().eval()


class TemporalAttention(nn.Module):
    """GTCRN's TRA with an LSTM in place of its GRU: per-channel energies over frequency, an RNN over
    time, a Linear and a sigmoid give a one-bin gate that multiplies every bin."""

    def __init__(self, channels: int = 4) -> None:
        super().__init__()
        self.conv = nn.Sequential(nn.ZeroPad2d((1, 1, 2, 0)), nn.Conv2d(2, channels, 3))
        self.att_rnn = nn.LSTM(channels, channels * 2, batch_first=True)
        self.att_fc = nn.Linear(channels * 2, channels)
        self.att_act = nn.Sigmoid()
        self.head = nn.Conv2d(channels, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(x)
        zt = torch.mean(x.pow(2), dim=-1)  # (B, C, T)
        at = self.att_rnn(zt.transpose(1, 2))[0]
        at = self.att_fc(at).transpose(1, 2)
        at = self.att_act(at)
        return self.head(x * at[..., None])


def build_attention() -> nn.Module:
    torch.manual_seed(4)
    return TemporalAttention().eval()
