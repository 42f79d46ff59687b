"""Streaming (frame by frame, explicit partial states) == offline (whole sequence), in float."""

from __future__ import annotations

import dataclasses
import random

import pytest
import torch

from soi_mcu.errors import SoiError
from soi_mcu.model import (
    Add,
    Concat,
    Conv,
    Duplicate,
    FreqPool,
    ModelSpec,
    OfflineModel,
    Shift,
    TConv,
    TConvFreq,
    Upsample,
    analyze,
    demo_spec,
)
from soi_mcu.model.streaming import StreamingModel, check_equivalence

from .conftest import randomize_norms


def random_spec(rng: random.Random, max_depth: int = 2) -> ModelSpec:
    """A random causal CNN: convs (ReLU, ELU or linear), S-CC pairs (nested up to max_depth), SC shifts,
    SS-CC, concat/add skips, upsampling by repetition or tSTMC, a pooled fully connected head."""
    layers: list = []
    count = iter(range(1000))
    in_channels = rng.randint(1, 3)

    def conv(src: str, **kw) -> str:
        name = f"c{next(count)}"
        kw.setdefault("kt", rng.randint(1, 3))
        kw.setdefault("kf", rng.choice([1, 3]))
        kw.setdefault("norm", rng.random() < 0.3)
        layers.append(Conv(name, src, cout=rng.randint(1, 5), act=rng.choice(["relu", "relu", "none", "elu"]), **kw))
        return name

    def maybe_shift(src: str) -> str:
        if rng.random() < 0.25:
            name = f"sh{next(count)}"
            layers.append(Shift(name, src, frames=rng.randint(1, 2)))
            return name
        return src

    def block(src: str, depth: int) -> str:
        x = maybe_shift(conv(src, dilation=rng.randint(1, 2)))
        if depth < max_depth and rng.random() < 0.7:
            stride = rng.choice([2, 2, 3])
            fstride = rng.choice([1, 2])  # U-Net style: halve the frequency bins, upsample on the way back
            inner = conv(x, kt=rng.randint(1, 3), stride=stride, fstride=fstride, kf=3)
            inner = block(inner, depth + 1)
            if fstride > 1 and rng.random() < 0.5:  # tSTMC: a transposed conv in frequency restores the bins
                name = f"tf{next(count)}"
                layers.append(TConvFreq(name, inner, cout=rng.randint(1, 5), kt=rng.randint(1, 3), kf=rng.choice([1, 2, 3]),
                                        dilation=rng.randint(1, 2), fstride=fstride, act=rng.choice(["relu", "none", "elu"]),
                                        norm=rng.random() < 0.3))
                inner, fstride = name, 1
            up = f"up{next(count)}"
            if rng.random() < 0.3:  # extrapolate with a transposed conv instead of duplicating
                layers.append(TConv(up, inner, cout=rng.randint(1, 5), factor=stride))
            else:
                layers.append(Duplicate(up, inner, factor=stride))
            if fstride > 1:
                layers.append(Upsample(f"fu{next(count)}", up, factor=fstride))
                up = layers[-1].name
            up = maybe_shift(up)  # SS-CC when a shift follows the duplication
            if rng.random() < 0.8:
                skip = f"skip{next(count)}"
                if rng.random() < 0.3:  # skip by addition: match channels with a 1x1 conv first
                    up = conv(up, kt=1, kf=1)
                    layers[-1] = dataclasses.replace(layers[-1], cout=channels_of(layers, x, in_channels))
                    layers.append(Add(skip, (up, x)))
                else:
                    layers.append(Concat(skip, (up, x)))
                up = skip
            x = up
        return x

    out = conv(block("input", 0))
    if rng.random() < 0.25:  # a classifier head: pool the bins, then a 1x1 conv over one bin (fully connected)
        layers.append(FreqPool(f"pool{next(count)}", out))
        out = conv(layers[-1].name, kt=1, kf=1)
    return ModelSpec("rand", freq_bins=rng.choice([4, 8, 12]), in_channels=in_channels, layers=tuple(layers),
                     output=out)


def channels_of(layers: list, name: str, in_channels: int) -> int:
    """Output channels of a layer of a spec under construction."""
    if name == "input":
        return in_channels
    layer = next(x for x in layers if x.name == name)
    if isinstance(layer, Conv | TConv | TConvFreq):
        return layer.cout
    if isinstance(layer, Concat):
        return sum(channels_of(layers, s, in_channels) for s in layer.inputs)
    if isinstance(layer, Add):
        return channels_of(layers, layer.inputs[0], in_channels)
    return channels_of(layers, layer.input, in_channels)


def test_demo_streaming_equals_offline() -> None:
    model = OfflineModel(demo_spec(), seed=3)
    frames = 3 * model.schedule.receptive_field + 5
    result = check_equivalence(model, torch.randn(frames, 16, 1))
    assert result.ok, result


@pytest.mark.parametrize("seed", range(200))
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
        ((Conv("a", "input", cout=2, stride=2),), "must run every step"),
        ((Conv("a", "input", cout=2, act="gelu"),), "activation 'gelu'"),
        ((TConvFreq("a", "input", cout=2, kf=2, fstride=1),), "even kf"),
        ((Conv("a", "input", cout=2), Concat("c", ("a",))), "at least two inputs"),
    ],
)
def test_invalid_specs_are_rejected(layers: tuple, message: str) -> None:
    with pytest.raises(SoiError, match=message):
        analyze(ModelSpec("bad", 4, 1, layers))


@pytest.mark.parametrize("seed", range(60))
def test_analytic_macs_equal_the_steppers_count_on_random_models(seed: int) -> None:
    from soi_mcu.model import macs_by_phase

    spec = random_spec(random.Random(seed))
    total, _ = macs_by_phase(spec)
    stepper = StreamingModel(OfflineModel(spec))
    steps = 2 * len(total)
    stepper.run(torch.randn(steps, spec.freq_bins, spec.in_channels), precompute_between=True)
    assert [stepper.macs_by_step.get(t, 0) for t in range(steps)] == list(total) * 2
