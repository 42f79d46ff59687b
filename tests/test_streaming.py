"""Streaming (frame by frame, explicit partial states) == offline (whole sequence), in float."""

from __future__ import annotations

import random

import pytest
import torch

from soi_mcu.errors import SoiError
from soi_mcu.model import (
    Concat,
    Conv,
    Duplicate,
    ModelSpec,
    OfflineModel,
    Shift,
    TConvFreq,
    analyze,
    demo_spec,
)
from soi_mcu.model.streaming import StreamingModel, check_equivalence

from .conftest import randomize_norms
from .random_models import all_features, features, random_spec, seeds

STREAMING_SEEDS = seeds(0, 20, 200)
MAC_SEEDS = seeds(0, 10, 60)


def test_demo_streaming_equals_offline() -> None:
    model = OfflineModel(demo_spec(), seed=3)
    frames = 3 * model.schedule.receptive_field + 5
    result = check_equivalence(model, torch.randn(frames, 16, 1))
    assert result.ok, result


def test_random_specs_cover_the_registry() -> None:
    """Every registered layer kind, activation and depthwise conv is drawn by the default seeds of each
    random-model test (SOI_MCU_ALL_SEEDS=1 runs the full ranges)."""
    from .test_export_and_codegen import HOST_SEEDS
    from .test_firmware import FIRMWARE_SEEDS

    for name, chosen in [("streaming", STREAMING_SEEDS), ("MACs", MAC_SEEDS), ("host", HOST_SEEDS),
                         ("firmware", FIRMWARE_SEEDS)]:
        drawn = frozenset().union(*(features(random_spec(random.Random(s))) for s in chosen))
        assert drawn >= all_features(), f"{name} seeds never draw {sorted(all_features() - drawn)}"


@pytest.mark.parametrize("seed", STREAMING_SEEDS)
def test_random_models_stream_equal_offline(seed: int) -> None:
    rng = random.Random(seed)
    spec = random_spec(rng)
    model = randomize_norms(OfflineModel(spec, seed=seed), seed)
    frames = 3 * model.schedule.receptive_field + rng.randint(0, 7)  # odd lengths included
    x = torch.randn(frames, spec.freq_bins, spec.in_channels)
    result = check_equivalence(model, x, precompute_between=rng.random() < 0.5)
    assert result.max_abs_diff <= 1e-5, (spec, result)


@pytest.mark.parametrize("kf, fstride, padding, output_padding", [(3, 2, 1, 1), (1, 2, 0, 1), (2, 2, 0, 0), (4, 2, 1, 0),
                                                                   (5, 2, 2, 1), (3, 3, 0, 0), (3, 1, 1, 0)])
def test_tstmc_is_pytorchs_transposed_conv_cut_causally(kf: int, fstride: int, padding: int, output_padding: int) -> None:
    """tSTMC = ConvTranspose2d with the padding/output_padding that multiply the bins by the stride
    (kf 3, stride 2: padding 1, output_padding 1), the first T frames in time; its stepper agrees."""
    layer = TConvFreq("t", "input", cout=3, kt=2, kf=kf, dilation=2, fstride=fstride, act="none")
    assert (layer.pad, layer.output_padding) == (padding, output_padding)
    spec = ModelSpec("tstmc", 4, 2, (layer,))
    model = OfflineModel(spec, seed=1)
    x = torch.randn(11, 4, 2)
    ref = torch.nn.ConvTranspose2d(2, 3, (2, kf), stride=(1, fstride), dilation=(2, 1), padding=(0, padding),
                                   output_padding=(0, output_padding))
    ref.load_state_dict(model.convs["t"].state_dict())
    with torch.no_grad():
        want = ref(x.permute(2, 0, 1)[None])[0, :, :11].permute(1, 2, 0)
        assert torch.allclose(model(x[None])[0], want, atol=1e-6)
    assert analyze(spec).width["t"] == 4 * fstride and analyze(spec).receptive_field == 3
    assert check_equivalence(model, x).ok


def test_tstmc_with_batch_norm_streams_equal_offline() -> None:
    spec = ModelSpec("tstmc_bn", 4, 1, (Conv("a", "input", cout=3, fstride=2),
                                        TConvFreq("b", "a", cout=2, kt=3, kf=3, norm=True)))
    model = randomize_norms(OfflineModel(spec, seed=2), 2)
    assert check_equivalence(model, torch.randn(15, 4, 1)).ok


def test_batch_norm_is_trained_in_batch_mode_and_folded_for_streaming() -> None:
    spec = ModelSpec("bn", 8, 1, (Conv("a", "input", cout=3, norm=True), Conv("b", "a", cout=2, norm=True, act="none")))
    model = OfflineModel(spec, seed=0).train()
    x = torch.randn(20, 8, 1) * 3 + 1
    model(x[None])  # one training-mode pass moves the running statistics
    assert float(model.norms["a"].running_mean.abs().sum()) > 0
    assert model.training
    result = check_equivalence(model, x)
    assert result.ok, result
    assert model.training  # the check leaves the mode as it found it
    weight, _ = model.conv_params("a")
    assert not torch.equal(weight, model.convs["a"].weight)


def test_fully_predictive_region_is_precomputed() -> None:
    """SS-CC: strided conv, duplication, then a shift: the compressed region needs only the past."""
    spec = ModelSpec("fp", 4, 1, (
        Conv("a", "input", cout=3),
        Conv("down", "a", cout=4, stride=2),
        Conv("mid", "down", cout=4),
        Duplicate("up", "mid"),
        Shift("sc", "up"),
        Concat("skip", ("sc", "a")),
        Conv("out", "skip", cout=1, act="none"),
    ))
    sched = analyze(spec)
    assert sched.needed["mid"] == (False, False) and sched.needed["down"] == (False, False)
    assert sched.needed["a"] == (True, True) and sched.needed["out"] == (True, True)
    model = OfflineModel(spec)
    stepper = StreamingModel(model)
    x = torch.randn(3 * sched.receptive_field, 4, 1)
    out = stepper.run(x, precompute_between=True)
    assert stepper.macs_precomputed > 0
    assert float((out - model(x[None])[0]).abs().max()) <= 1e-5


def test_reset_restarts_the_stream() -> None:
    model = OfflineModel(demo_spec(), seed=1)
    stepper = StreamingModel(model)
    x = torch.randn(20, 16, 1)
    first = stepper.run(x)
    stepper.run(torch.randn(7, 16, 1))
    stepper.reset()
    assert torch.equal(stepper.run(x), first)


def test_odd_steps_skip_the_compressed_region() -> None:
    model = OfflineModel(demo_spec())
    stepper = StreamingModel(model)
    counts = []
    for frame in torch.randn(6, 16, 1):
        before = stepper.macs_done
        stepper.step(frame)
        counts.append(stepper.macs_done - before)
    assert counts[0::2] == [counts[0]] * 3 and counts[1::2] == [counts[1]] * 3
    assert counts[1] < counts[0]


def test_wrong_frame_shape_is_a_clear_error() -> None:
    stepper = StreamingModel(OfflineModel(demo_spec()))
    with pytest.raises(SoiError, match="expected \\(16, 1\\)"):
        stepper.step(torch.zeros(8, 1))


@pytest.mark.parametrize(
    "layers, message",
    [
        ((Conv("a", "nope", cout=2),), "input 'nope' is not defined"),
        ((Conv("a", "input", cout=2, kf=2),), "odd kf"),
        ((Conv("a", "input", cout=2), Duplicate("d", "a")), "divisible"),
        ((Conv("a", "input", cout=2, stride=2),), "its output 'a' has one frame every 2 steps: 'a' strides time"),
        ((Conv("a", "input", cout=2, act="gelu"),), "activation 'gelu'"),
        ((TConvFreq("a", "input", cout=2, kf=2, fstride=1),), "even kf"),
        ((Conv("a", "input", cout=2), Concat("c", ("a",))), "at least two inputs"),
    ],
)
def test_invalid_specs_are_rejected(layers: tuple, message: str) -> None:
    with pytest.raises(SoiError, match=message):
        analyze(ModelSpec("bad", 4, 1, layers))


@pytest.mark.parametrize("seed", MAC_SEEDS)
def test_analytic_macs_equal_the_steppers_count_on_random_models(seed: int) -> None:
    from soi_mcu.model import macs_by_phase

    spec = random_spec(random.Random(seed))
    total, _ = macs_by_phase(spec)
    stepper = StreamingModel(OfflineModel(spec))
    steps = 2 * len(total)
    stepper.run(torch.randn(steps, spec.freq_bins, spec.in_channels), precompute_between=True)
    assert [stepper.macs_by_step.get(t, 0) for t in range(steps)] == list(total) * 2
