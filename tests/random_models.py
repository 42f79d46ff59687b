"""Random causal CNNs drawn from the op registry, for the streaming, host and firmware tests.

`random_spec` draws every registered layer kind (`soi_mcu.ops.KINDS`), every conv activation
(`ACTIVATIONS`) and depthwise convs; `features` names what a spec drew, and `seeds` picks the seeds a
test runs: by default a few, chosen so that together they draw every feature (a kind added to the
registry without a way to draw it here fails `test_random_specs_cover_the_registry`); with
SOI_MCU_ALL_SEEDS=1, the full range.
"""

from __future__ import annotations

import os
import random
from functools import cache

from soi_mcu.model import ModelSpec
from soi_mcu.ops import (
    ACTIVATIONS,
    KINDS,
    Add,
    Concat,
    Conv,
    Duplicate,
    FreqPool,
    LayerNorm,
    PReLU,
    Shift,
    TConv,
    TConvFreq,
    Upsample,
)


def all_features() -> frozenset[str]:
    """What the default seeds of every random-model test must draw between them."""
    return frozenset({k.kind for k in KINDS} | {f"act:{a}" for a in ACTIVATIONS} | {"depthwise", "prelu:shared", "pool:max",
                                                                                        "pool:window", "layernorm:frame"})


def features(spec: ModelSpec) -> frozenset[str]:
    found: set[str] = set()
    for layer in spec.layers:
        found.add(layer.kind)
        if isinstance(layer, Conv):
            found.add(f"act:{layer.act}")
            if layer.depthwise:
                found.add("depthwise")
        if isinstance(layer, PReLU) and layer.shared:
            found.add("prelu:shared")
        if isinstance(layer, LayerNorm) and layer.over == "frame":
            found.add("layernorm:frame")
        if isinstance(layer, FreqPool):
            found.add(f"pool:{layer.mode}")
            if layer.kernel:
                found.add("pool:window")
    return frozenset(found)


def all_seeds() -> bool:
    return os.environ.get("SOI_MCU_ALL_SEEDS", "") not in ("", "0")


@cache
def seeds(offset: int, default: int, full: int) -> tuple[int, ...]:
    """`full` seeds (offset, offset+1, ...) with SOI_MCU_ALL_SEEDS=1; otherwise the fewest of the first
    seeds that together draw every feature (greedy), topped up with the next ones to `default`."""
    if all_seeds():
        return tuple(range(offset, offset + full))
    want, chosen = set(all_features()), []
    drawn = {s: features(random_spec(random.Random(s))) for s in range(offset, offset + full)}
    while want:
        best = max(drawn, key=lambda s: (len(drawn[s] & want), -s))
        if not drawn[best] & want:
            break  # the full range cannot cover it: test_random_specs_cover_the_registry says which
        chosen.append(best)
        want -= drawn.pop(best)
    rest = iter(sorted(drawn))
    while len(chosen) < default:
        chosen.append(next(rest))
    return tuple(sorted(chosen))


def random_spec(rng: random.Random, max_depth: int = 2) -> ModelSpec:
    """A random causal CNN: convs (any registered activation, some depthwise, some followed by a PReLU
    and/or a LayerNorm over channels or over the frame),
    S-CC pairs (nested up to max_depth), SC shifts, SS-CC, concat/add skips, upsampling by repetition or
    tSTMC, a pooled fully connected head or pooling windows along frequency."""
    layers: list = []
    count = iter(range(1000))
    in_channels = rng.randint(1, 3)

    def conv(src: str, **kw) -> str:
        name = f"c{next(count)}"
        kw.setdefault("kt", rng.randint(1, 3))
        kw.setdefault("kf", rng.choice([1, 3]))
        kw.setdefault("norm", rng.random() < 0.3)
        cout = kw.pop("cout", None) or rng.randint(1, 5)
        if kw.pop("may_be_depthwise", False) and rng.random() < 0.25:
            kw["depthwise"] = True
            cout = channels_of(layers, src, in_channels) * rng.randint(1, 2)
        act = rng.choice(("relu", *ACTIVATIONS))
        layers.append(Conv(name, src, cout=cout, act=act, **kw))
        out = maybe_prelu(name) if act != "relu" else name  # after a ReLU a PReLU is refused (it does nothing)
        return maybe_layernorm(out)

    def maybe_layernorm(src: str) -> str:
        if rng.random() < 0.18 and channels_of(layers, src, in_channels) > 1:  # one value: refused
            name = f"ln{next(count)}"
            layers.append(LayerNorm(name, src, over=rng.choice(["channels", "frame"]), affine=rng.random() < 0.7,
                                    eps=rng.choice([1e-5, 1e-3])))
            return name
        return src

    def maybe_prelu(src: str) -> str:
        if rng.random() < 0.2:
            name = f"pr{next(count)}"
            layers.append(PReLU(name, src, shared=rng.random() < 0.4))
            return name
        return src

    def maybe_shift(src: str) -> str:
        if rng.random() < 0.25:
            name = f"sh{next(count)}"
            layers.append(Shift(name, src, frames=rng.randint(1, 2)))
            return name
        return src

    def block(src: str, depth: int) -> str:
        x = maybe_shift(conv(src, dilation=rng.randint(1, 2), may_be_depthwise=True))
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
                    up = conv(up, kt=1, kf=1, cout=channels_of(layers, x, in_channels))
                    layers.append(Add(skip, (up, x)))
                else:
                    layers.append(Concat(skip, (up, x)))
                up = maybe_prelu(skip)
            x = up
        return x

    out = conv(block("input", 0))
    if rng.random() < 0.25:  # a classifier head: pool the bins, then a 1x1 conv over one bin (fully connected)
        layers.append(FreqPool(f"pool{next(count)}", out, mode=rng.choice(["avg", "max"])))
        out = conv(layers[-1].name, kt=1, kf=1)
    elif rng.random() < 0.25:  # pooling windows along frequency (every spec has at least 4 bins), then a conv
        kernel = rng.choice([2, 3])
        layers.append(FreqPool(f"pool{next(count)}", out, mode=rng.choice(["avg", "max"]), kernel=kernel,
                               stride=rng.choice([1, 2, kernel])))
        out = conv(layers[-1].name)
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
    return channels_of(layers, layer.inputs[0], in_channels)
