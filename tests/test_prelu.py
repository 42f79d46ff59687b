"""PReLU (per-channel and shared slope), end to end: PyTorch import, streaming == offline, int8 export
to TFLite's PRELU, the firmware kernel bit-exact with LiteRT on the host and in QEMU, refusals."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from soi_mcu.codegen import generate
from soi_mcu.errors import SoiError
from soi_mcu.model import Concat, Conv, Duplicate, ModelSpec, OfflineModel, analyze
from soi_mcu.model.from_torch import RepeatFrames, from_torch
from soi_mcu.model.streaming import check_equivalence
from soi_mcu.ops import PReLU
from soi_mcu.plan.lower import lower
from soi_mcu.target.boards import load_board

from .conftest import Exported, have, randomize_norms
from .host_build import run_on_host
from .models.user_model import causal_conv


def prelu_spec(shared: bool, act: str = "none") -> ModelSpec:
    """PReLU after a conv at full rate, and inside an S-CC pair (runs every other step) after a skip."""
    return ModelSpec("prelu", 8, 2, (
        Conv("a", "input", cout=4, act=act),
        PReLU("pa", "a", shared=shared),
        Conv("down", "pa", cout=6, stride=2, act="relu6"),
        PReLU("pd", "down", shared=not shared),
        Duplicate("up", "pd"),
        Concat("skip", ("up", "pa")),
        PReLU("ps", "skip", shared=shared),
        Conv("out", "ps", cout=2, act="none"),
    ))


@pytest.mark.parametrize("shared", [False, True])
def test_prelu_streams_equal_offline(shared: bool) -> None:
    model = randomize_norms(OfflineModel(prelu_spec(shared), seed=1), 1)
    assert model.prelus["pa"].weight.numel() == (1 if shared else 4)
    assert model.prelus["ps"].weight.numel() == (1 if shared else 10)  # 6 + 4 channels after the concat
    x = torch.randn(3 * model.schedule.receptive_field + 3, 8, 2)
    result = check_equivalence(model, x, precompute_between=True)
    assert result.ok, result


def test_prelu_is_a_prelu_in_pytorch() -> None:
    """Its offline form is nn.PReLU: negative values times the slope, the rest unchanged."""
    model = OfflineModel(ModelSpec("p", 4, 3, (PReLU("p", "input"),)), seed=0)
    with torch.no_grad():
        model.prelus["p"].weight.copy_(torch.tensor([0.5, -1.0, 2.0]))
    x = torch.randn(1, 6, 4, 3)
    want = torch.where(x >= 0, x, x * torch.tensor([0.5, -1.0, 2.0]))
    assert torch.allclose(model(x), want)


@pytest.mark.skipif(not have("gcc"), reason="host gcc not installed")
@pytest.mark.parametrize("shared", [False, True])
def test_prelu_on_host_is_bitexact_with_litert(shared: bool, tmp_path: Path) -> None:
    spec = prelu_spec(shared, act="elu")
    frames = 3 * analyze(spec).receptive_field + 2
    ex = Exported(spec, frames, tmp_path, seed=3)
    assert [op.kind for op in ex.graph.ops].count("PRELU") == 3
    plan = lower(spec, ex.graph)
    # a shared slope is a table (the output depends on the int8 input alone); per-channel slopes the kernel
    tables = [n for n in plan.nodes if n.kind == "activation" and n.fn == "prelu"]
    assert [n.name for n in tables] == (["pa", "ps"] if shared else ["pd"])
    assert [n.kind for n in plan.nodes].count("prelu") == 3 - len(tables) and "soi_prelu_s8" in plan.kernels
    generate(plan, load_board("mps2-an386"), ex.inputs_q, tmp_path / "gen")
    out = run_on_host(tmp_path / "gen", frames, plan.output_size)
    assert np.array_equal(out, ex.reference.reshape(frames, -1))
    # the slopes take both signs and exceed 1, so both multipliers and the clamp are exercised
    assert np.array_equal(run_on_host(tmp_path / "gen", frames, plan.output_size, sanitize=True), out)


@pytest.mark.parametrize("num_parameters", [1, 5])
def test_nn_prelu_imports_with_its_slopes(num_parameters: int) -> None:
    prelu = nn.PReLU(num_parameters)
    with torch.no_grad():
        prelu.weight.copy_(torch.linspace(-0.5, 1.5, num_parameters))
    torch_model = nn.Sequential(*causal_conv(1, 5), prelu, *causal_conv(5, 5, stride=(2, 1)), nn.PReLU(5),
                                RepeatFrames(2), *causal_conv(5, 1)).eval()
    offline = from_torch(torch_model, freq_bins=8)
    layers = [layer for layer in offline.spec.layers if isinstance(layer, PReLU)]
    assert [p.shared for p in layers] == [num_parameters == 1, False]
    assert torch.equal(offline.prelus[layers[0].name].weight.detach(), prelu.weight.detach().reshape(-1))
    x = torch.randn(20, 8, 1)
    with torch.no_grad():
        want = torch_model(x.permute(2, 0, 1)[None])[0].permute(1, 2, 0)
        assert torch.allclose(offline(x[None])[0], want, atol=1e-5)
    assert check_equivalence(offline, x).ok


def test_prelu_after_a_relu_is_refused_before_export() -> None:
    with pytest.raises(SoiError, match=r"layer 'pa': a PReLU right after a ReLU does nothing.*give 'a' act='none'"):
        analyze(prelu_spec(shared=False, act="relu"))
    with pytest.raises(SoiError, match="does nothing"):  # the same from PyTorch: the ReLU fuses into the conv
        from_torch(nn.Sequential(*causal_conv(1, 3), nn.ReLU(), nn.PReLU(3), *causal_conv(3, 1)), freq_bins=8)


def test_prelu_takes_one_input() -> None:
    with pytest.raises(SoiError, match="takes one input"):
        analyze(ModelSpec("p", 4, 1, (Conv("a", "input", cout=2, act="none"), PReLU("p", ("a", "input")))))


@pytest.mark.slow
@pytest.mark.skipif(not have("arm-none-eabi-gcc", "cmake", "qemu-system-arm"), reason="needs the cross toolchain and QEMU")
@pytest.mark.parametrize("board", ["mps2-an386", "mps3-an547"])
def test_prelu_model_is_bitexact_in_qemu(board: str, tmp_path: Path) -> None:
    from soi_mcu.pipeline import run

    spec = prelu_spec(shared=False, act="relu6")
    report = run(randomize_norms(OfflineModel(spec, seed=2), 2), board, 24, tmp_path, quiet=True)
    assert report.bitexact, report.mismatched_frames
    assert {"pa", "pd", "ps"} <= {row["name"] for row in report.layers}
