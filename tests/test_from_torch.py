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


def test_transposed_extrapolation_and_frequency_upsampling() -> None:
    model = nn.Sequential(*causal_conv(2, 4, stride=(2, 2)), nn.ReLU(), nn.ConvTranspose2d(4, 4, (2, 1), stride=(2, 1)),
                          nn.Upsample(scale_factor=(1, 2), mode="nearest"), *causal_conv(4, 1))
    offline = from_torch(model, freq_bins=8)
    assert offline.spec.in_channels == 2
    assert check_equivalence(offline, torch.randn(20, 8, 2)).ok


@pytest.mark.parametrize(
    "layers, message",
    [
        ([*causal_conv(1, 4), nn.LSTM(4, 4)], r"model\.2 \(LSTM\) is not supported; supported layers: Conv2d"),
        ([nn.Conv2d(1, 4, 3, padding=1)], r"model\.0 \(Conv2d 3x3\): padding=\(1, 1\) pads time on both sides, "
                                          r"so each output looks 1 frame\(s\) ahead"),
        ([nn.Conv2d(1, 4, 3, padding="same")], r"padding='same' pads time on both sides"),
        ([nn.ZeroPad2d((1, 1, 0, 0)), nn.Conv2d(1, 4, 3)], r"the kernel spans 3 frames but only 0 past frame\(s\) "
                                                           r"are padded, so each output looks 2 frame\(s\) ahead"),
        ([nn.ZeroPad2d((1, 1, 2, 1)), nn.Conv2d(1, 4, 3)], r"pads 1 future frame\(s\)"),
        ([nn.ZeroPad2d((1, 1, 2, 0)), nn.Conv2d(4, 4, 3, groups=2)], r"grouped convolution \(groups=2\)"),
        ([nn.ZeroPad2d((0, 0, 2, 0)), nn.Conv2d(1, 4, (3, 2))], r"must be 'same' for an odd kernel"),
        ([*causal_conv(1, 4), nn.ReLU(), nn.ReLU()], r"model\.3 \(relu\): must follow a Conv2d directly"),
        ([nn.ZeroPad2d((1, 1, 2, 0)), nn.ReLU()], r"padding must be followed directly by the Conv2d"),
        ([*causal_conv(1, 4, stride=(2, 1))], r"must run every step \(restore the rate"),
        ([nn.Upsample(scale_factor=2, mode="bilinear")], r"only nearest upsampling in frequency"),
        ([TimeShift(1)], r"has no Conv2d"),
    ],
)
def test_unsupported_or_non_causal_layers_are_named(layers: list, message: str) -> None:
    with pytest.raises(SoiError, match=message):
        from_torch(nn.Sequential(*layers), freq_bins=8)


def test_custom_containers_are_refused() -> None:
    class Block(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(1, 1, 1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x + self.conv(x)

    with pytest.raises(SoiError, match=r"model\.0 \(Block\): only nn.Sequential models"):
        from_torch(nn.Sequential(Block()), freq_bins=8)


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
    assert main(["generate", f"{MODELS}:build_lstm", "--freq-bins", "16", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "(GRU) is not supported" in err[0], err
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
