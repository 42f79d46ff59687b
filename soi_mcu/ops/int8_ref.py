"""TFLite's integer arithmetic in Python, for what the generator precomputes: the parameters of int8
ADD/SUB/MUL/MEAN as their Prepare derives them, and whole tables of single-input int8 ops (RSQRT).

Python ints do not overflow, so every int32 step that TFLite relies on wrapping or saturating is
written out (`_wrap32`, the saturating shifts)."""

from __future__ import annotations

import numpy as np

from soi_mcu.ops.requant import quantize_multiplier

INT32_MIN, INT32_MAX = -(1 << 31), (1 << 31) - 1


def _wrap32(v: int) -> int:
    return (v + (1 << 31)) % (1 << 32) - (1 << 31)


def srdhm(a: int, b: int) -> int:
    """gemmlowp's SaturatingRoundingDoublingHighMul (C division truncates toward zero)."""
    if a == INT32_MIN and b == INT32_MIN:
        return INT32_MAX
    ab = a * b
    nudge = (1 << 30) if ab >= 0 else 1 - (1 << 30)
    q = abs(ab + nudge) >> 31
    return q if ab + nudge >= 0 else -q


def rounding_divide_by_pot(x: int, exponent: int) -> int:
    mask = (1 << exponent) - 1
    remainder = x & mask
    threshold = (mask >> 1) + (1 if x < 0 else 0)
    return (x >> exponent) + (1 if remainder > threshold else 0)


def saturating_mul_by_pot(x: int, exponent: int) -> int:
    """gemmlowp's SaturatingRoundingMultiplyByPOT: a saturating left shift, or a rounding right shift."""
    if exponent <= 0:
        return rounding_divide_by_pot(x, -exponent)
    threshold = (1 << (31 - exponent)) - 1
    if x > threshold:
        return INT32_MAX
    if x < -threshold:
        return INT32_MIN
    return x << exponent


def mbqm(x: int, multiplier: int, shift: int) -> int:
    """TFLite's MultiplyByQuantizedMultiplier (int32, double rounding)."""
    left, right = max(shift, 0), max(-shift, 0)
    return rounding_divide_by_pot(srdhm(_wrap32(x * (1 << left)), multiplier), right)


def mean_params(in_scale: float, out_scale: float, count: int) -> tuple[int, int]:
    """(multiplier, shift) of an int8 MEAN over `count` values: reference_ops::QuantizedMeanOrSum folds
    1/count into the requantization of the sum, with its own clamps on the shift."""
    mult, shift = quantize_multiplier(in_scale / out_scale)
    n_shift = min(count.bit_length() - 1, 32, 31 + shift)
    return int((mult << n_shift) // count), shift - n_shift


def add_params(s1: float, s2: float, out: float) -> tuple[tuple[int, int], tuple[int, int], tuple[int, int]]:
    """(input 1, input 2, output) (multiplier, shift) of an int8 ADD or SUB (left shift 20)."""
    twice_max = 2 * max(s1, s2)
    return (quantize_multiplier(s1 / twice_max), quantize_multiplier(s2 / twice_max),
            quantize_multiplier(twice_max / ((1 << 20) * out)))


def add_s8(a: int, b: int, offsets: tuple[int, int, int], params, subtract: bool = False) -> int:
    """One int8 ADD (or SUB) as reference_integer_ops computes it; offsets are (-zp1, -zp2, zp_out)."""
    (m1, s1), (m2, s2), (mo, so) = params
    x = mbqm((a + offsets[0]) << 20, m1, s1)
    y = mbqm((b + offsets[1]) << 20, m2, s2)
    return min(127, max(-128, mbqm(x - y if subtract else x + y, mo, so) + offsets[2]))


def inv_sqrt_multiplier_exp(value: int) -> tuple[int, int]:
    """TFLite's GetInvSqrtQuantizedMultiplierExp(value, kReverseShift): 1/sqrt(value) as a Q31
    multiplier and a shift, by five Newton-Raphson steps in gemmlowp fixed point (3 integer bits)."""
    if value <= 1:
        return INT32_MAX, 0
    shift = 11
    while value >= 1 << 29:
        value //= 4
        shift += 1
    pairs = ((32 - value.bit_length()) - 1) // 2 - 1  # CountLeadingZeros - 1, in bit pairs, minus one
    shift -= pairs
    value <<= 2 * pairs
    half_input = rounding_divide_by_pot(value >> 1, 1)
    half_three = (1 << 28) + (1 << 27)
    x = 1 << 28  # F3::One()
    for _ in range(5):
        x3 = saturating_mul_by_pot(srdhm(srdhm(x, x), x), 6)  # F9 -> F3
        x = saturating_mul_by_pot(_wrap32(srdhm(half_three, x) - srdhm(half_input, x3)), 3)  # F6 -> F3
    x = srdhm(x, 1518500250)  # times sqrt(2)/2
    if shift < 0:
        x = _wrap32(x << -shift)
        shift = 0
    return x, -shift


def rsqrt_s8(value: int, in_zp: int, out_zp: int, multiplier: int, shift: int) -> int:
    """One int8 RSQRT (RsqrtEvalQuantizedInt8): multiplier/shift from 1 / (sqrt(in scale) * out scale)."""
    v = value - in_zp
    if v == 0:
        return 127  # TFLite: a value close to 0 is the largest output
    inv, inv_shift = inv_sqrt_multiplier_exp(v)
    data = mbqm(1, inv, inv_shift + 20)
    return min(127, max(-128, mbqm(data, multiplier, shift - 20) + out_zp))


def rsqrt_params(in_scale: float, out_scale: float) -> tuple[int, int]:
    """SetRsqrtOutputMultiplier: 1. / (std::sqrt(float) * float) - the square root and the product in
    float32 (std::sqrt of a float is a float), only the division in double."""
    root = np.sqrt(np.float32(in_scale), dtype=np.float32)
    return quantize_multiplier(1.0 / float(np.float32(root * np.float32(out_scale))))
