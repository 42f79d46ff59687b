"""Dual-path models (GTCRN's): a GRU over the bins of each frame (bidirectional), channels-last
LayerNorms and adds, the channel shuffle, nn.Unfold over bins and transposed convs of any frequency
padding. Their float forms equal PyTorch's, stream == offline, import from a user's module with
permutes and reshapes, and the firmware is bit-exact with LiteRT on the host (under ASan/UBSan too;
M4 and M55 in QEMU: tests/test_examples.py's GTCRN)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from soi_mcu.codegen import generate
from soi_mcu.errors import SoiError
from soi_mcu.model import Concat, Conv, ModelSpec, OfflineModel
from soi_mcu.model.from_torch import from_torch
from soi_mcu.model.streaming import check_equivalence
from soi_mcu.ops import GRU, LayerNorm, TConvFreq
from soi_mcu.plan.lower import lower
from soi_mcu.target.boards import load_board

from .conftest import Exported, have
from .host_build import run_on_host

WIDTH = 5


def dual_path_spec() -> ModelSpec:
    """A bidirectional GRU over the bins, its halves shuffled, a LayerNorm over the frame, a GRU over
    time in every bin, and GTCRN's transposed conv (kernel 5, stride 2, padding 2: 2F - 1 bins)."""
    return ModelSpec("dual", WIDTH, 2, (
        Conv("a", "input", cout=4, act="none"),
        GRU("fwd", "a", hidden=3, over="freq"),
        GRU("bwd", "a", hidden=3, over="freq", reverse=True),
        Concat("shuffle", ("fwd", "bwd"), interleave=True),
        LayerNorm("ln", "shuffle", over="frame"),
        GRU("inter", "ln", hidden=4),
        TConvFreq("up", "inter", cout=2, kt=1, kf=5, fstride=2, act="none", fpad=2, foutput_padding=0),
    ))


def test_gru_over_frequency_is_torch_bidirectional_gru_on_every_frame() -> None:
    model = OfflineModel(dual_path_spec(), seed=0).eval()
    ref = nn.GRU(4, 3, batch_first=True, bidirectional=True)
    with torch.no_grad():
        for name, suffix in (("fwd", ""), ("bwd", "_reverse")):
            for p in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                getattr(ref, f"{p}_l0{suffix}").copy_(getattr(model.grus[name], f"{p}_l0"))
        x = torch.randn(2, 4, 6, WIDTH)  # (batch, channels, time, freq)
        acts = {"a": x}
        got = torch.stack([model.spec.layers[i].offline(model, acts) for i in (1, 2)], dim=1)  # (b, dir, h, t, f)
        want, _ = ref(x.permute(0, 2, 3, 1).reshape(12, WIDTH, 4))  # (b*t, f, 2h)
        want = want.reshape(2, 6, WIDTH, 2, 3).permute(0, 3, 4, 1, 2)
        assert torch.allclose(got, want, atol=1e-6)


def test_dual_path_streams_equal_offline() -> None:
    model = OfflineModel(dual_path_spec(), seed=1)
    assert model.schedule.width["up"] == 2 * WIDTH - 1 and model.schedule.channels["shuffle"] == 6
    result = check_equivalence(model, torch.randn(20, WIDTH, 2))
    assert result.ok, result


@pytest.mark.skipif(not have("gcc"), reason="host gcc not installed")
def test_dual_path_on_host_is_bitexact_with_litert(tmp_path: Path) -> None:
    frames = 12
    ex = Exported(dual_path_spec(), frames, tmp_path, seed=2)
    plan = lower(ex.spec, ex.graph)
    grus = {n.name: n for n in plan.of_kind("gru")}
    assert grus["fwd"].over_freq and grus["bwd"].reverse and not grus["inter"].over_freq
    assert grus["fwd"].state_bytes == 0 and grus["inter"].state_bytes == WIDTH * 4
    generate(plan, load_board("mps2-an386"), ex.inputs_q, tmp_path / "gen")
    out = run_on_host(tmp_path / "gen", frames, plan.output_size)
    assert np.array_equal(out, ex.reference.reshape(frames, -1))
    assert np.array_equal(run_on_host(tmp_path / "gen", frames, plan.output_size, sanitize=True), out)


class DualPath(nn.Module):
    """GTCRN's pieces on (B, C, T, F): subband unfold, a grouped bidirectional GRU over the bins with
    a linear layer and a LayerNorm over (F, C), a GRU over time per bin, and the channel shuffle."""

    def __init__(self, c: int = 4) -> None:
        super().__init__()
        self.unfold = nn.Unfold((1, 3), padding=(0, 1))
        self.conv = nn.Conv2d(6, c, 1)
        self.intra = nn.GRU(c // 2, c // 4, batch_first=True, bidirectional=True)
        self.intra2 = nn.GRU(c // 2, c // 4, batch_first=True, bidirectional=True)
        self.fc = nn.Linear(c, c)
        self.ln = nn.LayerNorm((WIDTH, c))
        self.inter = nn.GRU(c, c, batch_first=True)
        self.freq_bins = WIDTH

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.unfold(x).reshape(x.shape[0], x.shape[1] * 3, x.shape[2], x.shape[3])
        x = self.conv(x).permute(0, 2, 3, 1)  # (B, T, F, C)
        seq = x.reshape(x.shape[0] * x.shape[1], x.shape[2], x.shape[3])
        a, b = torch.chunk(seq, 2, dim=-1)
        y = torch.cat([self.intra(a)[0], self.intra2(b)[0]], dim=-1)
        y = self.ln(self.fc(y).reshape(x.shape[0], -1, WIDTH, x.shape[3]))
        x = (x + y).permute(0, 2, 1, 3)  # (B, F, T, C)
        inter = self.inter(x.reshape(x.shape[0] * x.shape[1], x.shape[2], x.shape[3]))[0]
        x = x + inter.reshape(x.shape[0], WIDTH, -1, x.shape[3])
        x = x.permute(0, 3, 2, 1)  # (B, C, T, F)
        h1, h2 = torch.chunk(x, 2, dim=1)
        x = torch.stack([torch.sigmoid(h1), h2], dim=1).transpose(1, 2).contiguous()
        return x.reshape(x.shape[0], x.shape[1] * 2, x.shape[3], x.shape[4])


def test_a_dual_path_module_imports_through_its_permutes_and_reshapes() -> None:
    offline = from_torch(DualPath().eval(), freq_bins=WIDTH)  # from_torch runs both on the same input
    kinds = [layer.kind for layer in offline.spec.layers]
    assert kinds.count("gru") == 5 and kinds[0] == "conv" and offline.spec.in_channels == 2
    grus = [layer for layer in offline.spec.layers if layer.kind == "gru"]
    assert [(g.over, g.reverse) for g in grus] == [("freq", False), ("freq", True)] * 2 + [("time", False)]
    assert offline.spec.layers[-1].interleave and offline.spec.layers[0].name == "model_unfold"
    assert check_equivalence(offline, torch.randn(10, WIDTH, 2)).ok


class Permuted(nn.Module):
    def __init__(self, order: tuple[int, ...], then: nn.Module) -> None:
        super().__init__()
        self.conv, self.order, self.then = nn.Conv2d(2, 4, 1), order, then

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.then(self.conv(x).permute(*self.order)).permute(0, 3, 1, 2)


@pytest.mark.parametrize(("order", "then", "message"), [
    ((0, 1, 3, 2), nn.Identity(), r"makes the axes \(b, c, f, t\) .* supported are \(B, C, T, F\), \(B, T, F, C\)"),
    ((0, 2, 3, 1), nn.BatchNorm2d(4), r"BatchNorm2d\).*: works on \(B, C, T, F\) frames but its input is "
                                       r"\(B, T, F, C\); bring it back with \.permute\(0, 3, 1, 2\)"),
    ((0, 3, 2, 1), nn.LayerNorm((WIDTH, 4)), r"normalizes \(5, 4\) of \(B, F, T, C\); a per-frame LayerNorm"),
])
def test_what_a_channels_last_value_cannot_do_is_named(order: tuple[int, ...], then: nn.Module, message: str) -> None:
    with pytest.raises(SoiError, match=message):
        from_torch(Permuted(order, then).eval(), freq_bins=WIDTH)


def test_a_gru_over_time_cannot_be_bidirectional() -> None:
    class OverTime(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv, self.gru = nn.Conv2d(2, 4, 1), nn.GRU(4, 2, batch_first=True, bidirectional=True)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            x = self.conv(x).permute(0, 3, 2, 1)  # (B, F, T, C)
            y = self.gru(x.reshape(x.shape[0] * x.shape[1], x.shape[2], x.shape[3]))[0]
            return y.reshape(x.shape[0], WIDTH, -1, 4).permute(0, 3, 2, 1)

    with pytest.raises(SoiError, match=r"bidirectional=True reads future frames.*over the bins of a frame"):
        from_torch(OverTime().eval(), freq_bins=WIDTH)


def test_an_lstm_over_the_bins_is_refused() -> None:
    class IntraLstm(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv, self.lstm = nn.Conv2d(2, 4, 1), nn.LSTM(4, 4, batch_first=True)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            x = self.conv(x).permute(0, 2, 3, 1)  # (B, T, F, C)
            y = self.lstm(x.reshape(x.shape[0] * x.shape[1], x.shape[2], x.shape[3]))[0]
            return y.reshape(x.shape[0], -1, WIDTH, 4).permute(0, 3, 1, 2)

    with pytest.raises(SoiError, match=r"LSTM over the bins of each frame .* is not supported; use an nn.GRU"):
        from_torch(IntraLstm().eval(), freq_bins=WIDTH)
