"""A streaming acoustic-scene classifier (depthwise-separable, ResNet-style blocks) with SOI.

Per frame: log-mel bins in, class logits out (the clip decision averages them over time, outside
the model). With an S-CC pair at block k, block k's depthwise conv is strided in time, the
blocks after it run every other step, and a duplication after the last block restores the rate,
joined by a skip connection from the pair's input (as in the paper's classifier experiments).
"""

from __future__ import annotations

from soi_mcu.errors import SoiError
from soi_mcu.model import Add, Conv, Duplicate, FreqPool, Layer, ModelSpec

BLOCKS = 3


def classifier_spec(variant: str = "stmc", mel_bins: int = 32, classes: int = 10, width: int = 16,
                    frame_rate_hz: float = 50.0) -> ModelSpec:
    """variant: 'stmc' or 'scc:K' (K = 1..3, the block whose depthwise conv compresses in time)."""
    if variant == "stmc":
        pair = 0
    elif variant.startswith("scc:") and variant[4:].isdigit() and 1 <= int(variant[4:]) <= BLOCKS:
        pair = int(variant[4:])
    else:
        raise SoiError(f"unknown classifier variant '{variant}'; use stmc or scc:1..{BLOCKS}")
    layers: list[Layer] = [Conv("stem", "input", cout=width, kt=3, kf=3, fstride=2, act="relu6")]
    x = "stem"
    skip_from = ""
    for b in range(1, BLOCKS + 1):
        if b == pair:
            skip_from = x
        dw = Conv(f"b{b}_dw", x, cout=width, kt=3, kf=3, depthwise=True, act="relu6", stride=2 if b == pair else 1)
        pw = Conv(f"b{b}_pw", dw.name, cout=width, kt=1, kf=1, act="none")
        layers += [dw, pw]
        if b == pair:  # the residual of the compressing block cannot cross the rate change
            x = pw.name
        else:
            layers.append(Add(f"b{b}_res", (pw.name, x)))
            x = f"b{b}_res"
    if pair:
        layers.append(Duplicate("restore", x))
        layers.append(Add("soi_skip", ("restore", skip_from)))
        x = "soi_skip"
    layers += [FreqPool("pool", x), Conv("logits", "pool", cout=classes, kt=1, kf=1, act="none")]
    return ModelSpec(f"scene_{variant.replace(':', '')}", mel_bins, 1, tuple(layers), output="logits",
                     frame_rate_hz=frame_rate_hz)
