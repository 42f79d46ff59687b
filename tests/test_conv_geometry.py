"""Conv's frequency geometry and groups: dilation in frequency, 'valid' / asymmetric / even-kernel
padding, any groups. Offline == PyTorch's nn.Conv2d, streaming == offline, the int8 firmware bit-exact
with LiteRT on the host and in QEMU, clear refusals."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from soi_mcu.codegen import generate
from soi_mcu.errors import SoiError
from soi_mcu.model import Conv, Duplicate, ModelSpec, OfflineModel, analyze
from soi_mcu.model.streaming import check_equivalence
from soi_mcu.plan.lower import lower
from soi_mcu.target.boards import load_board

from .conftest import Exported, have, randomize_norms
from .host_build import run_on_host

# (Conv fields, input channels): each is nn.Conv2d(cin, cout, (kt, kf), stride, dilation, groups) after
# nn.ZeroPad2d((left, right, (kt-1)*dilation, 0)).
SINGLE = [
    ({"kf": 3, "fdilation": 2}, 2),
    ({"kf": 3, "fdilation": 3, "fpad": "valid"}, 2),
    ({"kf": 3, "fpad": (0, 2)}, 3),
    ({"kf": 2, "fpad": (0, 1)}, 2),
    ({"kf": 4, "fpad": (2, 1), "dilation": 2, "kt": 2}, 2),
    ({"kf": 5, "fpad": (1, 0), "fdilation": 2, "fstride": 2}, 2),
    ({"cout": 6, "groups": 2}, 4),
    ({"cout": 8, "groups": 4, "kf": 2, "fpad": (1, 0)}, 4),
    ({"cout": 4, "groups": 4, "kt": 1, "kf": 1}, 4),
    ({"cout": 6, "depthwise": True, "fdilation": 2, "fpad": (1, 3)}, 3),
    ({"cout": 4, "stride": 2, "fstride": 2, "fdilation": 2}, 2),
]


def torch_reference(layer: Conv, cin: int) -> nn.Module:
    left, right = layer.freq_padding
    return nn.Sequential(
        nn.ZeroPad2d((left, right, (layer.kt - 1) * layer.dilation, 0)),
        nn.Conv2d(cin, layer.cout, (layer.kt, layer.kf), stride=(layer.stride, layer.fstride),
                  dilation=(layer.dilation, layer.fdilation), groups=cin if layer.depthwise else layer.groups),
    )


@pytest.mark.parametrize("fields, cin", SINGLE)
def test_offline_conv_is_pytorchs_conv2d(fields: dict, cin: int) -> None:
    layer = Conv("c", "input", **{"cout": 4, "act": "none", **fields})
    spec = ModelSpec("one", 12, cin, (layer,) if layer.stride == 1 else (layer, Duplicate("d", "c")))
    model = OfflineModel(spec, seed=1)
    ref = torch_reference(layer, cin)
    ref[1].load_state_dict(model.convs["c"].state_dict())
    x = torch.randn(1, cin, 10, 12)  # (batch, channels, time, frequency)
    with torch.no_grad():
        want = ref(x)
        got = layer.offline(model, {"input": x})
    assert got.shape == want.shape and torch.allclose(got, want, atol=1e-6)
    assert analyze(spec).width["c"] == want.shape[3]


def geometry_spec() -> ModelSpec:
    """Every new case in one model: frequency dilation ('same', asymmetric, with a frequency stride, which
    exports the dilation as zero taps), even kernels and asymmetric padding, groups 2, 4 and = channels
    (also 1x1), a depthwise conv dilated in frequency, time dilation with a frequency stride, and 'valid'."""
    return ModelSpec("convx", 16, 2, (
        Conv("fd", "input", cout=8, fdilation=2, act="relu"),
        Conv("g2", "fd", cout=8, groups=2, act="elu", norm=True),
        Conv("g4", "g2", cout=8, groups=4, kf=2, fpad=(0, 1), dilation=2, act="relu6"),
        Conv("row", "g4", cout=8, kf=3, fpad=(2, 0), act="none"),  # groups 1, kf 3: the DSP row kernel's case
        Conv("dwd", "row", cout=8, depthwise=True, fdilation=2, fpad=(1, 3)),
        Conv("gc", "dwd", cout=8, groups=8, kt=1, kf=1, act="none"),
        Conv("down", "gc", cout=8, stride=2, fstride=2, fdilation=2),
        Conv("td", "down", cout=4, dilation=2, fstride=2, groups=2, kf=4, fpad=(2, 1)),
        Duplicate("up", "td"),
        Conv("valid", "up", cout=3, kf=3, fpad="valid", act="none"),
    ))


def test_geometry_model_streams_equal_offline() -> None:
    spec = geometry_spec()
    sched = analyze(spec)
    assert [sched.width[n] for n in ("fd", "g4", "row", "dwd", "down", "td", "valid")] == [16, 16, 16, 16, 8, 4, 2]
    model = randomize_norms(OfflineModel(spec, seed=2), 2)
    result = check_equivalence(model, torch.randn(3 * sched.receptive_field + 3, 16, 2), precompute_between=True)
    assert result.ok, result


def test_macs_count_the_grouped_filter() -> None:
    sched = analyze(geometry_spec())
    layers = {layer.name: layer for layer in geometry_spec().layers}
    assert layers["g2"].macs(sched) == 16 * 8 * 3 * 3 * 4
    assert layers["gc"].macs(sched) == 16 * 8 * 1


@pytest.mark.parametrize(
    "layer, message",
    [
        (Conv("w", "input", cout=2, kf=5, fpad="valid"), r"^layer 'w': a frequency kernel spanning 5 bins with padding "
                                                         r"\(0, 0\) and stride 1 leaves no output bins from 4 input bins$"),
        (Conv("w", "input", cout=2, kf=3, fdilation=3, fpad=(1, 0)), "spanning 7 bins.*leaves no output bins"),
        (Conv("e", "input", cout=2, kf=4), "'same' frequency padding needs an odd kf, got 4"),
        (Conv("n", "input", cout=2, fpad=(-1, 1)), "must be 'same', 'valid' or two bin counts"),
        (Conv("g", "input", cout=3, groups=2), r"groups=2 must divide its input channels \(4\) and cout \(3\)"),
        (Conv("g", "input", cout=4, groups=3), r"groups=3 must divide"),
        (Conv("d", "input", cout=4, groups=2, depthwise=True), "1 with depthwise=True"),
        (Conv("f", "input", cout=4, fdilation=0), "dilations and strides must be >= 1"),
    ],
)
def test_bad_geometry_is_refused_naming_the_layer(layer: Conv, message: str) -> None:
    with pytest.raises(SoiError, match=message):
        analyze(ModelSpec("bad", 4, 4, (layer,)))


def test_named_paddings() -> None:
    assert Conv("a", "input", cout=1, fpad="valid").fpad == (0, 0)
    assert Conv("a", "input", cout=1, fpad="same").fpad is None
    assert Conv("a", "input", cout=1, fpad=[1, 2]).fpad == (1, 2)  # a list from a config file
    assert Conv("a", "input", cout=1, kf=3, fdilation=3).freq_padding == (3, 3)
    with pytest.raises(SoiError, match="fpad 'full'"):
        Conv("a", "input", cout=1, fpad="full")


@pytest.mark.skipif(not have("gcc"), reason="host gcc not installed")
def test_geometry_model_on_host_is_bitexact_with_litert(tmp_path: Path) -> None:
    spec = geometry_spec()
    frames = 3 * analyze(spec).receptive_field + 2
    ex = Exported(spec, frames, tmp_path, seed=3)
    convs = [op for op in ex.graph.ops if op.kind in ("CONV_2D", "DEPTHWISE_CONV_2D")]
    assert len(convs) == len(spec.layers) - 1  # each conv is one TFLite op (grouped: CONV_2D, filter cin/groups)
    for core in (None, "cortex-m4"):
        plan = lower(spec, ex.graph, core=core)
        nodes = {n.name: n for n in plan.nodes if n.kind == "conv"}
        assert nodes["g2"].filter_dims == (8, 3, 3, 4) and nodes["gc"].filter_dims == (8, 1, 1, 1)
        assert nodes["down"].weights.shape == (8, 3, 3, 8)  # the zero taps of the export taken out
        assert nodes["td"].weights.shape == (4, 3, 4, 4) and nodes["td"].dilation == 2
        # soi_conv_s16w_s8 takes none of the new cases: they stay on the CMSIS-NN API
        assert not any(n.s16w for n in nodes.values())
        assert nodes["row"].kernel_fn == "arm_convolve_wrapper_s8" and nodes["dwd"].kernel_fn == "arm_depthwise_conv_wrapper_s8"
        generate(plan, load_board("mps2-an386"), ex.inputs_q, tmp_path / f"gen-{core}")
        out = run_on_host(tmp_path / f"gen-{core}", frames, plan.output_size)
        assert np.array_equal(out, ex.reference.reshape(frames, -1))
    assert np.array_equal(run_on_host(tmp_path / f"gen-{core}", frames, plan.output_size, sanitize=True), out)
    text = (tmp_path / "gen-None" / "model" / "soi_model.c").read_text()
    assert "frequency dilation 2, frequency padding (1, 3)" in text and ", 2 groups" in text
    assert ".dilation = {.w = 2, .h = 1}" in text


@pytest.mark.skipif(not have("gcc"), reason="host gcc not installed")
def test_strided_dilated_depthwise_on_host_is_bitexact(tmp_path: Path) -> None:
    """A depthwise conv strided and dilated in frequency (exported with zero taps: Keras refuses both),
    then an even kernel, 'valid' and dilated in time."""
    spec = ModelSpec("dws", 12, 3, (
        Conv("dw", "input", cout=6, depthwise=True, fstride=2, fdilation=2, fpad=(2, 1), act="relu6"),
        Conv("o", "dw", cout=2, kf=2, fpad="valid", dilation=3, act="none"),
    ))
    assert analyze(spec).width["o"] == 5
    frames = 3 * analyze(spec).receptive_field + 2
    ex = Exported(spec, frames, tmp_path, seed=5)
    assert ex.graph.tensors[next(op for op in ex.graph.ops if op.kind == "DEPTHWISE_CONV_2D").inputs[1]].shape == (1, 3, 5, 6)
    plan = lower(spec, ex.graph, core="cortex-m4")
    assert next(n for n in plan.nodes if n.name == "dw").weights.shape == (1, 3, 3, 6)
    generate(plan, load_board("mps2-an386"), ex.inputs_q, tmp_path / "gen")
    out = run_on_host(tmp_path / "gen", frames, plan.output_size, sanitize=True)
    assert np.array_equal(out, ex.reference.reshape(frames, -1))


def test_same_padding_spelled_out_keeps_the_fast_kernel(tmp_path: Path) -> None:
    """fpad=(1, 1) on a 3-wide kernel is 'same': the DSP cores keep soi_conv_s16w_s8 for it."""
    spec = ModelSpec("same", 8, 4, (Conv("a", "input", cout=4, fpad=(1, 1)), Conv("b", "a", cout=4, fpad="same")))
    ex = Exported(spec, 8, tmp_path)
    plan = lower(spec, ex.graph, core="cortex-m4")
    assert [n.s16w for n in plan.nodes if n.kind == "conv"] == [True, True]


@pytest.mark.slow
@pytest.mark.skipif(not have("arm-none-eabi-gcc", "cmake", "qemu-system-arm"), reason="needs the cross toolchain and QEMU")
@pytest.mark.parametrize("board", ["mps2-an386", "mps3-an547"])
def test_geometry_model_is_bitexact_in_qemu(board: str, tmp_path: Path) -> None:
    from soi_mcu.pipeline import run

    spec = geometry_spec()
    report = run(randomize_norms(OfflineModel(spec, seed=4), 4), board, 3 * analyze(spec).receptive_field + 2,
                 tmp_path, quiet=True)
    assert report.bitexact, report.mismatched_frames
