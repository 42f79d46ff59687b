"""Exact Python/NumPy reference of the TFLite int8 kernels that soi-mcu's CMSIS-NN subset implements.

Accumulation is done in int64 NumPy arrays (exact for these sizes); requantization uses Python ints,
so nothing here can round differently from the definition in TFLite's reference kernels.
"""

from __future__ import annotations

import numpy as np

INT32_MIN = -(2**31)


def wrap_int32(value: int) -> int:
    """Two's-complement wrap to int32, as 32-bit C arithmetic does."""
    return ((value - INT32_MIN) % 2**32) + INT32_MIN


def saturating_rounding_doubling_high_mul(a: int, b: int) -> int:
    """gemmlowp SaturatingRoundingDoublingHighMul: round(a*b / 2^31), nudge then truncate toward zero."""
    if a == INT32_MIN and b == INT32_MIN:
        return 2**31 - 1
    ab = a * b
    nudge = (1 << 30) if ab >= 0 else 1 - (1 << 30)
    num = ab + nudge
    quot = abs(num) >> 31  # C integer division truncates toward zero
    return quot if num >= 0 else -quot


def rounding_divide_by_pot(x: int, exponent: int) -> int:
    """gemmlowp RoundingDivideByPOT: divide by 2^exponent, halves rounded away from zero."""
    mask = (1 << exponent) - 1
    remainder = x & mask
    threshold = (mask >> 1) + (1 if x < 0 else 0)
    return (x >> exponent) + (1 if remainder > threshold else 0)


def multiply_by_quantized_multiplier(x: int, multiplier: int, shift: int) -> int:
    """TFLite MultiplyByQuantizedMultiplier (double rounding); the left shift wraps like int32 C code."""
    left = max(shift, 0)
    right = max(-shift, 0)
    return rounding_divide_by_pot(saturating_rounding_doubling_high_mul(wrap_int32(x << left), multiplier), right)


def requantize_array(
    acc: np.ndarray, mult: np.ndarray, shift: np.ndarray, out_offset: int, act_min: int, act_max: int
) -> np.ndarray:
    """Requantize int accumulators whose last axis is the channel axis; returns int8."""
    flat = acc.reshape(-1, acc.shape[-1])
    out = np.empty(flat.shape, dtype=np.int8)
    for idx in np.ndindex(*flat.shape):
        ch = idx[1]
        value = multiply_by_quantized_multiplier(int(flat[idx]), int(mult[ch]), int(shift[ch])) + out_offset
        out[idx] = min(max(value, act_min), act_max)
    return out.reshape(acc.shape)


def _taps(x: np.ndarray, ky: int, kx: int, p: dict, out_h: int, out_w: int) -> np.ndarray:
    """(x + offset) at tap (ky, kx) for every output pixel, zero where the tap falls in padding."""
    n, h, w, c = x.shape
    iy = np.arange(out_h) * p["stride_h"] - p["pad_h"] + ky * p["dil_h"]
    ix = np.arange(out_w) * p["stride_w"] - p["pad_w"] + kx * p["dil_w"]
    vy = (iy >= 0) & (iy < h)
    vx = (ix >= 0) & (ix < w)
    g = x[:, np.clip(iy, 0, h - 1)][:, :, np.clip(ix, 0, w - 1)].astype(np.int64) + p["input_offset"]
    mask = (vy[:, None] & vx[None, :])[None, :, :, None]
    return np.where(mask, g, 0)


def conv_s8(
    x: np.ndarray, w: np.ndarray, bias: np.ndarray | None, mult: np.ndarray, shift: np.ndarray, p: dict
) -> np.ndarray:
    """TFLite ConvPerChannel: x [N,H,W,C_IN], w [C_OUT,KH,KW,C_IN/groups], grouped when C_IN > w C."""
    c_out, kh, kw, cg = w.shape
    groups = x.shape[3] // cg
    cout_g = c_out // groups
    out_h, out_w = p["out_h"], p["out_w"]
    acc = np.zeros((x.shape[0], out_h, out_w, c_out), dtype=np.int64)
    for ky in range(kh):
        for kx in range(kw):
            t = _taps(x, ky, kx, p, out_h, out_w)
            for g in range(groups):
                oc = slice(g * cout_g, (g + 1) * cout_g)
                xg = t[..., g * cg : (g + 1) * cg]
                acc[..., oc] += np.einsum("nhwc,oc->nhwo", xg, w[oc, ky, kx, :].astype(np.int64))
    if bias is not None:
        acc += bias.astype(np.int64)
    return requantize_array(acc, mult, shift, p["output_offset"], p["act_min"], p["act_max"])


def depthwise_conv_s8(
    x: np.ndarray, w: np.ndarray, bias: np.ndarray | None, mult: np.ndarray, shift: np.ndarray, p: dict
) -> np.ndarray:
    """TFLite DepthwiseConvPerChannel: w [1,KH,KW,C_IN*ch_mult], output channel oc = ic*ch_mult + m."""
    _, kh, kw, c_out = w.shape
    cm = p["ch_mult"]
    out_h, out_w = p["out_h"], p["out_w"]
    src = np.arange(c_out) // cm
    acc = np.zeros((x.shape[0], out_h, out_w, c_out), dtype=np.int64)
    for ky in range(kh):
        for kx in range(kw):
            t = _taps(x, ky, kx, p, out_h, out_w)
            acc += t[..., src] * w[0, ky, kx, :].astype(np.int64)
    if bias is not None:
        acc += bias.astype(np.int64)
    return requantize_array(acc, mult, shift, p["output_offset"], p["act_min"], p["act_max"])


def fully_connected_s8(x: np.ndarray, w: np.ndarray, bias: np.ndarray | None, p: dict) -> np.ndarray:
    """TFLite FullyConnected int8 (per tensor): x [B, K], w [ROWS, K]."""
    acc = (x.astype(np.int64) + p["input_offset"]) @ (w.astype(np.int64) + p["filter_offset"]).T
    if bias is not None:
        acc += bias.astype(np.int64)
    rows = w.shape[0]
    mult = np.full(rows, p["mult"], dtype=np.int64)
    shift = np.full(rows, p["shift"], dtype=np.int64)
    return requantize_array(acc, mult, shift, p["output_offset"], p["act_min"], p["act_max"])


def elementwise_add_s8(a: np.ndarray, b: np.ndarray, p: dict) -> np.ndarray:
    """TFLite AddElementwise int8 (CMSIS-NN argument conventions: offsets are -zero_point)."""
    out = np.empty(a.shape, dtype=np.int8)
    for i, (va, vb) in enumerate(zip(a.tolist(), b.tolist(), strict=True)):
        sa = multiply_by_quantized_multiplier((va + p["in1_offset"]) << p["left_shift"], p["in1_mult"], p["in1_shift"])
        sb = multiply_by_quantized_multiplier((vb + p["in2_offset"]) << p["left_shift"], p["in2_mult"], p["in2_shift"])
        raw = multiply_by_quantized_multiplier(sa + sb, p["out_mult"], p["out_shift"]) + p["out_offset"]
        out[i] = min(max(raw, p["act_min"]), p["act_max"])
    return out


def elementwise_mul_s8(a: np.ndarray, b: np.ndarray, p: dict) -> np.ndarray:
    """TFLite MulElementwise int8 (CMSIS-NN argument conventions: offsets are -zero_point)."""
    out = np.empty(a.shape, dtype=np.int8)
    for i, (va, vb) in enumerate(zip(a.tolist(), b.tolist(), strict=True)):
        prod = (va + p["in1_offset"]) * (vb + p["in2_offset"])
        raw = multiply_by_quantized_multiplier(prod, p["out_mult"], p["out_shift"]) + p["out_offset"]
        out[i] = min(max(raw, p["act_min"]), p["act_max"])
    return out
