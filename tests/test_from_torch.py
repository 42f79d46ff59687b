"""A user's PyTorch model: imported with its weights, or refused with the layer and the fix."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from soi_mcu.cli import main
from soi_mcu.errors import SoiError
from soi_mcu.model import Conv, Duplicate, Shift
from soi_mcu.model.from_torch import RepeatFrames, TimeShift, from_torch
from soi_mcu.model.source import load_model
from soi_mcu.model.streaming import check_equivalence

from .conftest import have
from .models.graph_models import ConvLstm, Gated, Masked, Tcn1d, UNetish
from .models.user_model import build, causal_conv

MODELS = Path(__file__).parent / "models" / "user_model.py"


def trained(module: nn.Module) -> nn.Module:
    """Give batch norms real statistics (one pass in training mode)."""
    module.train()
    with torch.no_grad():
        module(torch.randn(4, 1, 24, 16) * 2 + 0.5)
    return module.eval()


def test_user_sequential_imports_with_its_weights_and_streams() -> None:
    offline = from_torch(trained(build()), freq_bins=16)
    kinds = [type(layer) for layer in offline.spec.layers]
    assert kinds.count(Conv) == 5 and Duplicate in kinds and Shift in kinds
    convs = [layer for layer in offline.spec.layers if isinstance(layer, Conv)]
    assert [c.norm for c in convs] == [True, False, True, False, False]
    assert [c.act for c in convs] == ["relu", "relu", "relu6", "relu", "none"]
    assert convs[1].stride == 2 and convs[2].dilation == 2
    result = check_equivalence(offline, torch.randn(3 * offline.schedule.receptive_field + 3, 16, 1))
    assert result.ok, result


def test_elu_becomes_the_convs_activation() -> None:
    offline = from_torch(nn.Sequential(*causal_conv(1, 3), nn.ELU(), *causal_conv(3, 1)), freq_bins=8)
    assert offline.spec.layers[0].act == "elu"
    with pytest.raises(SoiError, match=r"alpha=0.5; only alpha=1.0"):
        from_torch(nn.Sequential(*causal_conv(1, 3), nn.ELU(alpha=0.5)), freq_bins=8)


def test_transposed_conv_in_frequency_is_a_decoders_upsampling() -> None:
    model = nn.Sequential(*causal_conv(2, 4, stride=(1, 2)), nn.ReLU(),
                          nn.ConvTranspose2d(4, 3, (1, 3), stride=(1, 2), padding=(0, 1), output_padding=(0, 1)),
                          nn.BatchNorm2d(3), nn.ELU())
    offline = from_torch(model.eval(), freq_bins=8)
    up = offline.spec.layers[1]
    assert (up.kind, up.kf, up.fstride, up.norm, up.act) == ("tconv_freq", 3, 2, True, "elu")
    assert offline.schedule.width[up.name] == 8
    assert check_equivalence(offline, torch.randn(12, 8, 2)).ok
    # any padding: 8 bins -> (8 - 1) x 2 + 3 = 17 bins; GTCRN's grouped kernel 5, padding 2: 2 x 8 - 1
    for tconv, bins in ((nn.ConvTranspose2d(4, 1, (1, 3), stride=(1, 2)), 17),
                        (nn.ConvTranspose2d(4, 2, (1, 5), stride=(1, 2), padding=(0, 2), groups=2), 15)):
        offline = from_torch(nn.Sequential(*causal_conv(1, 4), tconv).eval(), freq_bins=8)
        assert offline.schedule.width[offline.spec.layers[-1].name] == bins
        assert check_equivalence(offline, torch.randn(12, 8, 1)).ok
    with pytest.raises(SoiError, match=r"padding 3 crops the whole kernel"):
        from_torch(nn.Sequential(*causal_conv(1, 4), nn.ConvTranspose2d(4, 1, (1, 3), stride=(1, 2), padding=(0, 3))),
                   freq_bins=8)


def test_transposed_extrapolation_and_frequency_upsampling() -> None:
    model = nn.Sequential(*causal_conv(2, 4, stride=(2, 2)), nn.ReLU(), nn.ConvTranspose2d(4, 4, (2, 1), stride=(2, 1)),
                          nn.Upsample(scale_factor=(1, 2), mode="nearest"), *causal_conv(4, 1))
    offline = from_torch(model, freq_bins=8)
    assert offline.spec.in_channels == 2
    assert check_equivalence(offline, torch.randn(20, 8, 2)).ok


@pytest.mark.parametrize(
    "layers, fields",
    [
        ([nn.ZeroPad2d((1, 1, 2, 0)), nn.Conv2d(4, 6, 3, groups=2)], {"groups": 2, "fpad": None}),
        ([nn.ZeroPad2d((0, 1, 2, 0)), nn.Conv2d(4, 4, (3, 2))], {"kf": 2, "fpad": (0, 1)}),
        ([nn.ZeroPad2d((2, 2, 2, 0)), nn.Conv2d(4, 4, 3, dilation=(1, 2))], {"fdilation": 2, "fpad": None}),
        ([nn.ZeroPad2d((0, 2, 2, 0)), nn.Conv2d(4, 4, 3)], {"fpad": (0, 2)}),
        ([nn.ZeroPad2d((0, 0, 2, 0)), nn.Conv2d(4, 4, 3)], {"fpad": (0, 0)}),  # 'valid' in frequency
        ([nn.ZeroPad2d((0, 0, 2, 0)), nn.Conv2d(4, 8, 3, padding=(0, 1), groups=4)], {"depthwise": True, "groups": 1}),
    ],
)
def test_conv_geometry_imports(layers: list, fields: dict) -> None:
    """Grouped convs, even kernels, dilation and any padding in frequency become the Conv's own fields."""
    offline = from_torch(nn.Sequential(*layers, nn.ReLU()), freq_bins=8)
    conv = offline.spec.layers[0]
    assert {k: getattr(conv, k) for k in fields} == fields
    assert check_equivalence(offline, torch.randn(12, 8, 4)).ok


@pytest.mark.parametrize(
    "layers, message",
    [
        ([*causal_conv(1, 4), nn.RNN(4, 4)], r"model\.2 \(RNN\) is not supported; supported layers: Conv2d"),
        ([nn.Conv2d(1, 4, 3, padding=1)], r"model\.0 \(Conv2d 3x3\): padding=\(1, 1\) pads time on both sides, "
                                          r"so each output looks 1 frame\(s\) ahead"),
        ([nn.Conv2d(1, 4, 3, padding="same")], r"padding='same' pads time on both sides"),
        ([nn.ZeroPad2d((1, 1, 0, 0)), nn.Conv2d(1, 4, 3)], r"the kernel spans 3 frames but only 0 past frame\(s\) "
                                                           r"are padded, so each output looks 2 frame\(s\) ahead"),
        ([nn.ZeroPad2d((1, 1, 2, 1)), nn.Conv2d(1, 4, 3)], r"pads 1 future frame\(s\)"),
        ([*causal_conv(1, 4), nn.ReLU(), nn.ReLU()], r"model\.3 \(relu\): must follow a Conv2d directly"),
        ([nn.ZeroPad2d((1, 1, 2, 0)), nn.ReLU()], r"padding must be followed directly by the Conv2d"),
        ([*causal_conv(1, 4, stride=(2, 1))], r"its output model.1 \(Conv2d\) has one frame every 2 steps: model.1 "
                                              r"\(Conv2d\) strides time and nothing after restores the frame rate; repeat"),
        ([nn.Upsample(scale_factor=2, mode="bilinear")], r"only nearest upsampling in frequency"),
        ([TimeShift(1)], r"has no conv reading its input"),
    ],
)
def test_unsupported_or_non_causal_layers_are_named(layers: list, message: str) -> None:
    with pytest.raises(SoiError, match=message):
        from_torch(nn.Sequential(*layers), freq_bins=8)


def test_any_module_imports_as_its_graph() -> None:
    offline = from_torch(UNetish(), freq_bins=8)
    kinds = [layer.kind for layer in offline.spec.layers]
    assert kinds == ["conv", "conv", "conv", "conv", "add", "duplicate", "concat", "conv"], kinds
    add = offline.spec.layers[4]
    assert add.inputs == ("model_down_1", "model_res_conv2")
    assert offline.spec.layers[0].act == "relu" and offline.spec.layers[2].act == "relu"
    assert check_equivalence(offline, torch.randn(20, 8, 2)).ok


def test_conv1d_models_have_features_as_channels() -> None:
    tcn = Tcn1d()
    tcn.norm.running_mean.uniform_(-0.5, 0.5)
    tcn.norm.running_var.uniform_(0.5, 2.0)
    offline = from_torch(tcn.eval())
    assert offline.spec.freq_bins == 1 and offline.spec.in_channels == 6
    dconv = offline.spec.layers[1]
    assert (dconv.kt, dconv.kf, dconv.dilation, dconv.depthwise, dconv.norm, dconv.act) == (3, 1, 2, True, True, "relu")
    assert check_equivalence(offline, torch.randn(24, 1, 6)).ok
    with pytest.raises(SoiError, match=r"--freq-bins 16 does not apply"):
        from_torch(Tcn1d(), freq_bins=16)


def test_graph_refusals_name_the_call_and_the_users_line() -> None:
    class DataDependent(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(1, 1, 1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.conv(x) if x.sum() > 0 else x

    class Reshapes(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(1, 2, 1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.conv(x).flatten(1)

    class Scales(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(1, 2, 1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.conv(x) * 0.5

    class TwoInputs(nn.Module):
        def forward(self, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
            return x

    with pytest.raises(SoiError, match=r"cannot be captured by torch.fx \(TraceError"):
        from_torch(DataDependent(), freq_bins=4)
    with pytest.raises(SoiError, match=r"model\.flatten \(Tensor\.flatten\) \(test_from_torch\.py:\d+\) is not "
                                       r"supported; frames keep their"):
        from_torch(Reshapes(), freq_bins=4)
    with pytest.raises(SoiError, match=r"multiplying by a constant \(0\.5\) is not supported"):
        from_torch(Scales(), freq_bins=4)
    with pytest.raises(SoiError, match=r"takes 2 inputs \(x, h\)"):
        from_torch(TwoInputs(), freq_bins=4)


def test_the_output_check_is_relative_to_the_outputs_scale() -> None:
    model = nn.Sequential(*causal_conv(1, 8), nn.ReLU(), *causal_conv(8, 1))
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(30.0)  # outputs in the thousands: float rounding alone is above 1e-4 there
    offline = from_torch(model, freq_bins=16)
    assert offline.spec.layers[-1].kind == "conv"
    with torch.no_grad():
        model[1].weight[0, 0, 0, 0] = float("nan")
    with pytest.raises(SoiError, match=r"NaN or inf values on random input: 1.weight hold\(s\) NaN or inf"):
        from_torch(model, freq_bins=16)


def test_repeat_without_stride_mismatch_is_caught() -> None:
    # Repeating frames that were never compressed doubles the length: the spec analysis refuses it.
    with pytest.raises(SoiError):
        from_torch(nn.Sequential(*causal_conv(1, 2), RepeatFrames(2)), freq_bins=8)


def test_model_argument_forms(tmp_path: Path) -> None:
    assert load_model("demo").name == "demo_scc"
    assert load_model(f"{MODELS}:build", freq_bins=16).spec.name == "user_model"
    with pytest.raises(SoiError, match="give the number of frequency bins"):
        load_model(f"{MODELS}:build")
    with pytest.raises(SoiError, match=r"has no function 'buidl' \(it defines: .*build"):
        load_model(f"{MODELS}:buidl", freq_bins=16)
    with pytest.raises(SoiError, match="cannot tell what model"):
        load_model("model.onnx")
    bad = tmp_path / "bad.py"
    bad.write_text("raise ImportError('no module named foo')\n")
    with pytest.raises(SoiError, match=r"bad.py raised ImportError while loading: no module named foo"):
        load_model(f"{bad}:build", freq_bins=16)


def test_cli_unsupported_layer_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["generate", f"{MODELS}:build_rnn", "--freq-bins", "16", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "(RNN) is not supported" in err[0], err
    assert main(["generate", f"{MODELS}:build_lookahead", "--freq-bins", "16", "--out", str(tmp_path)]) == 2
    assert "looks 1 frame(s) ahead" in capsys.readouterr().err


def test_cli_generates_a_library_from_a_user_model(tmp_path: Path) -> None:
    assert main(["generate", f"{MODELS}:build", "--freq-bins", "16", "--out", str(tmp_path)]) == 0
    assert (tmp_path / "sources.txt").is_file()
    assert "user_model" in (tmp_path / "model" / "soi_model.c").read_text()


@pytest.mark.slow
@pytest.mark.skipif(not have("arm-none-eabi-gcc", "cmake", "qemu-system-arm"), reason="needs the cross toolchain and QEMU")
def test_trained_user_model_runs_bitexact_on_cortex_m4(tmp_path: Path) -> None:
    from soi_mcu.pipeline import run

    report = run(from_torch(trained(build()), freq_bins=16, name="user"), "mps2-an386", 24, tmp_path, quiet=True)
    assert report.bitexact
    assert report.frames == 24


@pytest.mark.slow
@pytest.mark.skipif(not have("arm-none-eabi-gcc", "cmake", "qemu-system-arm"), reason="needs the cross toolchain and QEMU")
@pytest.mark.parametrize("board", ["mps2-an386", "mps3-an547"])
@pytest.mark.parametrize("factory, freq_bins", [("build_unetish", 8), ("build_tcn", 0), ("build_masked", 8),
                                               ("build_conv_lstm", 0), ("build_gated", 8), ("build_skipsum", 0),
                                               ("build_attention", 6)])
def test_graph_models_run_bitexact_in_qemu(factory: str, freq_bins: int, board: str, tmp_path: Path) -> None:
    from soi_mcu.pipeline import run

    from .models import graph_models

    model = from_torch(getattr(graph_models, factory)(), freq_bins=freq_bins, name=factory)
    frames = 3 * model.schedule.receptive_field
    report = run(model, board, frames, tmp_path, quiet=True)
    assert report.bitexact and report.frames == frames


def test_masks_multiply_and_subtract() -> None:
    offline = from_torch(Masked(), freq_bins=8)
    kinds = [layer.kind for layer in offline.spec.layers]
    assert "mul" in kinds and "sub" in kinds, kinds
    mul = next(layer for layer in offline.spec.layers if layer.kind == "mul")
    assert mul.inputs[0] == "input"
    assert check_equivalence(offline, torch.randn(12, 8, 1)).ok


def test_a_relu_after_a_residual_add_fuses_into_it() -> None:
    class Block(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv1d(4, 4, 1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return nn.functional.relu(self.conv(x) + x)

    offline = from_torch(Block())
    assert [(layer.kind, getattr(layer, "act", "")) for layer in offline.spec.layers] == [("conv", "none"),
                                                                                          ("add", "relu")]
    assert check_equivalence(offline, torch.randn(8, 1, 4)).ok


def test_an_lstm_between_transposes_of_a_conv1d_model() -> None:
    offline = from_torch(ConvLstm())
    assert [layer.kind for layer in offline.spec.layers] == ["conv", "lstm", "add", "conv"]
    assert check_equivalence(offline, torch.randn(10, 1, 5)).ok

    class NoTranspose(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lstm = nn.LSTM(4, 4, batch_first=True)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.lstm(x)[0]

    class StateOut(ConvLstm):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            _, (h, _) = self.lstm(self.inp(x).transpose(1, 2))
            return h

    with pytest.raises(SoiError, match=r"give it \(batch, time, features\)"):
        from_torch(nn.Sequential(nn.Conv1d(4, 4, 1), nn.LSTM(4, 4, batch_first=True)))
    with pytest.raises(SoiError, match="uses the RNN's final state"):
        from_torch(StateOut())
    with pytest.raises(SoiError, match=r"give it \(batch, time, features\)"):
        from_torch(NoTranspose(), freq_bins=4)


def test_channel_splits_become_slices() -> None:
    offline = from_torch(Gated(), freq_bins=8)
    slices = [(layer.start, layer.stop) for layer in offline.spec.layers if layer.kind == "slice"]
    assert slices == [(0, 4), (4, 8), (1, 3)], slices  # g[:, 1:3] slices the piece g
    assert check_equivalence(offline, torch.randn(10, 8, 1)).ok

    class Uneven(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv1d(3, 7, 1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            a, b, c = torch.split(self.conv(x), [2, 4, 1], dim=1)
            return torch.cat([c, a], dim=1) + b[:, :3]

    offline = from_torch(Uneven())
    assert check_equivalence(offline, torch.randn(6, 1, 3)).ok
    with pytest.raises(SoiError, match="only a split over channels"):
        class TimeSplit(Uneven):
            def forward(self, x: torch.Tensor) -> torch.Tensor:
                return self.conv(x).chunk(2, dim=2)[0]

        from_torch(TimeSplit())


def test_a_channel_layernorm_between_transposes_of_a_conv1d_model() -> None:
    class Normed(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv1d(3, 6, 1)
            self.norm = nn.LayerNorm(6)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.norm(self.conv(x).transpose(1, 2)).transpose(1, 2)

    model = Normed()
    with torch.no_grad():
        model.norm.weight.uniform_(0.5, 1.5)
        model.norm.bias.uniform_(-0.5, 0.5)
    offline = from_torch(model)
    assert [layer.kind for layer in offline.spec.layers] == ["conv", "layernorm"]
    assert check_equivalence(offline, torch.randn(8, 1, 3)).ok


def test_tcn_idioms_sums_from_zero_shared_decoders_and_unused_residuals() -> None:
    from tests.models.graph_models import SkipSum

    offline = from_torch(SkipSum(), name="skipsum")  # checks the same outputs as the module
    kinds = [layer.kind for layer in offline.spec.layers]
    assert kinds.count("add") == 4  # block 0's residual, the second skip sum (0 + skip is the skip), two in the mask
    names = [layer.name for layer in offline.spec.layers]
    assert "model_dec" in names and "model_dec_2" in names  # the shared decoder: one layer per call
    assert "model_res_1" not in names  # the last residual conv feeds nothing


def test_a_subclass_of_a_known_layer_with_its_own_forward_says_what_to_write() -> None:
    class ChanLN(nn.LayerNorm):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return super().forward(x.transpose(1, 2)).transpose(1, 2)

    model = nn.Sequential(nn.Conv1d(4, 8, 1), ChanLN(8))
    with pytest.raises(SoiError, match="subclass of LayerNorm with its own forward; hold an nn.LayerNorm"):
        from_torch(model)


class _DecoderBlock(nn.Module):
    """GTCRN's decoder convs: the past padded, then a stride-1 ConvTranspose2d that crops it back."""

    def __init__(self, dilation: int, groups: int, cin: int = 4, cout: int = 4) -> None:
        super().__init__()
        self.pad = 2 * dilation
        self.tconv = nn.ConvTranspose2d(cin, cout, (3, 3), padding=(2 * dilation, 1), dilation=(dilation, 1), groups=groups)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.tconv(nn.functional.pad(x, [0, 0, self.pad, 0])))


@pytest.mark.parametrize("dilation, groups, cin, cout", [(1, 1, 4, 6), (2, 4, 4, 4), (5, 2, 4, 6)])
def test_a_stride_1_transposed_conv_is_the_flipped_causal_conv(dilation: int, groups: int, cin: int, cout: int) -> None:
    offline = from_torch(_DecoderBlock(dilation, groups, cin, cout), freq_bins=6)  # checks the same outputs
    (conv,) = [layer for layer in offline.spec.layers if layer.kind == "conv"]
    assert (conv.kt, conv.dilation, conv.cout) == (3, dilation, cout)


def test_a_stride_1_transposed_conv1d_and_its_refusals() -> None:
    model = nn.Sequential(nn.ConstantPad1d((2, 0), 0.0), nn.ConvTranspose1d(4, 5, 3, padding=2))
    assert [layer.kind for layer in from_torch(model).spec.layers] == ["conv"]
    with pytest.raises(SoiError, match="looks 2 frame"):  # no past padding: the crop reads the future
        from_torch(nn.Sequential(nn.ConvTranspose1d(4, 5, 3, padding=2)))
    with pytest.raises(SoiError, match="crops more than the kernel adds"):
        from_torch(nn.Sequential(nn.ConvTranspose1d(4, 5, 3, padding=3)))


def test_temporal_attention_squeezes_runs_an_rnn_and_gates_every_bin() -> None:
    from tests.models.graph_models import TemporalAttention

    offline = from_torch(TemporalAttention(), freq_bins=6)  # checks the same outputs as the module
    kinds = [layer.kind for layer in offline.spec.layers]
    assert kinds == ["conv", "mul", "pool", "lstm", "conv", "activation", "mul", "conv"]
    gate = [layer for layer in offline.spec.layers if layer.kind == "mul"][-1]
    assert {offline.schedule.width[s] for s in gate.inputs} == {1, 6}


@pytest.mark.parametrize("forward, message", [
    (lambda self, x: self.fc(x), "Linear.*applies to the last dimension, here frequency"),
    (lambda self, x: x + x.mean(dim=-1), "combines a \\(batch, channels, time\\) value"),
])
def test_squeezed_values_and_linear_refusals(forward, message: str) -> None:
    class Bad(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.c, self.fc = nn.Conv2d(1, 2, 1), nn.Linear(4, 4)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return forward(self, self.c(x))

    with pytest.raises(SoiError, match=message):
        from_torch(Bad(), freq_bins=4)
