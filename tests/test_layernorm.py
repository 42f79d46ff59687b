"""LayerNorm per frame (over channels, and over channels x frequency), end to end: PyTorch import
(nn.LayerNorm, ChannelNorm, FrameNorm), streaming == offline, the int8 op sequence it converts to,
soi_layernorm_s8 bit-exact with LiteRT on the host (also over random scales) and in QEMU."""

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
from soi_mcu.ops import ChannelNorm, FrameNorm, LayerNorm
from soi_mcu.plan.lower import lower
from soi_mcu.target.boards import load_board

from .conftest import Exported, have, randomize_norms
from .host_build import run_on_host
from .models.user_model import causal_conv


def ln_spec(over: str, affine: bool = True, freq_bins: int = 6) -> ModelSpec:
    """LayerNorms after a conv at full rate, inside an S-CC pair and after a concatenated skip."""
    return ModelSpec("ln", freq_bins, 2, (
        Conv("a", "input", cout=5, act="none"),
        LayerNorm("na", "a", over=over, affine=affine),
        Conv("down", "na", cout=6, stride=2, act="relu"),
        LayerNorm("nd", "down", over=over, affine=not affine),
        Duplicate("up", "nd"),
        Concat("skip", ("up", "na")),
        LayerNorm("ns", "skip", over=over, affine=affine),
        Conv("out", "ns", cout=2, act="none"),
    ))


@pytest.mark.parametrize("over", ["channels", "frame"])
def test_layernorm_streams_equal_offline(over: str) -> None:
    model = randomize_norms(OfflineModel(ln_spec(over), seed=1), 1)
    want = (5,) if over == "channels" else (5, 6)
    assert tuple(model.layernorms["na"].weight.shape) == want
    x = torch.randn(3 * model.schedule.receptive_field + 3, 6, 2)
    assert check_equivalence(model, x, precompute_between=True).ok


@pytest.mark.skipif(not have("gcc"), reason="host gcc not installed")
@pytest.mark.parametrize("over", ["channels", "frame"])
def test_layernorm_on_host_is_bitexact_with_litert(over: str, tmp_path: Path) -> None:
    spec = ln_spec(over)
    frames = 3 * analyze(spec).receptive_field + 2
    ex = Exported(spec, frames, tmp_path, seed=3)
    kinds = [op.kind for op in ex.graph.ops]
    assert kinds.count("RSQRT") == 3 and kinds.count("MEAN") == 6
    plan = lower(spec, ex.graph)
    assert [n.kind for n in plan.nodes].count("layernorm") == 3
    generate(plan, load_board("mps2-an386"), ex.inputs_q, tmp_path / "gen")
    out = run_on_host(tmp_path / "gen", frames, plan.output_size)
    assert np.array_equal(out, ex.reference.reshape(frames, -1))
    assert np.array_equal(run_on_host(tmp_path / "gen", frames, plan.output_size, sanitize=True), out)


@pytest.mark.skipif(not have("gcc"), reason="host gcc not installed")
@pytest.mark.parametrize("over", ["channels", "frame"])
def test_layernorm_kernel_is_bitexact_over_random_scales(over: str, tmp_path: Path) -> None:
    """The converter picks one set of scales; the kernel must follow LiteRT for any. Every tensor of the
    op sequence gets random scales and zero points in the .tflite, LiteRT and the firmware then run it."""
    from soi_mcu.quantize import reference_outputs
    from soi_mcu.quantize.export import TfliteArtifact
    from soi_mcu.quantize.graph import load_graph, match_layers
    from soi_mcu.quantize.rewrite import load_model, pack_model

    spec = ModelSpec("ln1", 7, 3, (Conv("a", "input", cout=9, act="none"), LayerNorm("n", "a", over=over)),
                     output="n")
    frames = 12
    ex = Exported(spec, frames, tmp_path, seed=5)
    mt = match_layers(ex.graph, spec)["n"]
    inner = [mt.mean, mt.diff, mt.square, mt.variance, mt.eps_out, mt.rsqrt, mt.normalized, mt.gamma_out, mt.output]
    rng = np.random.default_rng(0)
    for case in range(6):
        model, _ = load_model(ex.artifact.path.read_bytes())
        tensors = model.subgraphs[0].tensors
        for t in {t.index: t for t in inner}.values():
            q = tensors[t.index].quantization
            q.scale = [float(t.scale[0] * rng.uniform(0.25, 4.0))]
            q.zeroPoint = [int(t.zero_point[0]) if t.zero_point[0] == -128 and case % 2 else int(rng.integers(-40, 40))]
        path = tmp_path / f"case{case}.tflite"
        path.write_bytes(pack_model(model))
        reference = reference_outputs(TfliteArtifact(path, "", ex.artifact.frames, ""), ex.inputs_q)
        plan = lower(spec, load_graph(path))
        generate(plan, load_board("mps2-an386"), ex.inputs_q, tmp_path / f"gen{case}")
        out = run_on_host(tmp_path / f"gen{case}", frames, plan.output_size)
        assert np.array_equal(out, reference.reshape(frames, -1)), case
        assert not np.array_equal(reference, ex.reference)  # the new scales took effect
        assert len(np.unique(out)) > 16  # a real spread of values, not a clamped constant


@pytest.mark.parametrize("bias", [True, False])
def test_nn_layernorm_and_channelnorm_import(bias: bool) -> None:
    """nn.LayerNorm(C) is taken as the norm over channels, nn.LayerNorm((C, F)) over the frame; the
    user's module runs the same (here with the permutes a (batch, channels, time, freq) model needs)."""

    class Permuted(nn.Module):
        def __init__(self, norm: nn.Module) -> None:
            super().__init__()
            self.norm = norm

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.norm(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)

    ln = nn.LayerNorm(4, eps=1e-3, bias=bias)
    cn, fn = ChannelNorm(4), FrameNorm(4, 8, affine=False)
    with torch.no_grad():
        for p in (ln.weight, cn.norm.weight, cn.norm.bias) + ((ln.bias,) if bias else ()):
            p.copy_(torch.rand(p.shape) + 0.5)
    torch_model = nn.Sequential(*causal_conv(1, 4), cn, *causal_conv(4, 4, stride=(2, 1)), fn, RepeatFrames(2),
                                *causal_conv(4, 4), *causal_conv(4, 1)).eval()
    offline = from_torch(torch_model, freq_bins=8)
    layers = [x for x in offline.spec.layers if isinstance(x, LayerNorm)]
    assert [(x.over, x.affine) for x in layers] == [("channels", True), ("frame", False)]
    assert torch.equal(offline.layernorms[layers[0].name].weight.detach(), cn.norm.weight.detach())
    assert check_equivalence(offline, torch.randn(20, 8, 1)).ok
    # nn.LayerNorm itself: the handler takes the module (normalized_shape = channels -> over channels)
    from soi_mcu.model.torch_layers import REGISTERED

    class Builder:
        source, layers, loaders = "a", [], []

        def layer_name(self, path: str) -> str:
            return path

        def append(self, layer, load=None) -> None:
            self.layers.append(layer)
            self.loaders.append(load)

    b = Builder()
    REGISTERED[nn.LayerNorm](b, "ln", ln)
    REGISTERED[nn.LayerNorm](b, "ln2", nn.LayerNorm((4, 8)))
    assert [(x.over, x.affine, x.eps) for x in b.layers] == [("channels", True, 1e-3), ("frame", True, 1e-5)]
    spec = ModelSpec("p", 8, 1, (Conv("a", "input", cout=4, act="none"), *b.layers[:1]))
    model = OfflineModel(spec)
    x = torch.randn(1, 5, 8, 1)
    with torch.no_grad():
        b.loaders[0](model)  # from_torch runs the loaders without autograd
        a = model.convs["a"](nn.functional.pad(x.permute(0, 3, 1, 2), (1, 1, 2, 0)))
        assert torch.allclose(model(x).permute(0, 3, 1, 2), Permuted(ln)(a), atol=1e-5)


def test_layernorm_refusals() -> None:
    with pytest.raises(SoiError, match="LayerNorm over 'time'"):
        analyze(ModelSpec("p", 4, 1, (LayerNorm("n", "input", over="time"),)))
    with pytest.raises(SoiError, match=r"layer 'n': a LayerNorm over the channels of 1 channel\(s\) x 4 bin\(s\) "
                                       "normalizes a single value"):
        analyze(ModelSpec("p", 4, 1, (LayerNorm("n", "input"),)))
    with pytest.raises(SoiError, match=r"normalized_shape \(2, 3, 4\)"):
        from_torch(nn.Sequential(*causal_conv(1, 2), nn.LayerNorm((2, 3, 4))), freq_bins=4)


@pytest.mark.slow
@pytest.mark.skipif(not have("arm-none-eabi-gcc", "cmake", "qemu-system-arm"), reason="needs the cross toolchain and QEMU")
@pytest.mark.parametrize("board", ["mps2-an386", "mps3-an547"])
@pytest.mark.parametrize("over", ["channels", "frame"])
def test_layernorm_model_is_bitexact_in_qemu(board: str, over: str, tmp_path: Path) -> None:
    from soi_mcu.pipeline import run

    report = run(randomize_norms(OfflineModel(ln_spec(over), seed=2), 2), board, 24, tmp_path, quiet=True)
    assert report.bitexact, report.mismatched_frames
    assert {"na", "nd", "ns"} <= {row["name"] for row in report.layers}
