"""Element-wise int8 ops as 256-entry tables: entry x + 128 is what LiteRT's reference kernel makes of x.

An element-wise op of an int8 tensor is a function of 256 values, so the firmware applies any of
them, or any chain of them, as one table (soi_table_s8). Each table here emulates the reference
kernel's own arithmetic for the tensors' quantization, bit for bit:
- ELU, LOGISTIC, TANH: LiteRT builds a float32 lookup table in Prepare (LUTPopulate) and the
  reference kernel only indexes it; `lut_populate` repeats that float32 arithmetic;
- HARD_SWISH: reference_ops::HardSwish's 16-bit fixed point (its multipliers from float32 scales);
- MINIMUM, MAXIMUM, MUL, ADD with a constant: the links of the chain the converter makes of
  hardsigmoid (`chain_table`).
tests/test_activation.py checks every table against LiteRT on all 256 inputs."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

from soi_mcu.errors import SoiError
from soi_mcu.ops.records import Tensor
from soi_mcu.ops.requant import activation_range, quantize_multiplier

INT8 = np.arange(-128, 128, dtype=np.int64)  # the 256 inputs, in table order


def _scale(t: Tensor) -> np.float32:
    return np.float32(t.scale[0])


def _zp(t: Tensor) -> int:
    return int(t.zero_point[0])


def lut_populate(inp: Tensor, out: Tensor, fn: Callable[[np.ndarray], np.ndarray]) -> tuple[int, ...]:
    """TFLite's LUTPopulate<int8_t>: in float32, y = scale_in * (x - zp_in), f(y), times 1 / scale_out,
    rounded half away from zero (TfLiteRound), + zp_out, clamped to int8."""
    y = _scale(inp) * (INT8 - _zp(inp)).astype(np.float32)
    with np.errstate(over="ignore"):
        f = np.asarray(fn(y), dtype=np.float32)
    scaled = (f * (np.float32(1) / _scale(out))).astype(np.float64)  # the float32 product, exact in float64
    rounded = np.sign(scaled) * np.floor(np.abs(scaled) + 0.5)
    return tuple(int(v) for v in np.clip(rounded.astype(np.int64) + _zp(out), -128, 127))


def elu_table(inp: Tensor, out: Tensor) -> tuple[int, ...]:
    """ELU: exp(y) - 1 below 0 (float32)."""
    return lut_populate(inp, out, lambda y: np.where(y < 0, np.exp(y, dtype=np.float32) - np.float32(1), y))


def sigmoid_table(inp: Tensor, out: Tensor) -> tuple[int, ...]:
    """LOGISTIC: 1 / (1 + exp(-y)) in float32 (LiteRT requires the output scale 1/256, zero point -128)."""
    one = np.float32(1)
    return lut_populate(inp, out, lambda y: one / (one + np.exp(-y, dtype=np.float32)))


def tanh_table(inp: Tensor, out: Tensor) -> tuple[int, ...]:
    """TANH: tanh(y), correctly rounded to float32 (LiteRT requires the output scale 1/128, zero point 0)."""
    return lut_populate(inp, out, lambda y: np.tanh(y.astype(np.float64)).astype(np.float32))


# -- gemmlowp / TFLite fixed point, on Python ints ---------------------------------------------------
def _tdiv(a: int, b: int) -> int:
    """C integer division (truncates toward zero)."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b >= 0) else -q


def _srdhm(a: int, b: int, bits: int) -> int:
    """gemmlowp SaturatingRoundingDoublingHighMul on `bits`-bit values."""
    lo = -(1 << (bits - 1))
    if a == lo and b == lo:
        return (1 << (bits - 1)) - 1
    ab = a * b
    nudge = (1 << (bits - 2)) if ab >= 0 else 1 - (1 << (bits - 2))
    return _tdiv(ab + nudge, 1 << (bits - 1))


def _rdbpot(x: int, exponent: int) -> int:
    """gemmlowp RoundingDivideByPOT: halves away from zero."""
    mask = (1 << exponent) - 1
    threshold = (mask >> 1) + (1 if x < 0 else 0)
    return (x >> exponent) + (1 if (x & mask) > threshold else 0)


def _rdbpot16(x: int, exponent: int) -> int:
    """RoundingDivideByPOT on int16: its mask (2^exponent - 1) is an int16 too, so from exponent 16 on
    it is -1 and the result is -1 for negative x and 1 for the others (what LiteRT's kernel does)."""
    mask = ((1 << exponent) - 1) & 0xFFFF
    mask = mask - 0x10000 if mask >= 0x8000 else mask
    threshold = (mask >> 1) + (1 if x < 0 else 0)
    return (x >> exponent) + (1 if (x & mask) > threshold else 0)


def _sat16(x: int) -> int:
    return max(-32768, min(32767, x))


def multiply_by_quantized_multiplier(x: int, multiplier: int, shift: int) -> int:
    """TFLite MultiplyByQuantizedMultiplier (double rounding), on int32."""
    left, right = max(shift, 0), max(-shift, 0)
    return _rdbpot(_srdhm(x * (1 << left), multiplier, 32), right)


def _q16(real: float) -> tuple[int, int]:
    """QuantizeMultiplier then DownScaleInt32ToInt16Multiplier (rounded, saturating at int16 max)."""
    q, shift = quantize_multiplier(real)
    return (32767 if q >= (1 << 31) - 1 - (1 << 15) else (q + (1 << 15)) >> 16), shift


def hardswish_table(inp: Tensor, out: Tensor) -> tuple[int, ...]:
    """HARD_SWISH: reference_ops::HardSwish's int16 arithmetic, with HardSwishPrepare's multipliers (float32
    scale arithmetic): the input on a 2^7 finer scale, once rescaled to the output ("preshift") and once
    to the "reluish" scale where 3.0 is 32768, mapped to [0, 1], multiplied, shifted to the output."""
    hires = np.float32(1.0 / 128.0) * _scale(inp)
    out_mult, out_exp = _q16(float(hires / _scale(out)))
    relu_mult, relu_exp = _q16(float(hires / np.float32(3.0 / 32768.0)))
    if out_exp > 0:
        raise SoiError(f"HARD_SWISH: input scale {float(_scale(inp)):.6g} over output scale {float(_scale(out)):.6g} "
                       f"is too large for LiteRT's kernel (it needs a multiplier below 1)")
    table = []
    for x in INT8:
        v = (int(x) - _zp(inp)) * (1 << 7)
        preshift = _srdhm(v, out_mult, 16)
        r = _sat16(v * (1 << (relu_exp - 1))) if relu_exp > 0 else v
        r = _srdhm(r, relu_mult, 16)
        if relu_exp > 0:
            r = _sat16(r * 2)
        elif relu_exp < 0:
            r = _rdbpot16(r, -relu_exp)
        r = (r + (1 << 15)) >> 1  # [-1, 1] -> [0, 1]
        p = r * preshift
        y = _rdbpot16(_tdiv(p, 1 << 15), -out_exp) + _zp(out)  # SaturatingDoublingHighMul: truncates
        table.append(max(-128, min(127, y)))
    return tuple(table)


# -- a chain of element-wise ops with a constant operand (hardsigmoid) -------------------------------
def _const(c: Tensor) -> int:
    if c.data is None or c.data.size != 1 or c.dtype != np.int8:
        raise SoiError(f"tensor '{c.name}': expected one int8 constant")
    return int(np.asarray(c.data).reshape(-1)[0])


def _min_max(kind: str, x: np.ndarray, inp: Tensor, c: Tensor, out: Tensor) -> np.ndarray:
    """MINIMUM / MAXIMUM: int8 comparisons; the converter gives input, constant and output one quantization."""
    for t in (c, out):
        if _scale(t) != _scale(inp) or _zp(t) != _zp(inp):
            raise SoiError(f"{kind}: its tensors do not share one quantization; the table cannot follow it")
    return (np.minimum if kind == "MINIMUM" else np.maximum)(x, _const(c))


def _mul(x: np.ndarray, inp: Tensor, c: Tensor, out: Tensor, act: str) -> np.ndarray:
    """MUL (reference_integer_ops::Mul): (x - zp) * (c - zp_c) times in*c/out scale (double of float32s)."""
    mult, shift = quantize_multiplier(float(_scale(inp)) * float(_scale(c)) / float(_scale(out)))
    lo, hi = activation_range(act, out)
    cv = _const(c) - _zp(c)
    return np.array([max(lo, min(hi, _zp(out) + multiply_by_quantized_multiplier((int(v) - _zp(inp)) * cv, mult, shift)))
                     for v in x])


def _add(x: np.ndarray, inp: Tensor, c: Tensor, out: Tensor, act: str) -> np.ndarray:
    """ADD (reference_integer_ops::Add): both operands << 20 on twice the larger scale, summed, to the output."""
    s1, s2 = float(_scale(inp)), float(_scale(c))
    twice = 2 * max(s1, s2)
    q1, q2 = quantize_multiplier(s1 / twice), quantize_multiplier(s2 / twice)
    qo = quantize_multiplier(twice / ((1 << 20) * float(_scale(out))))
    lo, hi = activation_range(act, out)
    b = multiply_by_quantized_multiplier((_const(c) - _zp(c)) * (1 << 20), *q2)
    return np.array([max(lo, min(hi, _zp(out) + multiply_by_quantized_multiplier(
        multiply_by_quantized_multiplier((int(v) - _zp(inp)) * (1 << 20), *q1) + b, *qo))) for v in x])


def _requantize(x: np.ndarray, inp: Tensor, out: Tensor) -> np.ndarray:
    """int8 -> int8 QUANTIZE (reference_ops::Requantize): (x - zp_in) times in/out scale (double), + zp_out."""
    mult, shift = quantize_multiplier(float(_scale(inp)) / float(_scale(out)))
    return np.array([max(-128, min(127, _zp(out) + multiply_by_quantized_multiplier(int(v) - _zp(inp), mult, shift)))
                     for v in x])


ChainLink = tuple[str, Tensor, "Tensor | None", Tensor, str]  # (op kind, input, constant, output, fused activation)


def chain_table(links: Sequence[ChainLink], table: Sequence[int] | None = None) -> tuple[int, ...]:
    """The composition of element-wise ops (each with an int8 constant operand, or an int8 requantize)
    as one table, applied after `table` (None: the identity)."""
    x = INT8.copy() if table is None else np.asarray(table, dtype=np.int64)
    for kind, inp, c, out, act in links:
        if kind == "QUANTIZE":
            x = _requantize(x, inp, out)
        elif kind in ("MINIMUM", "MAXIMUM"):
            x = _min_max(kind, x, inp, c, out)
        elif kind == "MUL":
            x = _mul(x, inp, c, out, act)
        elif kind == "ADD":
            x = _add(x, inp, c, out, act)
        else:
            raise SoiError(f"{kind}: no int8 table for this op")
    return tuple(int(v) for v in x)


def check_output_quant(op: str, out: Tensor, scale: float, zero_point: int) -> None:
    """LOGISTIC and TANH run only with the fixed output quantization LiteRT asks for."""
    if not (math.isclose(float(out.scale[0]), scale, rel_tol=1e-6) and _zp(out) == zero_point):
        raise SoiError(f"{op}: output quantization {float(out.scale[0]):.6g}/{_zp(out)}, LiteRT needs "
                       f"{scale:.6g}/{zero_point}")
