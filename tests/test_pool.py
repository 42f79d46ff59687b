"""Pooling along frequency (average and max, windows or all bins), end to end: PyTorch import,
streaming == offline, int8 export to AVERAGE_POOL_2D / MAX_POOL_2D, the firmware (arm_avgpool_s8,
arm_max_pool_s8) bit-exact with LiteRT on the host and in QEMU, refusals of pooling over time."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from soi_mcu.codegen import generate
from soi_mcu.errors import SoiError
from soi_mcu.model import Conv, Duplicate, ModelSpec, OfflineModel, analyze
from soi_mcu.model.from_torch import RepeatFrames, from_torch
from soi_mcu.model.streaming import check_equivalence
from soi_mcu.ops import FreqPool
from soi_mcu.plan.lower import lower
from soi_mcu.target.boards import load_board

from .conftest import Exported, have, randomize_norms
from .host_build import run_on_host
from .models.user_model import causal_conv


def pool_spec() -> ModelSpec:
    """Max windows (overlapping), average windows inside an S-CC pair, then a global max and a head."""
    return ModelSpec("pool", 9, 2, (
        Conv("a", "input", cout=4, act="none"),
        FreqPool("pm", "a", mode="max", kernel=3, stride=2),  # 9 -> 4 bins
        Conv("down", "pm", cout=5, stride=2, act="relu6"),
        FreqPool("pa", "down", mode="avg", kernel=2, stride=1),  # 4 -> 3 bins, every other step
        Duplicate("up", "pa"),
        Conv("c", "up", cout=3, act="none"),
        FreqPool("pg", "c", mode="max"),  # all bins -> 1
        Conv("out", "pg", cout=2, kt=1, kf=1, act="none"),
    ))


def test_pool_widths_and_streaming_equal_offline() -> None:
    sched = analyze(pool_spec())
    assert (sched.width["pm"], sched.width["pa"], sched.width["pg"]) == (4, 3, 1)
    model = randomize_norms(OfflineModel(pool_spec(), seed=1), 1)
    x = torch.randn(3 * model.schedule.receptive_field + 3, 9, 2)
    assert check_equivalence(model, x, precompute_between=True).ok


@pytest.mark.parametrize(("mode", "kernel", "stride", "torch_pool"), [
    ("avg", 3, 2, nn.AvgPool2d((1, 3), (1, 2))), ("max", 2, 0, nn.MaxPool2d((1, 2))),
    ("max", 0, 0, nn.AdaptiveMaxPool2d((None, 1))), ("avg", 0, 0, nn.AdaptiveAvgPool2d((None, 1)))])
def test_pool_is_torch_pooling(mode: str, kernel: int, stride: int, torch_pool: nn.Module) -> None:
    model = OfflineModel(ModelSpec("p", 7, 3, (FreqPool("p", "input", mode=mode, kernel=kernel, stride=stride),)))
    x = torch.randn(1, 5, 7, 3)
    assert torch.equal(model(x), torch_pool(x.permute(0, 3, 1, 2)).permute(0, 2, 3, 1))


@pytest.mark.skipif(not have("gcc"), reason="host gcc not installed")
def test_pool_on_host_is_bitexact_with_litert(tmp_path: Path) -> None:
    spec = pool_spec()
    frames = 3 * analyze(spec).receptive_field + 2
    ex = Exported(spec, frames, tmp_path, seed=3)
    kinds = [op.kind for op in ex.graph.ops]
    assert kinds.count("MAX_POOL_2D") == 2 and kinds.count("AVERAGE_POOL_2D") == 1
    plan = lower(spec, ex.graph)
    assert {"arm_max_pool_s8", "arm_avgpool_s8"} <= set(plan.kernels)
    generate(plan, load_board("mps2-an386"), ex.inputs_q, tmp_path / "gen")
    out = run_on_host(tmp_path / "gen", frames, plan.output_size)
    assert np.array_equal(out, ex.reference.reshape(frames, -1))
    assert np.array_equal(run_on_host(tmp_path / "gen", frames, plan.output_size, sanitize=True), out)


def test_torch_pooling_imports() -> None:
    torch_model = nn.Sequential(*causal_conv(1, 4), nn.ReLU(), nn.MaxPool2d((1, 3), stride=(1, 2)),
                                *causal_conv(4, 4, stride=(2, 1)), nn.AvgPool2d((1, 2)), RepeatFrames(2),
                                *causal_conv(4, 3), nn.AdaptiveAvgPool2d((None, 1)), *causal_conv(3, 2, kt=1, kf=1))
    offline = from_torch(torch_model.eval(), freq_bins=9)  # from_torch checks its outputs against the module's
    pools = [(p.mode, p.kernel, p.stride) for p in offline.spec.layers if isinstance(p, FreqPool)]
    assert pools == [("max", 3, 2), ("avg", 2, 2), ("avg", 0, 0)]
    assert check_equivalence(offline, torch.randn(20, 9, 1)).ok


@pytest.mark.parametrize(("pool", "message"), [
    (nn.AvgPool2d((2, 2)), r"\(AvgPool2d\): kernel \(2, 2\).*pooling over time is not causal.*kernel \(1, k\)"),
    (nn.MaxPool2d((1, 2), stride=(2, 2)), "pooling over time is not causal"),
    (nn.AdaptiveAvgPool2d((1, 1)), r"output_size \(1, 1\) pools over time.*AdaptiveAvgPool2d\(\(None, 1\)\)"),
    (nn.AvgPool2d((1, 2), padding=(0, 1)), "only 'valid' pooling"),
    (nn.MaxPool2d((1, 2), dilation=(1, 2)), "dilation"),
])
def test_pooling_over_time_is_refused(pool: nn.Module, message: str) -> None:
    with pytest.raises(SoiError, match=message):
        from_torch(nn.Sequential(*causal_conv(1, 3), pool, *causal_conv(3, 1)), freq_bins=8)


def test_conv1d_model_pooling_is_refused() -> None:
    with pytest.raises(SoiError, match=r"\(AvgPool1d\): pooling over time is not causal"):
        from_torch(nn.Sequential(nn.Conv1d(3, 4, 1), nn.AvgPool1d(2), nn.Conv1d(4, 1, 1)))


def test_pool_window_must_fit() -> None:
    with pytest.raises(SoiError, match="window must fit"):
        analyze(ModelSpec("p", 4, 1, (FreqPool("p", "input", kernel=5),)))
    with pytest.raises(SoiError, match="pooling mode 'min'"):
        analyze(ModelSpec("p", 4, 1, (FreqPool("p", "input", mode="min"),)))


@pytest.mark.slow
@pytest.mark.skipif(not have("arm-none-eabi-gcc", "cmake", "qemu-system-arm"), reason="needs the cross toolchain and QEMU")
@pytest.mark.parametrize("board", ["mps2-an386", "mps3-an547"])
def test_pool_model_is_bitexact_in_qemu(board: str, tmp_path: Path) -> None:
    from soi_mcu.pipeline import run

    report = run(randomize_norms(OfflineModel(pool_spec(), seed=2), 2), board, 24, tmp_path, quiet=True)
    assert report.bitexact, report.mismatched_frames
    assert {"pm", "pa", "pg"} <= {row["name"] for row in report.layers}
