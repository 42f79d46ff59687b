"""Integer requantization as TFLite derives it: multipliers and activation ranges (the tables of
element-wise ops are in tables.py)."""

from __future__ import annotations

import math

import numpy as np

from soi_mcu.errors import SoiError
from soi_mcu.ops.records import MatchedConv, Tensor


def quantize_multiplier(real: float) -> tuple[int, int]:
    """TFLite's QuantizeMultiplier: real = q * 2^shift with q a Q31 in [2^30, 2^31)."""
    if real == 0.0:
        return 0, 0
    frac, shift = math.frexp(real)
    q = math.floor(frac * (1 << 31) + 0.5)  # TfLiteRound: half away from zero (frac > 0)
    if q == 1 << 31:
        q //= 2
        shift += 1
    if shift < -31:
        return 0, 0
    if shift > 30:
        raise SoiError(f"requantization scale {real} is too large for int8 kernels (shift {shift} > 30)")
    return q, shift


def activation_range(act: str, out: Tensor) -> tuple[int, int]:
    """The int8 clamp a fused activation becomes."""
    zp = int(out.zero_point[0])
    scale = float(out.scale[0])
    if act == "none":
        return -128, 127
    if act == "relu":
        return max(-128, zp), 127
    if act == "relu6":
        return max(-128, zp), min(127, zp + math.floor(6.0 / scale + 0.5))  # TfLiteRound(6 / scale)
    raise SoiError(f"fused activation '{act}' is not supported by the code generator")


def conv_requant(m: MatchedConv, cout: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Per-channel (multipliers, shifts) of a conv: input scale x filter scale / output scale."""
    in_scale = float(m.input.scale[0])
    out_scale = float(m.output.scale[0])
    w_scales = m.filter.scale.astype(np.float64)
    if w_scales.size == 1:
        w_scales = np.repeat(w_scales, cout)
    qs = [quantize_multiplier(in_scale * float(ws) / out_scale) for ws in w_scales]
    return tuple(q for q, _ in qs), tuple(s for _, s in qs)
