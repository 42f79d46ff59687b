"""Streaming (frame by frame, explicit partial states) == offline (whole sequence), in float."""

from __future__ import annotations

import random

import pytest
import torch

from soi_mcu.errors import SoiError
from soi_mcu.model import Concat, Conv, Duplicate, ModelSpec, OfflineModel, analyze, demo_spec
from soi_mcu.streaming import StreamingModel, check_equivalence


def random_spec(rng: random.Random) -> ModelSpec:
    """A random causal CNN with an optional S-CC pair (PP) and a concat skip around it."""
    layers: list = [Conv("c0", "input", cout=rng.randint(1, 6), kt=rng.randint(1, 4), kf=rng.choice([1, 3, 5]),
                         dilation=rng.randint(1, 3))]
    prev = "c0"
    if rng.random() < 0.7:
        stride = rng.choice([2, 3])
        layers.append(Conv("down", prev, cout=rng.randint(1, 6), kt=rng.randint(1, 4), stride=stride))
        inner = "down"
        for i in range(rng.randint(0, 2)):
            layers.append(Conv(f"in{i}", inner, cout=rng.randint(1, 6), kt=rng.randint(1, 3),
                               dilation=rng.randint(1, 2)))
            inner = f"in{i}"
        layers.append(Duplicate("up", inner, factor=stride))
        layers.append(Concat("skip", ("up", prev)))
        prev = "skip"
    layers.append(Conv("out", prev, cout=rng.randint(1, 3), kt=rng.randint(1, 3), act=rng.choice(["relu", "none"])))
    return ModelSpec("rand", freq_bins=rng.randint(1, 9), in_channels=rng.randint(1, 3), layers=tuple(layers))


def test_demo_streaming_equals_offline() -> None:
    model = OfflineModel(demo_spec(), seed=3)
    frames = 3 * model.schedule.receptive_field + 5
    result = check_equivalence(model, torch.randn(frames, 16, 1))
    assert result.ok, result


@pytest.mark.parametrize("seed", range(40))
def test_random_models_stream_equal_offline(seed: int) -> None:
    rng = random.Random(seed)
    spec = random_spec(rng)
    model = OfflineModel(spec, seed=seed)
    frames = 3 * model.schedule.receptive_field + rng.randint(0, 7)  # odd lengths included
    x = torch.randn(frames, spec.freq_bins, spec.in_channels)
    result = check_equivalence(model, x)
    assert result.max_abs_diff <= 1e-5, (spec, result)


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
    ],
)
def test_invalid_specs_are_rejected(layers: tuple, message: str) -> None:
    with pytest.raises(SoiError, match=message):
        analyze(ModelSpec("bad", 4, 1, layers))
