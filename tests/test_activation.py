"""Activation layers (sigmoid, tanh, hardsigmoid, hardswish) and softmax, end to end: the int8 tables
against LiteRT's reference kernels on all 256 inputs, streaming == offline, the PyTorch import, the
firmware bit-exact with LiteRT on the host and in QEMU."""

from __future__ import annotations

import dataclasses
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
from soi_mcu.ops import Activation, PReLU, Softmax, TConvFreq
from soi_mcu.ops.tables import chain_table, hardswish_table, sigmoid_table, tanh_table
from soi_mcu.plan.lower import lower
from soi_mcu.quantize.graph import match_layers
from soi_mcu.quantize.reference import litert_ops
from soi_mcu.quantize.rewrite import load_model, pack_model
from soi_mcu.target.boards import load_board

from .conftest import Exported, have, randomize_norms
from .host_build import run_on_host
from .models.user_model import causal_conv

FNS = ("sigmoid", "tanh", "hardsigmoid", "hardswish")


def activation_spec(conv_act: str = "none") -> ModelSpec:
    """Each activation after a different kind of layer (a conv, a PReLU, a concat inside an S-CC pair,
    another activation), a softmax over channels and the model ending in an activation."""
    return ModelSpec("act", 8, 2, (
        Conv("a", "input", cout=4, act=conv_act),
        Activation("sg", "a", fn="sigmoid"),
        Conv("b", "sg", cout=4, act="none"),
        PReLU("p", "b"),
        Activation("hs", "p", fn="hardswish"),
        Conv("down", "hs", cout=6, stride=2, act="none"),
        Activation("hg", "down", fn="hardsigmoid"),
        Duplicate("up", "hg"),
        Concat("skip", ("up", "hs")),
        Activation("th", "skip", fn="tanh"),
        Softmax("sm", "th"),
        Conv("c", "sm", cout=3, kt=1, kf=1, act="none"),
        Activation("out", "c", fn="hardsigmoid"),
    ))


def test_activations_stream_equal_offline() -> None:
    model = randomize_norms(OfflineModel(activation_spec(), seed=1), 1)
    x = torch.randn(3 * model.schedule.receptive_field + 3, 8, 2)
    assert check_equivalence(model, x, precompute_between=True).ok


def test_activation_float_forms() -> None:
    x = torch.randn(1, 6, 4, 3) * 4  # (batch, time, frequency, channels)
    for fn, want in zip(FNS, (torch.sigmoid, torch.tanh, nn.Hardsigmoid(), nn.Hardswish()), strict=True):
        model = OfflineModel(ModelSpec("a", 4, 3, (Activation("f", "input", fn=fn),)), seed=0)
        assert torch.allclose(model(x), want(x))
    model = OfflineModel(ModelSpec("s", 4, 3, (Softmax("s", "input"),)), seed=0)
    assert torch.allclose(model(x), torch.softmax(x, dim=-1))


def test_unknown_activation_is_refused() -> None:
    with pytest.raises(SoiError, match="activation 'gelu' is not one of sigmoid, tanh"):
        analyze(ModelSpec("a", 4, 1, (Activation("f", "input", fn="gelu"),)))


def _requantized(data: bytes, tensors: dict[int, tuple[float, int]]) -> bytes:
    model, _ = load_model(data)
    for index, (scale, zp) in tensors.items():
        model.subgraphs[0].tensors[index].quantization.scale = [scale]
        model.subgraphs[0].tensors[index].quantization.zeroPoint = [zp]
    return pack_model(model)


def test_tables_equal_litert_reference_kernels_on_all_int8_inputs(tmp_path: Path) -> None:
    """Each fn's table equals LiteRT's reference kernels (the op, or hardsigmoid's chain, cut out of the
    exported model) on all 256 int8 inputs: for the exported quantization and 40 random ones each
    (LOGISTIC and TANH keep the fixed output quantization LiteRT requires)."""
    layers, src = [], "input"
    for fn in ("sigmoid", "tanh", "hardswish", "hardsigmoid"):  # each after a 1x1 conv; hardsigmoid last, so
        # that no conv after it takes in its MUL and ADD
        layers += [Conv(f"c{fn}", src, cout=1, kt=1, kf=1, act="none"), Activation(fn, f"c{fn}", fn=fn)]
        src = fn
    spec = ModelSpec("t", 4, 1, tuple(layers))
    ex = Exported(spec, 8, tmp_path)
    matched = match_layers(ex.graph, spec)
    assert [link[0] for link in matched["hardsigmoid"]] == ["MINIMUM", "MAXIMUM", "MUL", "ADD"]
    data = ex.artifact.path.read_bytes()
    values = np.arange(-128, 128, dtype=np.int8).reshape(1, 1, 256, 1)
    ops = {op.outputs[0]: op.index for op in ex.graph.ops}
    rng = np.random.default_rng(0)

    def rand() -> tuple[float, int]:
        return float(np.float32(10 ** rng.uniform(-3, 0.5))), int(rng.integers(-128, 128))

    for fn, table in (("sigmoid", sigmoid_table), ("tanh", tanh_table), ("hardswish", hardswish_table)):
        (_, inp, _, out, _), = matched[fn]
        for trial in range(41):
            if trial:
                inp = dataclasses.replace(inp, scale=np.float32([rand()[0]]), zero_point=np.array([rand()[1]]))
                if fn == "hardswish":  # LiteRT needs input/128 below the output scale
                    s = float(np.float32(float(inp.scale[0]) * 10 ** rng.uniform(-1.5, 1.5)))
                    out = dataclasses.replace(out, scale=np.float32([s]), zero_point=np.array([rand()[1]]))
            model = _requantized(data, {t.index: (float(t.scale[0]), int(t.zero_point[0])) for t in (inp, out)})
            want = litert_ops(model, [ops[out.index]], values).ravel()
            assert list(table(inp, out)) == want.tolist(), (fn, trial, inp.scale, inp.zero_point, out.scale)
    links = matched["hardsigmoid"]
    for trial in range(41):
        q = {}
        if trial:  # MINIMUM/MAXIMUM share one quantization; MUL, ADD and their constants each their own
            shared = rand()
            q = {t.index: shared for link in links[:2] for t in (link[1], link[2], link[3])}
            q |= {t.index: rand() for link in links[2:] for t in (link[2], link[3])}
        model = _requantized(data, q)
        trial_links = [tuple(dataclasses.replace(t, scale=np.float32([q[t.index][0]]), zero_point=np.array([q[t.index][1]]))
                             if isinstance(t, type(links[0][1])) and t.index in q else t for t in link) for link in links]
        want = litert_ops(model, [ops[link[3].index] for link in links], values).ravel()
        assert list(chain_table(trial_links)) == want.tolist(), (trial, q)


@pytest.mark.skipif(not have("gcc"), reason="host gcc not installed")
@pytest.mark.parametrize("conv_act", ["none", "relu"])
def test_activations_on_host_are_bitexact_with_litert(conv_act: str, tmp_path: Path) -> None:
    spec = activation_spec(conv_act)
    frames = 3 * analyze(spec).receptive_field + 2
    ex = Exported(spec, frames, tmp_path, seed=3)
    kinds = [op.kind for op in ex.graph.ops]
    assert {"LOGISTIC", "TANH", "HARD_SWISH", "SOFTMAX", "MINIMUM", "MAXIMUM"} <= set(kinds)
    plan = lower(spec, ex.graph)
    assert [n.kind for n in plan.nodes].count("activation") == 5 and "arm_softmax_s8" in plan.kernels
    generate(plan, load_board("mps2-an386"), ex.inputs_q, tmp_path / "gen")
    out = run_on_host(tmp_path / "gen", frames, plan.output_size)
    assert np.array_equal(out, ex.reference.reshape(frames, -1))
    assert np.array_equal(run_on_host(tmp_path / "gen", frames, plan.output_size, sanitize=True), out)


@pytest.mark.skipif(not have("gcc"), reason="host gcc not installed")
def test_requantize_after_tanh_joins_its_table(tmp_path: Path) -> None:
    """Before a duplication and a transposed conv the converter requantizes TANH's fixed output (an int8
    QUANTIZE): the layer's table takes it in, equal to LiteRT's TANH + QUANTIZE on all 256 inputs (the
    exported quantization and 20 random ones), and the model runs bit-exact on the host."""
    spec = ModelSpec("rq", 8, 1, (Conv("a", "input", cout=2, kt=2, stride=2, fstride=2), Activation("t", "a", fn="tanh"),
                                  Duplicate("d", "t"), TConvFreq("u", "d", cout=1, kt=2, kf=3, fstride=2)))
    frames = 16
    ex = Exported(spec, frames, tmp_path, seed=4)
    links = match_layers(ex.graph, spec)["t"]
    assert [link[0] for link in links] == ["TANH", "QUANTIZE"]
    plan = lower(spec, ex.graph)
    node = next(n for n in plan.nodes if n.name == "t")
    ops = {op.outputs[0]: op.index for op in ex.graph.ops}
    values = np.arange(-128, 128, dtype=np.int8).reshape(1, 1, 256, 1)
    rng = np.random.default_rng(1)
    data = ex.artifact.path.read_bytes()
    for trial in range(21):
        q = {links[1][3].index: (float(np.float32(10 ** rng.uniform(-3, -1))), int(rng.integers(-128, 128)))} if trial else {}
        want = litert_ops(_requantized(data, q), [ops[link[3].index] for link in links], values).ravel()
        out = links[1][3] if not trial else dataclasses.replace(links[1][3], scale=np.float32([q[links[1][3].index][0]]),
                                                               zero_point=np.array([q[links[1][3].index][1]]))
        got = chain_table([(*links[1][:3], out, "none")], tanh_table(links[0][1], links[0][3]))
        assert list(got) == want.tolist(), (trial, q)
        if not trial:
            assert node.table.tolist() == want.tolist()
    generate(plan, load_board("mps2-an386"), ex.inputs_q, tmp_path / "gen")
    out = run_on_host(tmp_path / "gen", frames, plan.output_size, sanitize=True)
    assert np.array_equal(out, ex.reference.reshape(frames, -1))


@pytest.mark.skipif(not have("gcc"), reason="host gcc not installed")
def test_softmax_on_host_is_bitexact_with_litert(tmp_path: Path) -> None:
    """Softmax over 16 channels of wide-range values (differences below diff_min exercised), at full rate;
    concatenated with its input, its output is requantized by the converter (QUANTIZE: a table after it)."""
    spec = ModelSpec("sm", 4, 1, (Conv("a", "input", cout=16, act="none"), Softmax("sm", "a"),
                                  Concat("cat", ("sm", "a")), Conv("b", "cat", cout=2, act="none"), Softmax("out", "b")))
    frames = 12
    ex = Exported(spec, frames, tmp_path, seed=5)
    plan = lower(spec, ex.graph)
    assert [n.requantize is not None for n in plan.of_kind("softmax")] == [True, False]
    generate(plan, load_board("mps2-an386"), ex.inputs_q, tmp_path / "gen")
    out = run_on_host(tmp_path / "gen", frames, plan.output_size, sanitize=True)
    assert np.array_equal(out, ex.reference.reshape(frames, -1))


@pytest.mark.parametrize("module,fn", [(nn.Sigmoid(), "sigmoid"), (nn.Tanh(), "tanh"),
                                       (nn.Hardsigmoid(), "hardsigmoid"), (nn.Hardswish(), "hardswish")])
def test_torch_activations_import(module: nn.Module, fn: str) -> None:
    torch_model = nn.Sequential(*causal_conv(1, 4), module, *causal_conv(4, 4, stride=(2, 1)), nn.Softmax(dim=1),
                                RepeatFrames(2), *causal_conv(4, 1)).eval()
    offline = from_torch(torch_model, freq_bins=8)
    kinds = [(type(layer).__name__, getattr(layer, "fn", "")) for layer in offline.spec.layers]
    assert ("Activation", fn) in kinds and ("Softmax", "") in kinds
    x = torch.randn(20, 8, 1)
    with torch.no_grad():
        want = torch_model(x.permute(2, 0, 1)[None])[0].permute(1, 2, 0)
        assert torch.allclose(offline(x[None])[0], want, atol=1e-5)
    assert check_equivalence(offline, x).ok


def test_softmax_over_another_dim_is_refused() -> None:
    with pytest.raises(SoiError, match=r"nn.Softmax\(dim=-1\) is not over the channels; only dim=1 imports"):
        from_torch(nn.Sequential(*causal_conv(1, 3), nn.Softmax(dim=-1), *causal_conv(3, 1)), freq_bins=8)


@pytest.mark.slow
@pytest.mark.skipif(not have("arm-none-eabi-gcc", "cmake", "qemu-system-arm"), reason="needs the cross toolchain and QEMU")
@pytest.mark.parametrize("board", ["mps2-an386", "mps3-an547"])
def test_activation_model_is_bitexact_in_qemu(board: str, tmp_path: Path) -> None:
    from soi_mcu.pipeline import run

    report = run(randomize_norms(OfflineModel(activation_spec(), seed=2), 2), board, 24, tmp_path, quiet=True)
    assert report.bitexact, report.mismatched_frames
    assert {"sg", "hs", "hg", "th", "sm"} <= {row["name"] for row in report.layers}
