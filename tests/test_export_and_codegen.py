"""Export (int8 .tflite), reference (LiteRT), lowering and code generation, each on its own."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest

from soi_mcu.codegen import generate
from soi_mcu.errors import SoiError
from soi_mcu.ops.conv_node import ConvNode
from soi_mcu.ops.requant import quantize_multiplier
from soi_mcu.plan.lower import lower
from soi_mcu.quantize import reference_outputs
from soi_mcu.quantize.graph import check_int8, load_graph
from soi_mcu.target.boards import load_board

from .conftest import Exported, have
from .host_build import run_on_host
from .random_models import random_spec, seeds

HOST_SEEDS = seeds(1000, 8, 50)


def test_export_is_full_int8_with_per_channel_weights(demo_export: Exported) -> None:
    g = demo_export.graph
    check_int8(g)
    assert g.tensors[g.inputs[0]].dtype == np.int8 and g.tensors[g.outputs[0]].dtype == np.int8
    convs = [op for op in g.ops if op.kind == "CONV_2D"]
    assert len(convs) == 6
    for op in convs:
        w = g.tensors[op.inputs[1]]
        assert w.dtype == np.int8 and w.scale.size == w.shape[0]  # one scale per output channel


def test_reference_follows_the_float_model(demo_export: Exported) -> None:
    """The int8 reference is the float model's output, up to quantization error."""
    import torch

    g = demo_export.graph
    out = g.tensors[g.outputs[0]]
    ref = (demo_export.reference.astype(np.float32) - out.zero_point[0]) * out.scale[0]
    with torch.no_grad():
        fl = demo_export.offline(torch.from_numpy(demo_export.x)[None])[0].numpy()
    err = np.abs(ref - fl)
    assert err.mean() < 0.1 * (np.abs(fl).mean() + 1e-3) + 3 * out.scale[0]


def test_reference_is_deterministic(demo_export: Exported) -> None:
    again = reference_outputs(demo_export.artifact, demo_export.inputs_q)
    assert np.array_equal(again, demo_export.reference)


@pytest.mark.parametrize("real", [1e-6, 0.0031, 0.25, 0.5, 0.999999, 1.0, 3.7])
def test_quantize_multiplier_reconstructs_the_scale(real: float) -> None:
    q, shift = quantize_multiplier(real)
    assert (1 << 30) <= q < (1 << 31)
    assert abs(q * 2.0**shift / (1 << 31) - real) <= real * 2**-30


def test_lowering_plans_phases_and_states(demo_export: Exported) -> None:
    plan = lower(demo_export.spec, demo_export.graph)
    convs = {n.name: n for n in plan.nodes if isinstance(n, ConvNode)}
    assert plan.phases == 2
    assert convs["enc1_s"].push_period == 1 and convs["enc1_s"].run_period == 2
    assert convs["enc2"].push_period == 2 and convs["dec2"].window == 5
    assert convs["head"].window == 1  # a 1-frame kernel needs no state
    assert plan.macs_by_phase[1] < plan.macs_by_phase[0]
    assert plan.macs_by_phase[0] == sum(n.macs for n in convs.values())


def test_generated_sources_are_deterministic(demo_export: Exported, tmp_path: Path) -> None:
    board = load_board("mps2-an386")
    plan = lower(demo_export.spec, demo_export.graph)
    a = generate(plan, board, demo_export.inputs_q, tmp_path / "a")
    b = generate(lower(demo_export.spec, load_graph(demo_export.artifact.path)), board, demo_export.inputs_q,
                 tmp_path / "b")
    assert a.digests == b.digests
    for rel in a.digests:
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes()


@pytest.mark.skipif(not have("gcc"), reason="host gcc not installed")
@pytest.mark.parametrize("core", [None, "cortex-m4"])
def test_generated_c_on_host_is_bitexact(core: str | None, demo_export: Exported, tmp_path: Path) -> None:
    plan = lower(demo_export.spec, demo_export.graph, core)
    assert any(getattr(n, "s16w", False) for n in plan.nodes) == (core is not None)
    generate(plan, load_board("mps2-an386"), demo_export.inputs_q, tmp_path)
    frames = demo_export.inputs_q.shape[0]
    out = run_on_host(tmp_path, frames, plan.output_size)
    ref = demo_export.reference.reshape(frames, -1)
    assert np.array_equal(out, ref), f"frames differ: {np.nonzero((out != ref).any(axis=1))[0].tolist()}"


@pytest.mark.skipif(not have("gcc"), reason="host gcc not installed")
@pytest.mark.parametrize("seed", HOST_SEEDS)
def test_random_models_on_host_are_bitexact(seed: int, tmp_path: Path) -> None:
    spec = random_spec(random.Random(seed))
    from soi_mcu.model import analyze

    frames = 3 * analyze(spec).receptive_field + 2
    ex = Exported(spec, frames, tmp_path, seed=seed)
    # odd seeds plan for a Cortex-M4: convs the DSP kernel takes run as soi_conv_s16w_s8 (its C path here)
    plan = lower(spec, ex.graph, "cortex-m4" if seed % 2 else None)
    generate(plan, load_board("mps2-an386"), ex.inputs_q, tmp_path / "gen")
    out = run_on_host(tmp_path / "gen", frames, plan.output_size)
    assert np.array_equal(out, ex.reference.reshape(frames, -1)), spec
    # and the same code under AddressSanitizer + UndefinedBehaviorSanitizer: no report, same output
    sanitized = run_on_host(tmp_path / "gen", frames, plan.output_size, sanitize=True)
    assert np.array_equal(sanitized, out)


def test_corrupt_tflite_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.tflite"
    bad.write_bytes(b"not a flatbuffer at all")
    with pytest.raises(SoiError, match="not a readable .tflite"):
        load_graph(bad)


@pytest.mark.skipif(not have("gcc", "cmake"), reason="needs gcc and cmake")
def test_generated_library_builds_on_its_own(tmp_path: Path) -> None:
    """`soi-mcu generate`: a folder that builds with CMake alone, byte-identical when regenerated."""
    import subprocess

    from soi_mcu.cli import main

    assert main(["generate", "demo", "--out", str(tmp_path / "lib")]) == 0
    first = {p.relative_to(tmp_path / "lib"): p.read_bytes() for p in (tmp_path / "lib").rglob("*") if p.is_file()}
    assert main(["generate", "demo", "--out", str(tmp_path / "lib")]) == 0
    again = {p.relative_to(tmp_path / "lib"): p.read_bytes() for p in (tmp_path / "lib").rglob("*") if p.is_file()}
    first.pop(Path("model.tflite"))  # the converter's flatbuffer is not byte-stable; what it decides is
    again.pop(Path("model.tflite"))  # in the C files, which must be
    assert first == again
    listed = (tmp_path / "lib" / "sources.txt").read_text().split()
    assert "model/soi_model.c" in listed and all((tmp_path / "lib" / f).is_file() for f in listed)
    build = tmp_path / "build"
    subprocess.run(["cmake", "-S", str(tmp_path / "lib"), "-B", str(build), "-DCMAKE_C_FLAGS=-Wall -Wextra -Werror"],
                   check=True, capture_output=True)
    subprocess.run(["cmake", "--build", str(build)], check=True, capture_output=True)
    assert (build / "libsoi_model.a").is_file()


def test_export_cache_reuses_and_invalidates(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Conversions are cached by a content hash of spec, weights, calibration and converter."""
    from soi_mcu.model import OfflineModel, demo_spec
    from soi_mcu.quantize import export as quantize

    monkeypatch.setenv("SOI_MCU_CACHE", str(tmp_path / "cache"))
    calls = []
    real = quantize._convert
    monkeypatch.setattr(quantize, "_convert", lambda *a: calls.append(1) or real(*a))
    calib = np.random.default_rng(0).standard_normal((2, 8, 16, 1)).astype(np.float32)
    a = quantize.export_tflite(OfflineModel(demo_spec(), seed=0), calib, 8, tmp_path / "a.tflite")
    b = quantize.export_tflite(OfflineModel(demo_spec(), seed=0), calib, 8, tmp_path / "b.tflite")
    assert len(calls) == 1 and a.sha256 == b.sha256  # the second export is a cache hit
    quantize.export_tflite(OfflineModel(demo_spec(), seed=1), calib, 8, tmp_path / "c.tflite")
    assert len(calls) == 2  # other weights: converted again


@pytest.mark.skipif(not have("gcc"), reason="host gcc not installed")
@pytest.mark.parametrize("variant", ["stmc", "scc:1", "scc:3"])
def test_classifier_on_host_is_bitexact(variant: str, tmp_path: Path) -> None:
    """Depthwise-separable residual blocks, ReLU6, frequency pooling, logits; STMC and SOI."""
    from soi_mcu.model import analyze
    from soi_mcu.model.classifier import classifier_spec
    from soi_mcu.model.streaming import check_equivalence

    spec = classifier_spec(variant)
    frames = 3 * analyze(spec).receptive_field + 2
    ex = Exported(spec, frames, tmp_path)
    import torch

    assert check_equivalence(ex.offline, torch.from_numpy(ex.x)).ok
    plan = lower(spec, ex.graph)
    logits = next(n for n in plan.nodes if n.name == "logits")
    assert isinstance(logits, ConvNode) and logits.kt == logits.kf == logits.in_width == 1  # 1x1 over the pooled bin
    generate(plan, load_board("mps2-an386"), ex.inputs_q, tmp_path / "gen")
    code = (tmp_path / "gen" / "model" / "soi_model.c").read_text()
    # one kernel call for all its channels: arm_fully_connected_s8 where they share one quantization (it is
    # per tensor), else the per-channel 1x1 conv
    assert logits.fully_connected == (len(logits.fc_groups) == 1)
    assert code.count("arm_fully_connected_s8(") == (1 if logits.fully_connected else 0)
    assert code.count("status = arm_convolve_wrapper_s8(&ctx, &logits_params") == (0 if logits.fully_connected else 1)
    out = run_on_host(tmp_path / "gen", frames, plan.output_size)
    assert np.array_equal(out, ex.reference.reshape(frames, -1))


def test_fc_groups_follow_the_channels_requantization() -> None:
    """arm_fully_connected_s8 takes one multiplier: channels that share one go in one call."""
    base = dict(name="fc", source="x", target="y", cin=2, cout=4, kt=1, kf=1, dilation=1, window=1, in_width=1,
                out_width=1, fstride=1, depthwise=False, push_period=1, run_period=1, input_offset=0, output_offset=0,
                act_min=-128, act_max=127, state_zero_point=0, weights=np.zeros((4, 1, 1, 2), np.int8),
                bias=np.zeros(4, np.int32), macs=8, fully_connected=True)
    node = ConvNode(**base, multipliers=(1 << 30, 1 << 30, 3 << 29, 1 << 30), shifts=(-3, -3, -3, -3))
    assert node.fc_groups == ((0, 2, 1 << 30, -3), (2, 1, 3 << 29, -3), (3, 1, 1 << 30, -3))
    same = ConvNode(**base, multipliers=(1 << 30,) * 4, shifts=(-2,) * 4)
    assert same.fc_groups == ((0, 4, 1 << 30, -2),)


def test_memory_plan_keeps_held_frames_and_shares_the_rest(demo_export: Exported) -> None:
    plan = lower(demo_export.spec, demo_export.graph)
    mem = plan.memory
    assert "soi_buf_dec2" in mem.persistent  # held by the duplication on odd steps
    assert {"soi_buf_enc0", "soi_buf_enc2", "soi_buf_skip", "soi_buf_head"} <= set(mem.offsets)
    transient = {n: plan.buffers[n] for n in mem.offsets}
    assert mem.arena_bytes < sum(transient.values())  # some reuse happened
    # enc0 is read by the skip concat, so nothing written in between may overlap it
    enc0 = range(mem.offsets["soi_buf_enc0"], mem.offsets["soi_buf_enc0"] + plan.buffers["soi_buf_enc0"])
    for name in ("soi_buf_enc1_s", "soi_buf_enc2", "soi_buf_skip"):
        other = range(mem.offsets[name], mem.offsets[name] + plan.buffers[name])
        assert not set(enc0) & set(other), name


@pytest.mark.skipif(not have("gcc"), reason="host gcc not installed")
@pytest.mark.parametrize("kt, kf, dilation, fstride, act", [(3, 3, 1, 2, "relu"), (2, 2, 2, 2, "none"),
                                                           (2, 5, 1, 3, "relu6"), (1, 3, 1, 1, "relu")])
def test_tstmc_on_host_is_bitexact(kt: int, kf: int, dilation: int, fstride: int, act: str, tmp_path: Path) -> None:
    """tSTMC: TRANSPOSE_CONV + STRIDED_SLICE in the .tflite, a conv over the zero-inserted state in C."""
    from soi_mcu.model import Conv, ModelSpec, TConvFreq, analyze

    spec = ModelSpec("tstmc", 6, 2, (Conv("a", "input", cout=3, fstride=2),
                                     TConvFreq("up", "a", cout=4, kt=kt, kf=kf, dilation=dilation, fstride=fstride,
                                               act=act, norm=True),
                                     Conv("out", "up", cout=2, kt=1, kf=1, act="none")))
    frames = 3 * analyze(spec).receptive_field + 2
    ex = Exported(spec, frames, tmp_path, seed=kf)
    kinds = [op.kind for op in ex.graph.ops]
    assert "TRANSPOSE_CONV" in kinds and "RELU" not in kinds  # the activation is fused
    plan = lower(spec, ex.graph)
    node = next(n for n in plan.nodes if n.name == "up")
    assert isinstance(node, ConvNode) and node.insert_stride == fstride and node.pad_w == 0
    assert node.in_width == fstride * 3 + kf - 1 and node.out_width == fstride * 3
    generate(plan, load_board("mps2-an386"), ex.inputs_q, tmp_path / "gen")
    out = run_on_host(tmp_path / "gen", frames, plan.output_size, sanitize=True)
    assert np.array_equal(out, ex.reference.reshape(frames, -1))


def test_elu_table_equals_litert_on_all_int8_inputs(tmp_path: Path) -> None:
    """ELU: the converter's float island is rewritten to one int8 ELU op; the 256-entry table the
    lowering puts in C equals LiteRT's int8 ELU kernel on every input value, for the exported
    quantization and for 60 random input/output quantizations."""
    import dataclasses

    from soi_mcu.model import Conv, ModelSpec
    from soi_mcu.ops.tables import elu_table
    from soi_mcu.quantize import litert_elu
    from soi_mcu.quantize.graph import match_layers
    from soi_mcu.quantize.rewrite import load_model as _load_model
    from soi_mcu.quantize.rewrite import pack_model as _pack

    spec = ModelSpec("elu", 4, 1, (Conv("a", "input", cout=2, act="elu"), Conv("b", "a", cout=2, act="elu")))
    ex = Exported(spec, 8, tmp_path)
    assert [op.kind for op in ex.graph.ops] == ["PAD", "CONV_2D", "ELU", "PAD", "CONV_2D", "ELU"]
    check_int8(ex.graph)
    m = match_layers(ex.graph, spec)["a"]
    assert m.act == "none" and m.elu is not None
    values = np.arange(-128, 128, dtype=np.int8).reshape(1, 1, 256, 1)
    data = ex.artifact.path.read_bytes()
    rng = np.random.default_rng(0)
    for trial in range(61):
        inp, out = m.output, m.elu
        if trial:
            inp, out = (dataclasses.replace(t, scale=np.float32([10 ** rng.uniform(-3, 0.5)]),
                                            zero_point=np.array([rng.integers(-128, 128)])) for t in (inp, out))
        model, _ = _load_model(data)
        for t in (inp, out):
            model.subgraphs[0].tensors[t.index].quantization.scale = [float(t.scale[0])]
            model.subgraphs[0].tensors[t.index].quantization.zeroPoint = [int(t.zero_point[0])]
        want = litert_elu(_pack(model), inp.index, values).ravel()
        assert list(elu_table(inp, out)) == want.tolist(), (trial, inp.scale, inp.zero_point, out.scale, out.zero_point)


def test_graph_without_elu_is_not_rewritten(demo_export: Exported) -> None:
    from soi_mcu.quantize import int8_elu

    data = demo_export.artifact.path.read_bytes()
    assert int8_elu(data) is data


@pytest.mark.skipif(not have("gcc"), reason="host gcc not installed")
def test_unet_with_elu_and_tstmc_on_host_is_bitexact(tmp_path: Path) -> None:
    """The MCU U-Net with ELU activations and tSTMC decoders (S-CC at 2): ELU tables next to skip
    concatenations, transposed convs and a duplication, bit-exact to LiteRT."""
    import dataclasses

    from soi_mcu.model import TConvFreq, analyze
    from soi_mcu.model.config import load_config
    from soi_mcu.model.unet import unet_spec, variant_config

    base = load_config(Path(__file__).resolve().parent.parent / "configs" / "unet-mcu-s.toml")
    spec = unet_spec(dataclasses.replace(variant_config(base, "scc:2"), activation="elu", upsampling="transposed"))
    assert any(isinstance(layer, TConvFreq) for layer in spec.layers)
    frames = 3 * analyze(spec).receptive_field
    ex = Exported(spec, frames, tmp_path)
    plan = lower(spec, ex.graph)
    assert sum(1 for n in plan.nodes if getattr(n, "lut", ())) == 14  # every encoder and decoder layer
    generate(plan, load_board("mps2-an386"), ex.inputs_q, tmp_path / "gen")
    out = run_on_host(tmp_path / "gen", frames, plan.output_size)
    assert np.array_equal(out, ex.reference.reshape(frames, -1))
