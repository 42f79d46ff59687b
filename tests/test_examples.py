"""examples/: public streaming architectures written in PyTorch, taken by soi-mcu unchanged."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch import nn

from soi_mcu.cli import main
from soi_mcu.model.source import load_model
from soi_mcu.model.streaming import check_equivalence

from .conftest import have

EXAMPLES = sorted((Path(__file__).parents[1] / "examples").glob("*.py"))


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
def test_example_imports_and_streams(example: Path) -> None:
    offline = load_model(f"{example}:build")
    sched = offline.schedule
    x = torch.randn(3 * sched.receptive_field, offline.spec.freq_bins, offline.spec.in_channels)
    assert check_equivalence(offline, x).ok
    assert "Source:" in example.read_text()  # each example says where it comes from


@pytest.mark.slow
@pytest.mark.skipif(not have("arm-none-eabi-gcc", "cmake", "qemu-system-arm"), reason="needs the cross toolchain and QEMU")
@pytest.mark.parametrize("board", ["mps2-an386", "mps3-an547"])
@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
def test_example_runs_bitexact_over_three_receptive_fields(example: Path, board: str, tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    frames = 3 * load_model(f"{example}:build").schedule.receptive_field
    code = main(["run", f"{example}:build", "--board", board, "--frames", str(frames), "--out", str(tmp_path),
                 "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 0 and report["bitexact"] and report["frames"] == frames
    # what `analyze` predicts without building, against the built model library
    assert main(["analyze", f"{example}:build", "--board", board, "--out", str(tmp_path / "a"), "--json"]) == 0
    predicted = json.loads(capsys.readouterr().out)
    for what in ("flash", "ram"):
        built = report["model_library"][what]
        assert abs(predicted[what] - built) <= 0.05 * built, (what, predicted[what], built)


def test_conv_tasnet_frames_are_its_sample_domain_encoder_and_decoder() -> None:
    """The frame-domain encoder and decoder of examples/conv_tasnet.py compute what Conv-TasNet's
    Conv1d(1, N, L, stride L/2) and ConvTranspose1d(N, 1, L, stride L/2) do over samples."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("conv_tasnet", EXAMPLES[0].parent / "conv_tasnet.py")
    ctn = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ctn)
    hop, n, frames = ctn.HOP, 6, 9
    samples = torch.randn(1, 1, hop * frames)
    enc = nn.Conv1d(1, n, 2 * hop, stride=hop, bias=False)
    frame_enc = nn.Sequential(nn.ConstantPad1d((1, 0), 0.0), nn.Conv1d(hop, n, 2, bias=False))
    with torch.no_grad():  # tap 0: the previous hop (the window's first half), tap 1: this hop
        frame_enc[1].weight.copy_(enc.weight[:, 0].reshape(n, 2, hop).permute(0, 2, 1))
        padded = torch.cat([torch.zeros(1, 1, hop), samples], dim=2)  # the first window sees one hop of zeros
        framed = samples.reshape(1, frames, hop).transpose(1, 2)
        assert torch.allclose(frame_enc(framed), enc(padded), atol=1e-6)
        w = torch.randn(1, n, frames)
        dec = nn.ConvTranspose1d(n, 1, 2 * hop, stride=hop, bias=False)
        frame_dec = nn.Sequential(nn.ConstantPad1d((1, 0), 0.0), nn.Conv1d(n, hop, 2, bias=False))
        frame_dec[1].weight.copy_(ctn.decoder_weights_from(dec.weight))
        overlap_added = dec(w)[0, 0, : hop * frames]  # each hop complete once its frame has come
        assert torch.allclose(frame_dec(w).transpose(1, 2).reshape(-1), overlap_added, atol=1e-5)
