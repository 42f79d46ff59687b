"""The tables of soi_add_table_s8 (firmware/kernels/soi/soi_add_table.h): TFLite's int8 ADD (and SUB) as
two 256-entry int32 tables, one per input, so that an output is sat8((t1[a] + t2[b]) >> k).

TFLite computes each input's rescaled value x_i = MBQM((v_i + offset_i) << 20, m_i, s_i) (exact per input
value: 256 of them), then out = MBQM(x_1 + x_2, m_o, s_o) + offset_o, saturated. The last step is a
monotone step function of the sum, floor(u(x_1 + x_2)) with u linear (TFLite's two roundings fold into one
floor, except that negative sums round their exact ties down, see int8_ref.mbqm), so it is the integer part
of u(x_1) + u(x_2) with the constant in one of them: each table holds its input's share of u in fixed
point with k fractional bits, and the kernel's one add and one SSAT with a shift replace the output
requantization (a 64-bit multiply, the rounding divide and their set-up).

Rounded to fixed point, the tables are off by up to 2^-k each, which changes an output where u lies that
close to an integer, and the ties of negative sums are not a function of one input. So the rounded tables
are only the start: every input pair (a, b) puts its output's interval of 2^k around t1[a] + t2[b], 65536
difference constraints on (t1, -t2), which a few Bellman-Ford passes meet by lowering a few entries (or
show that they cannot, for that k). The result is checked against the reference arithmetic on all pairs;
a layer where no k works keeps arm_elementwise_add_s8 (`add_tables` returns None)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# The shifts tried, in order: 18 is the kernel's assembly loop (SOI_ADD_TABLE_FAST_SHIFT, SSAT's immediate),
# which takes every layer of ordinary scales (on random ADD parameters with an output scale within 10^-1.2
# .. 10^0.5 of the inputs' sum, all of them); the smaller ones leave the int32 headroom that an output scale
# far below the inputs' needs, and run the kernel's C loop.
ADD_TABLE_SHIFTS = (18, 14, 10, 6)


def _srdhm(a: np.ndarray, b: int) -> np.ndarray:
    """gemmlowp's SaturatingRoundingDoublingHighMul on int64 arrays (|a|, |b| < 2^31: no overflow, and the
    one saturating case, both -2^31, cannot occur for the values an ADD passes)."""
    ab = a * np.int64(b)
    nudge = np.where(ab >= 0, np.int64(1 << 30), np.int64(1 - (1 << 30)))
    s = ab + nudge
    q = np.abs(s) >> 31
    return np.where(s >= 0, q, -q)


def _rdbpot(x: np.ndarray, exponent: int) -> np.ndarray:
    mask = np.int64((1 << exponent) - 1)
    threshold = (mask >> 1) + (x < 0)
    return (x >> exponent) + ((x & mask) > threshold)


def _mbqm(x: np.ndarray, multiplier: int, shift: int) -> np.ndarray:
    """TFLite's MultiplyByQuantizedMultiplier (int32 wrap of the left shift as in int8_ref.mbqm)."""
    left, right = max(shift, 0), max(-shift, 0)
    y = ((x << left) + (1 << 31)) % (1 << 32) - (1 << 31)
    return _rdbpot(_srdhm(y, multiplier), right)


@dataclass(frozen=True)
class AddTables:
    t1: np.ndarray  # int32 [256], indexed by the input byte as unsigned (0..127, then -128..-1)
    t2: np.ndarray
    shift: int  # k


def _reference(node) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(x1 per input 1 byte, x2 per input 2 byte, the int8 output of every pair [a, b]) for values -128..127."""
    v = np.arange(-128, 128, dtype=np.int64)
    xs = [_mbqm((v + off) << node.left_shift, m, s)
          for off, m, s in zip(node.input_offsets, node.input_multipliers, node.input_shifts, strict=True)]
    total = xs[0][:, None] + xs[1][None, :]
    out = _mbqm(total, node.output_multiplier, node.output_shift) + node.output_offset
    return xs[0], xs[1], np.clip(out, node.act_min, node.act_max)


def _repair(t1: np.ndarray, t2: np.ndarray, lo: np.ndarray, hi: np.ndarray, rounds: int = 64) -> bool:
    """Moves t1, t2 (in place) to satisfy lo[a, b] <= t1[a] + t2[b] <= hi[a, b] for every pair, if they can:
    these are difference constraints on (t1, -t2), solved by Bellman-Ford relaxation from the rounded
    tables, which already meet all but a few (the ties of negative sums). False if `rounds` passes leave
    some unmet."""
    s2 = -t2
    for _ in range(rounds):
        t1_new = np.minimum(t1, (s2[None, :] + hi).min(axis=1))
        s2_new = np.minimum(s2, (t1_new[:, None] - lo).min(axis=0))
        if np.array_equal(t1_new, t1) and np.array_equal(s2_new, s2):
            t2[:] = -s2
            return True
        t1[:], s2 = t1_new, s2_new
    return False


def add_tables(node) -> AddTables | None:
    """The two tables of an AddNode (its TFLite parameters), or None where no fixed point reproduces the
    reference on every input pair (or the output requantization is of a form not folded here)."""
    mo, so = node.output_multiplier, node.output_shift
    if mo <= 0 or so > 0 or node.left_shift != 20:
        return None
    x1, x2, want = _reference(node)
    r = -so
    # u(x) = (x * mo + 2^30 + [r >= 1] 2^(30 + r)) / 2^(31 + r) + offset_o: TFLite's output step for x >= 0
    denom = 1 << (31 + r)
    const = (1 << 30) + ((1 << (30 + r)) if r >= 1 else 0) + node.output_offset * denom
    n1 = [int(x) * mo + const for x in x1]  # Python ints: exact
    n2 = [int(x) * mo for x in x2]
    span = (max(abs(v) for v in n1) + max(abs(v) for v in n2)) / denom + 2
    big = np.int64(1 << 60)
    for k in ADD_TABLE_SHIFTS:
        if span * (1 << k) >= 1 << 31:  # t1 + t2 must not overflow int32
            continue
        t1 = np.array([(v << k) // denom for v in n1], dtype=np.int64)
        t2 = np.array([(v << k) // denom for v in n2], dtype=np.int64)
        # what the kernel's sum may be for each pair: its output's interval of 2^k (open-ended at the
        # saturation and at the activation's clamp)
        lo = np.where(want > max(node.act_min, -128), want << k, -big)
        hi = np.where(want < min(node.act_max, 127), ((want + 1) << k) - 1, big)
        if not _repair(t1, t2, lo, hi) or np.abs(t1).max() + np.abs(t2).max() >= 1 << 31:
            continue
        got = np.clip((t1[:, None] + t2[None, :]) >> k, -128, 127)
        if np.array_equal(np.clip(got, node.act_min, node.act_max), want):
            order = np.r_[128:256, 0:128]  # value -128..127 at index (uint8)value
            return AddTables(t1[order].astype(np.int32), t2[order].astype(np.int32), k)
    return None
