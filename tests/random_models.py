"""Random causal CNNs drawn from the op registry, for the streaming, host and firmware tests.

`random_spec` draws every registered layer kind (`soi_mcu.ops.KINDS`), every conv activation
(`ACTIVATIONS`), depthwise and grouped convs, dilation in frequency and the frequency paddings (even
kernels, asymmetric, 'valid'); `features` names what a spec drew, and `seeds` picks the seeds a
test runs: by default a few, chosen so that together they draw every feature (a kind added to the
registry without a way to draw it here fails `test_random_specs_cover_the_registry`); with
SOI_MCU_ALL_SEEDS=1, the full range.
"""

from __future__ import annotations

import os
import random
from functools import cache

from soi_mcu.model import ModelSpec
from soi_mcu.model.spec import layer_facts
from soi_mcu.ops import (
    ACTIVATIONS,
    GRU,
    KINDS,
    LSTM,
    Activation,
    Add,
    Concat,
    Conv,
    Duplicate,
    FreqPool,
    LayerNorm,
    Mul,
    PReLU,
    Shift,
    Slice,
    Softmax,
    Sub,
    TConv,
    TConvFreq,
    Upsample,
)
from soi_mcu.ops.activation import FUNCTIONS

ELEMENTWISE_ACTS = ("none", "none", "relu", "relu6")  # fused into ADD, SUB, MUL


def all_features() -> frozenset[str]:
    """What the default seeds of every random-model test must draw between them."""
    return frozenset({k.kind for k in KINDS} | {f"act:{a}" for a in ACTIVATIONS} | {f"fn:{f}" for f in FUNCTIONS}
                     | {"depthwise", "groups", "fdilation", "fpad:asym", "fpad:valid", "prelu:shared", "eltwise:act",
                        "pool:max", "pool:window", "layernorm:frame", "gru:freq", "gru:reverse", "concat:interleave"})


def features(spec: ModelSpec) -> frozenset[str]:
    found: set[str] = set()
    for layer in spec.layers:
        found.add(layer.kind)
        if isinstance(layer, Conv):
            found.add(f"act:{layer.act}")
            if layer.depthwise:
                found.add("depthwise")
            if layer.groups > 1:
                found.add("groups")
            if layer.fdilation > 1:
                found.add("fdilation")
            if layer.fpad == (0, 0) and layer.fspan > 1:
                found.add("fpad:valid")
            elif layer.fpad is not None and (layer.fpad[0] != layer.fpad[1] or layer.kf % 2 == 0):
                found.add("fpad:asym")
        if isinstance(layer, PReLU) and layer.shared:
            found.add("prelu:shared")
        if isinstance(layer, Add | Sub | Mul) and layer.act != "none":
            found.add("eltwise:act")
        if isinstance(layer, Activation):
            found.add(f"fn:{layer.fn}")
        if isinstance(layer, GRU) and layer.over == "freq":
            found.add("gru:reverse" if layer.reverse else "gru:freq")
        if isinstance(layer, Concat) and layer.interleave:
            found.add("concat:interleave")
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
    """A random causal CNN: convs (any registered activation, some depthwise or grouped, some dilated or
    asymmetrically padded in frequency, some followed by a PReLU, an activation layer, a softmax or a LayerNorm), S-CC
    pairs (nested up to max_depth), SC shifts, SS-CC, concat/add/sub/mul skips, upsampling by repetition or
    tSTMC, a mask head (mul or sub), a pooled fully connected head or pooling windows
    along frequency."""
    layers: list = []
    count = iter(range(1000))
    in_channels = rng.randint(1, 3)
    freq_bins = rng.choice([4, 8, 12])

    def conv(src: str, may_be_valid: bool = False, **kw) -> str:
        name = f"c{next(count)}"
        kw.setdefault("kt", rng.randint(1, 3))
        free_kf = "kf" not in kw
        kw.setdefault("kf", rng.choice([1, 3]))
        kw.setdefault("norm", rng.random() < 0.3)
        fixed_cout = kw.pop("cout", None)
        cout = fixed_cout or rng.randint(1, 5)
        cin = channels_of(layers, src, in_channels)
        if kw.pop("may_be_depthwise", False) and rng.random() < 0.25:
            kw["depthwise"] = True
            cout = cin * rng.randint(1, 2)
        elif rng.random() < 0.3:  # grouped: both channel counts multiples of groups
            choices = [g for g in (2, 3, 4) if cin % g == 0 and (fixed_cout is None or fixed_cout % g == 0)]
            if choices:
                kw["groups"] = rng.choice(choices)
                cout = fixed_cout or kw["groups"] * rng.randint(1, 2)
        geometry = rng.random()
        if geometry < 0.2 and kw["kf"] > 1:
            kw["fdilation"] = 2
        elif geometry < 0.4 and (free_kf or kw["kf"] > 1):
            # asymmetric padding (an even kernel among them) of span - 1 bins keeps the 'same' widths
            if free_kf:
                kw["kf"] = rng.choice([2, 3, 4])
            left = rng.randint(0, kw["kf"] - 1)
            kw["fpad"] = (left, kw["kf"] - 1 - left)
        if may_be_valid and rng.random() < 0.4 and (kw["kf"] - 1) * kw.get("fdilation", 1) < freq_bins:
            kw["fpad"] = "valid"  # only where nothing needs the bins kept (the output, before a pool)
        act = rng.choice(("relu", *ACTIVATIONS))
        layers.append(Conv(name, src, cout=cout, act=act, **kw))
        # after a ReLU a PReLU is refused (it does nothing)
        out = maybe_layernorm(maybe_prelu(name) if act != "relu" else maybe_activation(name))
        return out if fixed_cout else maybe_slice(out)  # a caller that fixed cout needs those channels

    def maybe_slice(src: str) -> str:
        """Some channels of a frame (a channel split), when it has more than one."""
        c = channels_of(layers, src, in_channels)
        if c > 1 and rng.random() < 0.15:
            start = rng.randint(0, c - 2)
            name = f"sl{next(count)}"
            layers.append(Slice(name, src, start=start, stop=rng.randint(start + 1, c)))
            return name
        return src

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
            src = name
        return maybe_activation(src)

    def maybe_activation(src: str) -> str:
        """An activation layer or a softmax over channels after a conv, a PReLU or a skip."""
        r = rng.random()
        if r < 0.2:
            name = f"fn{next(count)}"
            after_elu = any(x.name == src and getattr(x, "act", "") == "elu" for x in layers)
            fns = [f for f in FUNCTIONS if not (after_elu and f == "hardsigmoid")]  # refused: see Activation
            layers.append(Activation(name, src, fn=rng.choice(fns)))
            return name
        if r < 0.25:
            name = f"sm{next(count)}"
            layers.append(Softmax(name, src))
            return name
        return src

    def maybe_shift(src: str) -> str:
        if rng.random() < 0.25:
            name = f"sh{next(count)}"
            layers.append(Shift(name, src, frames=rng.randint(1, 2)))
            return name
        return src

    def maybe_recurrent(src: str) -> str:
        draw = rng.random()
        if draw < 0.2:  # a recurrent layer over every bin (its state carried from frame to frame)
            name = f"rnn{next(count)}"
            layers.append(rng.choice((LSTM, GRU))(name, src, hidden=rng.randint(2, 6)))
            return name
        if draw < 0.3:  # a bidirectional GRU over the bins of each frame, its halves joined or shuffled
            hidden, fwd, bwd, name = rng.randint(1, 4), f"gf{next(count)}", f"gb{next(count)}", f"gc{next(count)}"
            layers.append(GRU(fwd, src, hidden=hidden, over="freq"))
            layers.append(GRU(bwd, src, hidden=hidden, over="freq", reverse=True))
            layers.append(Concat(name, (fwd, bwd), interleave=rng.random() < 0.5))
            # then a linear layer (as GTCRN's): the GRUs' fixed int8 ranges stop at it (a skip concatenation
            # that must share their scale with a duplication makes TensorFlow's converter fail)
            return conv(name, kt=1, kf=1)
        return src

    def block(src: str, depth: int) -> str:
        x = maybe_recurrent(maybe_shift(conv(src, dilation=rng.randint(1, 2), may_be_depthwise=True)))
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
                if rng.random() < 0.3:  # skip by addition (or difference, product): match channels with a 1x1 conv first
                    up = conv(up, kt=1, kf=1, cout=channels_of(layers, x, in_channels))
                    layers.append(rng.choice((Add, Add, Sub, Mul))(skip, (up, x), act=rng.choice(ELEMENTWISE_ACTS)))
                else:
                    layers.append(Concat(skip, (up, x)))
                up = maybe_prelu(skip)
            x = up
        return x

    out = conv(block("input", 0), may_be_valid=True)
    if rng.random() < 0.3:  # a mask head: the output times (or minus) a 1x1 conv of itself
        mask = conv(out, kt=1, kf=1, cout=channels_of(layers, out, in_channels))
        layers.append(rng.choice((Mul, Sub))(f"mask{next(count)}", (out, mask), act=rng.choice(ELEMENTWISE_ACTS)))
        out = layers[-1].name
    if rng.random() < 0.25:  # a classifier head: pool the bins, then a 1x1 conv over one bin (fully connected)
        layers.append(FreqPool(f"pool{next(count)}", out, mode=rng.choice(["avg", "max"])))
        out = conv(layers[-1].name, kt=1, kf=1)
    elif rng.random() < 0.25:  # pooling windows along frequency (where the bins allow), then a conv
        kernel = rng.choice([2, 3])
        if layer_facts(ModelSpec("w", freq_bins, in_channels, tuple(layers)))[2][out] >= kernel:
            layers.append(FreqPool(f"pool{next(count)}", out, mode=rng.choice(["avg", "max"]), kernel=kernel,
                                   stride=rng.choice([1, 2, kernel])))
            out = conv(layers[-1].name)
    return ModelSpec("rand", freq_bins=freq_bins, in_channels=in_channels, layers=tuple(layers), output=out)


def channels_of(layers: list, name: str, in_channels: int) -> int:
    """Output channels of a layer of a spec under construction."""
    if name == "input":
        return in_channels
    layer = next(x for x in layers if x.name == name)
    if isinstance(layer, Conv | TConv | TConvFreq):
        return layer.cout
    if isinstance(layer, LSTM | GRU):
        return layer.hidden
    if isinstance(layer, Slice):
        return layer.stop - layer.start
    if isinstance(layer, Concat):
        return sum(channels_of(layers, s, in_channels) for s in layer.inputs)
    return channels_of(layers, layer.inputs[0], in_channels)
