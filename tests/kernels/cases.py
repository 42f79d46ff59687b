"""Random, seeded test cases for the kernels: generation, C emission, expected outputs, result parsing."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import reference as ref

# Case kinds; the values are shared with harness.c through the generated cases.h.
KINDS = {
    "CONV_WRAPPER": 0,
    "CONV_S8": 1,
    "CONV_1X1_NOBUF": 2,
    "CONV_1XN": 3,
    "DW": 4,
    "FC": 5,
    "ADD": 6,
    "MUL": 7,
}


@dataclass
class Case:
    kind: str
    d: list[int]
    inp: np.ndarray
    w: np.ndarray | None = None
    bias: np.ndarray | None = None
    mult: np.ndarray | None = None
    shift: np.ndarray | None = None
    in2: np.ndarray | None = None
    expected: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int8))
    scratch: int = 0  # upper bound of the scratch the harness may hand out


def _quant(rng: np.random.Generator, n: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Multipliers in [2^30, 2^31) and shifts that bring a K-long int8 dot product near int8 range,
    with jitter so some outputs saturate; a few extreme shifts for the rounding edges."""
    mult = rng.integers(1 << 30, 1 << 31, size=n, dtype=np.int64)
    typical = max(1.0, math.sqrt(k) * 74.0 * 74.0)
    centre = round(math.log2(60.0 / (0.75 * typical)))
    shift = centre + rng.integers(-3, 4, size=n)
    extreme = rng.random(n) < 0.05
    shift[extreme] = rng.choice([-31, -30, 0, 1], size=int(extreme.sum()))
    # Rows with a right shift of 1 and a multiplier scaled down to keep the outputs in range: every other
    # value is a tie there, where rounding half away from zero shows (the fast requantization's edge).
    ties = rng.random(n) < 0.1
    shift[ties] = -1
    mult[ties] = np.round(60.0 / (0.75 * typical) * 2.0**32).astype(np.int64)
    return mult, np.clip(shift, -31, 30).astype(np.int64)


def _act(rng: np.random.Generator) -> tuple[int, int]:
    if rng.random() < 0.5:
        return -128, 127
    lo = int(rng.integers(-128, 60))
    return lo, int(rng.integers(lo, 128))


def _out_size(size: int, k: int, stride: int, dil: int, same: bool) -> tuple[int, int]:
    """TFLite VALID / SAME output size and leading pad."""
    eff = dil * (k - 1) + 1
    if same:
        out = (size + stride - 1) // stride
        return out, max(0, ((out - 1) * stride + eff - size) // 2)
    return (size - eff) // stride + 1, 0


def _conv_like(rng: np.random.Generator, kind: str) -> Case:
    """Conv / depthwise geometry; returns a Case with d[] filled (layout documented in harness.c)."""
    while True:
        n = 1 if rng.random() < 0.85 else 2
        kh, kw = (int(v) for v in rng.integers(1, 6, size=2))
        sh, sw = (int(v) for v in rng.integers(1, 4, size=2))
        dh, dw = (int(v) if rng.random() < 0.3 else 1 for v in rng.integers(1, 4, size=2))
        if kind in ("CONV_1X1_NOBUF",):
            kh = kw = 1
            dh = dw = 1
            sh = sw = 1
        if kind == "CONV_1XN":
            kh, dh = 1, 1
        h = 1 if kind == "CONV_1XN" else int(rng.integers(1, 8))
        w = int(rng.integers(1, 10))
        same = bool(rng.random() < 0.5) and kind != "CONV_1X1_NOBUF"
        oh, ph = _out_size(h, kh, sh, dh, same and kind != "CONV_1XN")
        ow, pw = _out_size(w, kw, sw, dw, same)
        if oh >= 1 and ow >= 1:
            break
    if kind == "DW":
        c_in = int(rng.integers(1, 25))
        cm = int(rng.choice([1, 1, 1, 2, 3]))
        c_out, third = c_in * cm, cm
    else:
        groups = int(rng.choice([1, 1, 1, 2, 3])) if kind in ("CONV_WRAPPER", "CONV_S8") else 1
        cg = int(rng.integers(1, 41 if groups == 1 else 14))
        c_in = cg * groups
        c_out = groups * int(rng.integers(1, 41 // groups + 1))
        if groups == 1 and rng.random() < 0.15:
            # More output channels than the MVE kernel-sum chunk (64), odd counts included.
            c_out = int(rng.integers(65, 140))
        third = cg
    in_off = int(rng.integers(-127, 129))
    out_off = int(rng.integers(-128, 128))
    lo, hi = _act(rng)
    d = [n, h, w, c_in, kh, kw, third, oh, ow, c_out, sh, sw, ph, pw, dh, dw, in_off, out_off, lo, hi]
    return Case(kind, d, rng.integers(-128, 128, size=(n, h, w, c_in), dtype=np.int8))


def _geometry(d: list[int]) -> dict:
    return {
        "stride_h": d[10],
        "stride_w": d[11],
        "pad_h": d[12],
        "pad_w": d[13],
        "dil_h": d[14],
        "dil_w": d[15],
        "input_offset": d[16],
        "output_offset": d[17],
        "act_min": d[18],
        "act_max": d[19],
        "out_h": d[7],
        "out_w": d[8],
    }


def make_conv(rng: np.random.Generator, kind: str) -> Case:
    c = _conv_like(rng, kind)
    d = c.d
    c_out, kh, kw, cg = d[9], d[4], d[5], d[6]
    c.w = rng.integers(-128, 128, size=(c_out, kh, kw, cg), dtype=np.int8)
    k = kh * kw * cg
    c.bias = None if rng.random() < 0.1 else rng.integers(-(1 << 16), 1 << 16, size=c_out).astype(np.int32)
    c.mult, c.shift = _quant(rng, c_out, k)
    c.expected = ref.conv_s8(c.inp, c.w, c.bias, c.mult, c.shift, _geometry(d))
    c.scratch = max(4 * k + 4, row_scratch(kh, kw, cg))
    return c


def row_scratch(kh: int, kw: int, c_in: int) -> int:
    """Mirror of soi_nn_conv_row_buffer_size (direct KW = 3 kernel of the C / DSP path)."""
    if kw != 3 or not 1 <= kh <= 8 or c_in % 8 != 0:
        return 0
    return kh * (c_in // 2) * 10 * 4 + 4


def make_row_conv(rng: np.random.Generator) -> Case:
    """A conv the direct KW = 3 kernel takes (C_IN % 8 == 0, stride_w 1, dilation_w 1, no groups) or
    just misses (out_w < 4, stride_w 3, dilation_w 2); stride_w 1 and 2; C_IN % 8 == 0 (chunks of 8,
    16 and 32 channels): streaming-step shapes (H = 3 -> 1) and others."""
    while True:
        n = 1 if rng.random() < 0.85 else 2
        c_in = int(rng.choice([8, 16, 24, 32, 40, 48, 64]))
        kh = int(rng.choice([3, 3, 1, 2, 4]))
        kw = 3
        sh = int(rng.choice([1, 1, 2]))
        sw = int(rng.choice([1, 1, 2, 3]))
        dh = 1 if rng.random() < 0.8 else 2
        dw = 1 if rng.random() < 0.9 else 2
        stream = rng.random() < 0.5
        h = kh if stream else int(rng.integers(1, 7))
        w = int(rng.integers(1, 26))
        same_h = not stream and bool(rng.random() < 0.5)
        same_w = bool(rng.random() < 0.7)
        oh, ph = _out_size(h, kh, sh, dh, same_h)
        ow, pw = _out_size(w, kw, sw, dw, same_w)
        if oh >= 1 and ow >= 1:
            break
    c_out = int(rng.choice([1, 3, 8, 13, 16, 24, 33]))
    in_off = int(rng.integers(-127, 129))
    out_off = int(rng.integers(-128, 128))
    lo, hi = _act(rng)
    d = [n, h, w, c_in, kh, kw, c_in, oh, ow, c_out, sh, sw, ph, pw, dh, dw, in_off, out_off, lo, hi]
    kind = "CONV_WRAPPER" if rng.random() < 0.7 else "CONV_S8"
    c = Case(kind, d, rng.integers(-128, 128, size=(n, h, w, c_in), dtype=np.int8))
    c.w = rng.integers(-128, 128, size=(c_out, kh, kw, c_in), dtype=np.int8)
    k = kh * kw * c_in
    c.bias = None if rng.random() < 0.1 else rng.integers(-(1 << 16), 1 << 16, size=c_out).astype(np.int32)
    c.mult, c.shift = _quant(rng, c_out, k)
    c.expected = ref.conv_s8(c.inp, c.w, c.bias, c.mult, c.shift, _geometry(d))
    c.scratch = max(4 * k + 4, row_scratch(kh, kw, c_in))
    return c


def make_dw(rng: np.random.Generator) -> Case:
    c = _conv_like(rng, "DW")
    d = c.d
    kh, kw, c_out = d[4], d[5], d[9]
    c.w = rng.integers(-128, 128, size=(1, kh, kw, c_out), dtype=np.int8)
    c.bias = None if rng.random() < 0.1 else rng.integers(-(1 << 16), 1 << 16, size=c_out).astype(np.int32)
    c.mult, c.shift = _quant(rng, c_out, kh * kw)
    c.expected = ref.depthwise_conv_s8(c.inp, c.w, c.bias, c.mult, c.shift, {**_geometry(d), "ch_mult": d[6]})
    return c


def make_dw_row(rng: np.random.Generator) -> Case:
    """A depthwise conv for the row kernel of the DSP path (ch_mult 1, KW 3, stride_w 1, dilation_w 1) or
    just outside it (ch_mult 2, dilation_w 2, out_w > 72): streaming shapes (H = KH) and others."""
    while True:
        n = 1 if rng.random() < 0.85 else 2
        kh = int(rng.choice([3, 3, 1, 2]))
        sh = int(rng.choice([1, 1, 2]))
        dh = 1 if rng.random() < 0.8 else 2
        dw = 1 if rng.random() < 0.9 else 2
        stream = rng.random() < 0.5
        h = kh if stream else int(rng.integers(1, 6))
        w = int(rng.integers(1, 40)) if rng.random() < 0.85 else int(rng.integers(60, 80))
        oh, ph = _out_size(h, kh, sh, dh, not stream and bool(rng.random() < 0.5))
        ow, pw = _out_size(w, 3, 1, dw, bool(rng.random() < 0.7))
        if oh >= 1 and ow >= 1:
            break
    c_in = int(rng.integers(1, 40))
    cm = 1 if rng.random() < 0.85 else 2
    c_out = c_in * cm
    in_off = int(rng.integers(-127, 129))
    out_off = int(rng.integers(-128, 128))
    lo, hi = _act(rng)
    d = [n, h, w, c_in, kh, 3, cm, oh, ow, c_out, sh, 1, ph, pw, dh, dw, in_off, out_off, lo, hi]
    c = Case("DW", d, rng.integers(-128, 128, size=(n, h, w, c_in), dtype=np.int8))
    c.w = rng.integers(-128, 128, size=(1, kh, 3, c_out), dtype=np.int8)
    c.bias = None if rng.random() < 0.1 else rng.integers(-(1 << 16), 1 << 16, size=c_out).astype(np.int32)
    c.mult, c.shift = _quant(rng, c_out, kh * 3)
    c.expected = ref.depthwise_conv_s8(c.inp, c.w, c.bias, c.mult, c.shift, {**_geometry(d), "ch_mult": cm})
    return c


def make_dw_column(rng: np.random.Generator) -> Case:
    """A depthwise conv over one frequency bin (Conv1d models): one column, 1-wide filter, taps in time over
    the whole streaming window (H = (KH - 1) * dilation + 1), ch_mult 1 (soi_nn_dw_column.c), channel counts
    on and off the 4-channel groups."""
    n = 1 if rng.random() < 0.85 else 2
    kh = int(rng.choice([1, 2, 3, 3, 5]))
    dh = int(rng.choice([1, 1, 2, 4]))
    h = (kh - 1) * dh + 1
    c_in = int(rng.choice([1, 3, 4, 8, 13, 16, 64, int(rng.integers(1, 130))]))
    in_off = int(rng.integers(-127, 129))
    out_off = int(rng.integers(-128, 128))
    lo, hi = _act(rng)
    d = [n, h, 1, c_in, kh, 1, 1, 1, 1, c_in, 1, 1, 0, 0, dh, 1, in_off, out_off, lo, hi]
    c = Case("DW", d, rng.integers(-128, 128, size=(n, h, 1, c_in), dtype=np.int8))
    c.w = rng.integers(-128, 128, size=(1, kh, 1, c_in), dtype=np.int8)
    c.bias = None if rng.random() < 0.1 else rng.integers(-(1 << 16), 1 << 16, size=c_in).astype(np.int32)
    c.mult, c.shift = _quant(rng, c_in, kh)
    c.expected = ref.depthwise_conv_s8(c.inp, c.w, c.bias, c.mult, c.shift, {**_geometry(d), "ch_mult": 1})
    return c


def make_fc(rng: np.random.Generator) -> Case:
    b = int(rng.integers(1, 6))
    k = int(rng.integers(1, 81))
    rows = int(rng.integers(1, 41))
    w_off = 0 if rng.random() < 0.7 else int(rng.integers(-20, 21))
    lo, hi = _act(rng)
    mult, shift = _quant(rng, 1, k)
    d = [
        b,
        k,
        rows,
        int(rng.integers(-127, 129)),
        w_off,
        int(rng.integers(-128, 128)),
        lo,
        hi,
        int(mult[0]),
        int(shift[0]),
    ]
    c = Case("FC", d, rng.integers(-128, 128, size=(b, k), dtype=np.int8))
    c.w = rng.integers(-128, 128, size=(rows, k), dtype=np.int8)
    c.bias = None if rng.random() < 0.1 else rng.integers(-(1 << 16), 1 << 16, size=rows).astype(np.int32)
    p = {
        "input_offset": d[3],
        "filter_offset": d[4],
        "output_offset": d[5],
        "act_min": lo,
        "act_max": hi,
        "mult": d[8],
        "shift": d[9],
    }
    c.expected = ref.fully_connected_s8(c.inp, c.w, c.bias, p)
    c.scratch = 4 * rows
    return c


ADD_KEYS = ("in1_offset", "in1_mult", "in1_shift", "in2_offset", "in2_mult", "in2_shift", "left_shift", "out_offset",
            "out_mult", "out_shift", "act_min", "act_max")


def _tflite_add(rng: np.random.Generator, p: dict) -> None:
    """The parameters TFLite derives for ADD and SUB (the kernels' fast path): one input at multiplier 2^30,
    shift 0, the other below it, its multiplier negated for SUB; sometimes a multiplier with 10 trailing
    zeros, where the doubling high multiply meets exact halves, and the larger input second."""
    unit, other = ("in1", "in2") if rng.random() < 0.5 else ("in2", "in1")
    p[f"{unit}_mult"], p[f"{unit}_shift"] = 1 << 30, 0
    p[f"{other}_shift"] = int(rng.integers(-4, 0))
    if rng.random() < 0.3:
        p[f"{other}_mult"] = (2 * int(rng.integers(1 << 19, (1 << 20) - 1)) + 1) * 1024  # odd multiple of 2^10
    if rng.random() < 0.5:  # SUB: input 2's multiplier negated
        p["in2_mult"] = -p["in2_mult"]
    p["out_shift"] = int(rng.integers(-22, -17))


def make_mul(rng: np.random.Generator) -> Case:
    """TFLite int8 MUL: offsets, one multiplier and shift; some multipliers of 2^30 (exact halves)."""
    size = int(rng.integers(1, 200))
    lo, hi = _act(rng)
    p = {
        "in1_offset": int(rng.integers(-127, 129)),
        "in2_offset": int(rng.integers(-127, 129)),
        "out_offset": int(rng.integers(-128, 128)),
        "out_mult": int(rng.integers(1 << 30, 1 << 31)) if rng.random() < 0.8 else 1 << 30,
        "out_shift": int(rng.integers(-10, -5)) if rng.random() < 0.9 else int(rng.integers(-2, 2)),
        "act_min": lo,
        "act_max": hi,
    }
    d = [size] + [p[k] for k in ("in1_offset", "in2_offset", "out_offset", "out_mult", "out_shift", "act_min", "act_max")]
    c = Case("MUL", d, rng.integers(-128, 128, size=size, dtype=np.int8))
    c.in2 = rng.integers(-128, 128, size=size, dtype=np.int8)
    c.expected = ref.elementwise_mul_s8(c.inp, c.in2, p)
    return c


def make_add(rng: np.random.Generator) -> Case:
    size = int(rng.integers(1, 200))
    lo, hi = _act(rng)
    # TFLite-like: input shifts <= 0 on a 2^20-scaled value, output shift brings the sum back.
    p = {
        "in1_offset": int(rng.integers(-127, 129)),
        "in1_mult": int(rng.integers(1 << 30, 1 << 31)),
        "in1_shift": int(rng.integers(-3, 1)),
        "in2_offset": int(rng.integers(-127, 129)),
        "in2_mult": int(rng.integers(1 << 30, 1 << 31)),
        "in2_shift": int(rng.integers(-3, 1)),
        "left_shift": 20,
        "out_offset": int(rng.integers(-128, 128)),
        "out_mult": int(rng.integers(1 << 30, 1 << 31)),
        "out_shift": int(rng.integers(-21, -16)),
        "act_min": lo,
        "act_max": hi,
    }
    d = [size] + [
        p[k]
        for k in (
            "in1_offset",
            "in1_mult",
            "in1_shift",
            "in2_offset",
            "in2_mult",
            "in2_shift",
            "left_shift",
            "out_offset",
            "out_mult",
            "out_shift",
            "act_min",
            "act_max",
        )
    ]
    if rng.random() < 0.6:
        _tflite_add(rng, p)
        d = [size] + [p[k] for k in ADD_KEYS]
    c = Case("ADD", d, rng.integers(-128, 128, size=size, dtype=np.int8))
    c.in2 = rng.integers(-128, 128, size=size, dtype=np.int8)
    c.expected = ref.elementwise_add_s8(c.inp, c.in2, p)
    return c


def make_cases(seed: int, per_family: int) -> list[Case]:
    """per_family cases for each of conv (wrapper + direct entry points), depthwise, FC, add (and sub) and mul."""
    rng = np.random.default_rng(seed)
    conv_kinds = ["CONV_WRAPPER", "CONV_WRAPPER", "CONV_S8", "CONV_1X1_NOBUF", "CONV_1XN"]
    cases = [make_conv(rng, conv_kinds[i % len(conv_kinds)]) for i in range(per_family)]
    cases += [make_dw(rng) for _ in range(per_family)]
    cases += [make_fc(rng) for _ in range(per_family)]
    cases += [make_add(rng) for _ in range(per_family)]
    # Drawn last so that the cases above stay the same for a given seed.
    cases += [make_row_conv(rng) for _ in range(max(8, per_family // 2))]
    cases += [make_dw_row(rng) for _ in range(max(8, per_family // 3))]
    cases += [make_mul(rng) for _ in range(per_family)]
    cases += [make_dw_column(rng) for _ in range(max(8, per_family // 3))]
    return cases


def _c_array(name: str, ctype: str, values: np.ndarray | None) -> str:
    if values is None:
        return ""
    body = ",".join(str(int(v)) for v in values.reshape(-1))
    return f"static const {ctype} {name}[] = {{{body}}};\n"


def write_sources(cases: list[Case], out_dir: Path) -> None:
    """Writes cases.h / cases.c for harness.c."""
    max_out = max(c.expected.size for c in cases)
    scratch = max(c.scratch for c in cases) + 8
    kinds = "\n".join(f"#define SOI_T_{k} {v}" for k, v in KINDS.items())
    (out_dir / "cases.h").write_text(
        "#ifndef SOI_TEST_CASES_H\n#define SOI_TEST_CASES_H\n#include <stdint.h>\n"
        f"{kinds}\n#define SOI_T_NUM_CASES {len(cases)}\n#define SOI_T_MAX_OUT {max_out}\n"
        f"#define SOI_T_SCRATCH {scratch}\n"
        "typedef struct { int32_t kind; int32_t d[20]; const int8_t *in, *in2, *w;\n"
        "  const int32_t *bias, *mult, *shift; int32_t out_len; } soi_test_case;\n"
        "extern const soi_test_case soi_test_cases[SOI_T_NUM_CASES];\n#endif\n"
    )
    parts = ['#include "cases.h"\n']
    rows = []
    for i, c in enumerate(cases):
        parts.append(_c_array(f"in{i}", "int8_t", c.inp))
        parts.append(_c_array(f"in2_{i}", "int8_t", c.in2))
        parts.append(_c_array(f"w{i}", "int8_t", c.w))
        parts.append(_c_array(f"b{i}", "int32_t", c.bias))
        parts.append(_c_array(f"m{i}", "int32_t", c.mult))
        parts.append(_c_array(f"s{i}", "int32_t", c.shift))

        def ref_or_null(name: str, arr: np.ndarray | None) -> str:
            return name if arr is not None else "0"

        d = ",".join(str(v) for v in c.d + [0] * (20 - len(c.d)))
        rows.append(
            f"{{{KINDS[c.kind]},{{{d}}},in{i},{ref_or_null(f'in2_{i}', c.in2)},{ref_or_null(f'w{i}', c.w)},"
            f"{ref_or_null(f'b{i}', c.bias)},{ref_or_null(f'm{i}', c.mult)},{ref_or_null(f's{i}', c.shift)},"
            f"{c.expected.size}}}"
        )
    parts.append("const soi_test_case soi_test_cases[SOI_T_NUM_CASES] = {\n" + ",\n".join(rows) + "\n};\n")
    (out_dir / "cases.c").write_text("".join(parts))


def check_output(cases: list[Case], text: str) -> list[str]:
    """Compares harness output with the expected results; returns human-readable failures."""
    failures = [line for line in text.splitlines() if line.startswith("E ")]
    seen = set()
    for line in text.splitlines():
        if not line.startswith("R "):
            continue
        _, idx_s, status_s, *rest = line.split(" ")
        idx = int(idx_s)
        seen.add(idx)
        c = cases[idx]
        got = np.frombuffer(bytes.fromhex(rest[0] if rest else ""), dtype=np.int8)
        if int(status_s) != 0:
            failures.append(f"case {idx} ({c.kind} d={c.d}): status {status_s}")
        elif not np.array_equal(got, c.expected.reshape(-1)):
            bad = int(np.count_nonzero(got != c.expected.reshape(-1)))
            failures.append(f"case {idx} ({c.kind} d={c.d}): {bad}/{got.size} outputs differ")
    missing = set(range(len(cases))) - seen
    if missing or "DONE" not in text:
        failures.append(f"harness did not finish; missing cases {sorted(missing)[:10]}")
    return failures
