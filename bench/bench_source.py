"""The kernel benchmark's shapes and the C firmware that calls each kernel once on seeded data
(see kernel_bench.py, which builds and runs it)."""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np

from bench.recurrent_rows import RECURRENT, recurrent_macs, recurrent_row
from bench.unary_rows import UNARY, unary_row
from soi_mcu.ops.add_table import add_tables
from soi_mcu.ops.s16w_layout import dw16_stream, pw16_stream, s16w_stream

# Zero points of every conv call (as cmsis_nn_conv_params' input_offset and output_offset).
BENCH_INPUT_OFFSET, BENCH_OUTPUT_OFFSET = 13, -5
OFFSETS = f"{BENCH_INPUT_OFFSET}, {BENCH_OUTPUT_OFFSET}"


@dataclass(frozen=True)
class Shape:
    """One kernel call. kind: conv (wrapper), pwf (the wrapper on a pointwise conv with the input offset
    folded into the bias, as the generator calls it; same data as its conv twin), s16w (soi_conv_s16w_s8,
    same data as the conv named `twin`), dw (depthwise wrapper), dw16 (soi_dw_s16w_s8, same data as its dw
    twin), fc, add, mul (elementwise, cin values; addt: soi_add_table_s8 with the add rows' parameters),
    sigmoid, tanh, ln_ch, ln_frame (w bins of cin values: unary_rows.py), lstm / gru (one step of
    soi_lstm_step_s8 / soi_gru_step_s8: cin inputs, cout hidden)."""

    name: str
    kind: str
    h: int = 1
    w: int = 1
    cin: int = 1
    cout: int = 1
    kh: int = 3
    kw: int = 3
    stride_w: int = 1
    twin: str = ""

    @property
    def pad_w(self) -> int:
        return (self.kw - 1) // 2

    @property
    def out_w(self) -> int:
        return (self.w + 2 * self.pad_w - self.kw) // self.stride_w + 1

    @property
    def out_h(self) -> int:
        return self.h - self.kh + 1

    @property
    def macs(self) -> int:
        if self.kind in ("conv", "pwf", "s16w", "pw16"):
            return self.out_h * self.out_w * self.cout * self.kh * self.kw * self.cin
        if self.kind in ("dw", "dw16"):
            return self.out_h * self.out_w * self.cin * self.kh * self.kw
        if self.kind == "fc":
            return self.cin * self.cout
        if self.kind in RECURRENT:
            return recurrent_macs(self.kind, self.cin, self.cout)
        if self.kind in UNARY:
            return self.w * self.cin  # elements
        return self.cin  # add, mul: elements


SHAPES = (
    Shape("conv3x3 (3,64,1)->8", "conv", 3, 64, 1, 8),
    Shape("conv3x3 (3,64,8)->8", "conv", 3, 64, 8, 8),
    Shape("conv3x3 (3,32,16)->16", "conv", 3, 32, 16, 16),
    Shape("conv3x3 (3,16,32)->32", "conv", 3, 16, 32, 32),
    Shape("conv3x3 (3,8,64)->64", "conv", 3, 8, 64, 64),
    Shape("s16w 3x3 (3,32,16)->16", "s16w", 3, 32, 16, 16, twin="conv3x3 (3,32,16)->16"),
    Shape("s16w 3x3 (3,16,32)->32", "s16w", 3, 16, 32, 32, twin="conv3x3 (3,16,32)->32"),
    Shape("s16w 3x3 (3,8,64)->64", "s16w", 3, 8, 64, 64, twin="conv3x3 (3,8,64)->64"),
    Shape("conv3x3/s2 (3,32,16)->32", "conv", 3, 32, 16, 32, stride_w=2),
    Shape("conv1x1 (1,16,32)->32", "conv", 1, 16, 32, 32, 1, 1),
    Shape("s16w 1x1 (1,16,32)->32", "s16w", 1, 16, 32, 32, 1, 1, twin="conv1x1 (1,16,32)->32"),
    Shape("conv1x1 (1,16,8)->1", "conv", 1, 16, 8, 1, 1, 1),
    Shape("s16w 1x1 (1,16,8)->1", "s16w", 1, 16, 8, 1, 1, 1, twin="conv1x1 (1,16,8)->1"),
    Shape("s16w 3x3 (3,64,1)->8", "s16w", 3, 64, 1, 8, twin="conv3x3 (3,64,1)->8"),
    Shape("dw3x3 (3,32,16)", "dw", 3, 32, 16, 16),
    # One frequency bin (Conv1d TCNs, DS-TCN keyword spotters): features as channels, a pointwise 1x1 conv
    # is a matrix x vector with per-channel requantization, a depthwise conv 3 taps in time per channel.
    Shape("pw 1bin 64->64", "conv", 1, 1, 64, 64, 1, 1),
    Shape("pw 1bin 128->128", "conv", 1, 1, 128, 128, 1, 1),
    Shape("pw 1bin 256->256", "conv", 1, 1, 256, 256, 1, 1),
    Shape("pw 4bin 64->64", "conv", 1, 4, 64, 64, 1, 1),
    Shape("pwf 1bin 64->64", "pwf", 1, 1, 64, 64, 1, 1, twin="pw 1bin 64->64"),
    Shape("pwf 1bin 128->128", "pwf", 1, 1, 128, 128, 1, 1, twin="pw 1bin 128->128"),
    Shape("pwf 1bin 256->256", "pwf", 1, 1, 256, 256, 1, 1, twin="pw 1bin 256->256"),
    Shape("pw16 1bin 64->64", "pw16", 1, 1, 64, 64, 1, 1, twin="pw 1bin 64->64"),
    Shape("pw16 1bin 128->128", "pw16", 1, 1, 128, 128, 1, 1, twin="pw 1bin 128->128"),
    Shape("pw16 1bin 256->256", "pw16", 1, 1, 256, 256, 1, 1, twin="pw 1bin 256->256"),
    Shape("pw16 4bin 64->64", "pw16", 1, 4, 64, 64, 1, 1, twin="pw 4bin 64->64"),
    Shape("pw16 1x1 (1,16,32)->32", "pw16", 1, 16, 32, 32, 1, 1, twin="conv1x1 (1,16,32)->32"),
    Shape("dw3x1 1bin 64", "dw", 3, 1, 64, 64, 3, 1),
    Shape("dw3x1 1bin 128", "dw", 3, 1, 128, 128, 3, 1),
    Shape("dw16 1bin 64", "dw16", 3, 1, 64, 64, 3, 1, twin="dw3x1 1bin 64"),
    Shape("dw16 1bin 128", "dw16", 3, 1, 128, 128, 3, 1, twin="dw3x1 1bin 128"),
    Shape("dw5x1 1bin 64", "dw", 5, 1, 64, 64, 5, 1),
    Shape("dw16 k5 1bin 64", "dw16", 5, 1, 64, 64, 5, 1, twin="dw5x1 1bin 64"),
    Shape("dw10x1 1bin 64", "dw", 10, 1, 64, 64, 10, 1),
    Shape("dw16 k10 1bin 64", "dw16", 10, 1, 64, 64, 10, 1, twin="dw10x1 1bin 64"),
    Shape("dw15x1 1bin 64", "dw", 15, 1, 64, 64, 15, 1),
    Shape("dw16 k15 1bin 64", "dw16", 15, 1, 64, 64, 15, 1, twin="dw15x1 1bin 64"),
    Shape("fc 512->128", "fc", 1, 1, 512, 128),
    Shape("add 32", "add", 1, 1, 32, 32),
    Shape("add 512", "add", 1, 1, 512, 512),
    Shape("add 1024", "add", 1, 1, 1024, 1024),
    Shape("addt 32", "addt", 1, 1, 32, 32, twin="add 32"),
    Shape("addt 1024", "addt", 1, 1, 1024, 1024, twin="add 1024"),
    Shape("mul 32", "mul", 1, 1, 32, 32),
    Shape("mul 1024", "mul", 1, 1, 1024, 1024),
    Shape("sigmoid 64", "sigmoid", 1, 1, 64),
    Shape("tanh 64", "tanh", 1, 1, 64),
    Shape("layernorm ch (1,64)", "ln_ch", 1, 1, 64),
    Shape("layernorm ch (32,16)", "ln_ch", 1, 32, 16),
    Shape("layernorm frame (32,16)", "ln_frame", 1, 32, 16),
    Shape("lstm step 64->64", "lstm", 1, 1, 64, 64),
    Shape("gru step 64->64", "gru", 1, 1, 64, 64),
    Shape("gru step 8->4", "gru", 1, 1, 8, 4),  # GTCRN's cells: its intra-frame GRU's halves
    Shape("gru step 8->8", "gru", 1, 1, 8, 8),
)
# The add rows' TFLite parameters (arm_elementwise_add_s8's arguments in the C below), as an AddNode has them.
BENCH_ADD = SimpleNamespace(input_offsets=(3, -7), input_multipliers=(1 << 30, 1518500250), input_shifts=(0, -1),
                            left_shift=20, output_offset=-2, output_multiplier=1395864371, output_shift=-19,
                            act_min=-128, act_max=127)
# kinds whose MACs column counts elements (figures in cycles per element)
ELEMENTWISE = ("add", "addt", "mul", *UNARY)


def _arr(name: str, ctype: str, values: np.ndarray, const: bool = True) -> str:
    body = ",".join(str(int(v)) for v in values.ravel())
    return f"static {'const ' if const else ''}{ctype} {name}[{values.size}] __attribute__((aligned(4))) = {{{body}}};\n"


def firmware_source(shapes: tuple[Shape, ...] = SHAPES, seed: int = 7) -> str:
    """C source calling every kernel of `shapes` once between the markers; prints a hash of each output."""
    data: list[str] = []
    calls: list[str] = []
    max_buf = 0
    for i, s in enumerate(shapes):
        # One generator per shape (seeded by its name), so a subset gets the same data as the full run.
        rng = np.random.default_rng([seed, *(s.twin or s.name).encode()])
        inp = rng.integers(-128, 128, size=s.h * s.w * s.cin if s.kind not in ("add", "addt", "mul") else s.cin)
        data.append(_arr(f"in{i}", "int8_t", inp))
        if s.kind in ("conv", "pwf", "s16w", "pw16", "dw", "dw16", "fc"):
            k = s.kh * s.kw * s.cin
            dense = s.kind in ("conv", "pwf", "s16w", "pw16")
            depthwise = s.kind in ("dw", "dw16")
            wshape = s.cout * k if dense else (s.kh * s.kw * s.cin if depthwise else s.cin * s.cout)
            nout = s.cout if not depthwise else s.cin
            w = rng.integers(-127, 128, size=wshape)
            bias = rng.integers(-5000, 5000, size=nout)
            mult = rng.integers(1 << 30, (1 << 31) - 1, size=nout)
            macs_per_out = k if dense else (s.kh * s.kw if depthwise else s.cin)
            shift = np.full(nout, -int(np.ceil(np.log2(np.sqrt(macs_per_out) * 64 * 64 / 50.0))))
            if s.kind == "s16w":
                stream = s16w_stream(w.reshape(s.cout, s.kh, s.kw, s.cin).astype(np.int8), bias, mult, shift,
                                     BENCH_INPUT_OFFSET, BENCH_OUTPUT_OFFSET)
                assert stream is not None, s.name
                data.append(_arr(f"w{i}", "int32_t", stream))
            elif s.kind == "pw16":
                stream = pw16_stream(w.reshape(s.cout, 1, 1, s.cin).astype(np.int8), bias, mult, shift,
                                     BENCH_INPUT_OFFSET, BENCH_OUTPUT_OFFSET)
                assert stream is not None, s.name
                data.append(_arr(f"w{i}", "int32_t", stream))
            elif s.kind == "dw16":
                stream = dw16_stream(w.reshape(1, s.kh, s.kw, s.cin).astype(np.int8), bias, mult, shift,
                                     BENCH_INPUT_OFFSET, BENCH_OUTPUT_OFFSET)
                assert stream is not None, s.name
                data.append(_arr(f"w{i}", "int32_t", stream))
            else:
                if s.kind == "pwf":  # sum((x + io) * w) + b = sum(x * w) + (b + io * sum(w)): the same int32 sums
                    bias = bias + BENCH_INPUT_OFFSET * w.reshape(s.cout, -1).sum(axis=1)
                data.append(_arr(f"w{i}", "int8_t", w))
                data.append(_arr(f"b{i}", "int32_t", bias))
                data.append(_arr(f"m{i}", "int32_t", mult))
                data.append(_arr(f"s{i}", "int32_t", shift))
        if s.kind in ("conv", "pwf"):
            nbytes = s.out_h * s.out_w * s.cout
            offsets = OFFSETS if s.kind == "conv" else f"0, {BENCH_OUTPUT_OFFSET}"
            calls.append(f"""    {{
        const cmsis_nn_conv_params p = {{{offsets}, {{{s.stride_w}, 1}}, {{{s.pad_w}, 0}}, {{1, 1}}, {{-128, 127}}}};
        const cmsis_nn_per_channel_quant_params q = {{(int32_t *)m{i}, (int32_t *)s{i}}};
        const cmsis_nn_dims id = {{1, {s.h}, {s.w}, {s.cin}}}, fd = {{{s.cout}, {s.kh}, {s.kw}, {s.cin}}};
        const cmsis_nn_dims bd = {{1, 1, 1, {s.cout}}}, od = {{1, {s.out_h}, {s.out_w}, {s.cout}}};
        cmsis_nn_context ctx = {{scratch, arm_convolve_wrapper_s8_get_buffer_size(&p, &id, &fd, &od)}};
        if (ctx.size > (int32_t)sizeof(scratch)) fail("scratch");
        soi_mark_begin();
        st = arm_convolve_wrapper_s8(&ctx, &p, &q, &id, in{i}, &fd, w{i}, &bd, b{i}, &od, out);
        soi_mark_end();
        report({i}, st, {nbytes});
    }}
""")
            max_buf = max(max_buf, nbytes)
        elif s.kind == "s16w":
            nbytes = s.out_h * s.out_w * s.cout
            calls.append(f"""    {{
        const cmsis_nn_conv_params p = {{{OFFSETS}, {{1, 1}}, {{{s.pad_w}, 0}}, {{1, 1}}, {{-128, 127}}}};
        const cmsis_nn_dims id = {{1, {s.h}, {s.w}, {s.cin}}}, fd = {{{s.cout}, {s.kh}, {s.kw}, {s.cin}}};
        const cmsis_nn_dims od = {{1, {s.out_h}, {s.out_w}, {s.cout}}};
        cmsis_nn_context ctx = {{scratch, soi_conv_s16w_s8_get_buffer_size(&p, &id, &fd)}};
        if (ctx.size == 0 || ctx.size > (int32_t)sizeof(scratch)) fail("scratch");
        soi_mark_begin();
        st = soi_conv_s16w_s8(&ctx, &p, &id, in{i}, &fd, w{i}, &od, out);
        soi_mark_end();
        report({i}, st, {nbytes});
    }}
""")
            max_buf = max(max_buf, nbytes)
        elif s.kind == "pw16":
            nbytes = s.out_h * s.out_w * s.cout
            calls.append(f"""    {{
        const cmsis_nn_conv_params p = {{{OFFSETS}, {{1, 1}}, {{0, 0}}, {{1, 1}}, {{-128, 127}}}};
        const cmsis_nn_dims id = {{1, {s.h}, {s.w}, {s.cin}}}, fd = {{{s.cout}, 1, 1, {s.cin}}};
        const cmsis_nn_dims od = {{1, {s.out_h}, {s.out_w}, {s.cout}}};
        soi_mark_begin();
        st = soi_pw_s16w_s8(&p, &id, in{i}, &fd, w{i}, &od, out);
        soi_mark_end();
        report({i}, st, {nbytes});
    }}
""")
            max_buf = max(max_buf, nbytes)
        elif s.kind == "dw":
            nbytes = s.out_h * s.out_w * s.cin
            calls.append(f"""    {{
        const cmsis_nn_dw_conv_params p = {{{OFFSETS}, 1, {{1, 1}}, {{{s.pad_w}, 0}}, {{1, 1}}, {{-128, 127}}}};
        const cmsis_nn_per_channel_quant_params q = {{(int32_t *)m{i}, (int32_t *)s{i}}};
        const cmsis_nn_dims id = {{1, {s.h}, {s.w}, {s.cin}}}, fd = {{1, {s.kh}, {s.kw}, {s.cin}}};
        const cmsis_nn_dims bd = {{1, 1, 1, {s.cin}}}, od = {{1, {s.out_h}, {s.out_w}, {s.cin}}};
        cmsis_nn_context ctx = {{scratch, arm_depthwise_conv_wrapper_s8_get_buffer_size(&p, &id, &fd, &od)}};
        if (ctx.size > (int32_t)sizeof(scratch)) fail("scratch");
        soi_mark_begin();
        st = arm_depthwise_conv_wrapper_s8(&ctx, &p, &q, &id, in{i}, &fd, w{i}, &bd, b{i}, &od, out);
        soi_mark_end();
        report({i}, st, {nbytes});
    }}
""")
            max_buf = max(max_buf, nbytes)
        elif s.kind == "dw16":
            calls.append(f"""    {{
        const cmsis_nn_dw_conv_params p = {{{OFFSETS}, 1, {{1, 1}}, {{0, 0}}, {{1, 1}}, {{-128, 127}}}};
        const cmsis_nn_dims id = {{1, {s.h}, 1, {s.cin}}}, fd = {{1, {s.kh}, 1, {s.cin}}};
        const cmsis_nn_dims od = {{1, 1, 1, {s.cin}}};
        soi_mark_begin();
        st = soi_dw_s16w_s8(&p, &id, in{i}, &fd, w{i}, &od, out);
        soi_mark_end();
        report({i}, st, {s.cin});
    }}
""")
        elif s.kind == "fc":
            calls.append(f"""    {{
        const cmsis_nn_fc_params p = {{13, 0, -5, {{-128, 127}}}};
        const cmsis_nn_per_tensor_quant_params q = {{m{i}[0], s{i}[0]}};
        const cmsis_nn_dims id = {{1, 1, 1, {s.cin}}}, fd = {{{s.cin}, 1, 1, {s.cout}}};
        const cmsis_nn_dims bd = {{1, 1, 1, {s.cout}}}, od = {{1, 1, 1, {s.cout}}};
        cmsis_nn_context ctx = {{scratch, arm_fully_connected_s8_get_buffer_size(&fd)}};
        if (ctx.size > (int32_t)sizeof(scratch)) fail("scratch");
        if (ctx.size > 0) /* MVE: kernel sums prepared outside the measured call, as TFLM does */
            arm_vector_sum_s8((int32_t *)scratch, {s.cin}, {s.cout}, w{i}, 13, 0, b{i});
        else
            ctx.buf = NULL;
        soi_mark_begin();
        st = arm_fully_connected_s8(&ctx, &p, &q, &id, in{i}, &fd, w{i}, &bd, b{i}, &od, out);
        soi_mark_end();
        report({i}, st, {s.cout});
    }}
""")
        elif s.kind == "mul":
            data.append(_arr(f"in2_{i}", "int8_t", rng.integers(-128, 128, size=s.cin)))
            calls.append(f"""    {{
        soi_mark_begin();
        st = arm_elementwise_mul_s8(in{i}, in2_{i}, 3, -7, out, -2, 1395864371, -8, -128, 127, {s.cin});
        soi_mark_end();
        report({i}, st, {s.cin});
    }}
""")
        elif s.kind in UNARY:
            decls, call = unary_row(i, s.kind, s.w, s.cin, rng, _arr)
            data += decls
            calls.append(call)
        elif s.kind in RECURRENT:
            decls, call = recurrent_row(i, s.kind, s.cin, s.cout, rng, _arr)
            data += decls
            calls.append(call)
        elif s.kind == "addt":
            data.append(_arr(f"in2_{i}", "int8_t", rng.integers(-128, 128, size=s.cin)))
            tables = add_tables(BENCH_ADD)
            assert tables is not None
            data += [_arr(f"t1_{i}", "int32_t", tables.t1), _arr(f"t2_{i}", "int32_t", tables.t2)]
            calls.append(f"""    {{
        static const soi_add_table_params p = {{t1_{i}, {tables.shift}, -128, 127, {s.cin}, t2_{i}}};
        soi_mark_begin();
        st = soi_add_table_s8(&p, in{i}, in2_{i}, out);
        soi_mark_end();
        report({i}, st, {s.cin});
    }}
""")
        else:
            data.append(_arr(f"in2_{i}", "int8_t", rng.integers(-128, 128, size=s.cin)))
            calls.append(f"""    {{
        soi_mark_begin();
        st = arm_elementwise_add_s8(in{i}, in2_{i}, 3, 1073741824, 0, -7, 1518500250, -1, 20, out, -2,
                                    1395864371, -19, -128, 127, {s.cin});
        soi_mark_end();
        report({i}, st, {s.cin});
    }}
""")
    return f"""/* Generated by bench/kernel_bench.py. */
#include <stdint.h>
#include "arm_nnfunctions.h"
#include "soi_add_table.h"
#include "soi_conv_s16w.h"
#include "soi_dw_s16w.h"
#include "soi_gru.h"
#include "soi_layernorm.h"
#include "soi_lstm.h"
#include "soi_pw_s16w.h"
#include "soi_profile.h"
#include "soi_ring.h"
#include "soi_semihost.h"

{''.join(data)}
static int8_t out[{max(4096, max_buf)}] __attribute__((aligned(4)));
static int8_t scratch[16384] __attribute__((aligned(8)));

static void fail(const char *what)
{{
    soi_sh_write0("SOI_ERROR ");
    soi_sh_write0(what);
    soi_sh_write0("\\n");
    soi_sh_exit(2);
}}

/* One line per kernel: index, status, FNV-1a hash of the output bytes. */
static void report(uint32_t idx, arm_cmsis_nn_status st, uint32_t n)
{{
    uint32_t h = 2166136261u;
    for (uint32_t i = 0; i < n; i++) h = (h ^ (uint8_t)out[i]) * 16777619u;
    char line[64], *p = line;
    const char *tag = "BENCH ";
    while (*tag) *p++ = *tag++;
    p = soi_fmt_u32(p, idx);
    *p++ = ' ';
    p = soi_fmt_u32(p, (uint32_t)(st == ARM_CMSIS_NN_SUCCESS ? 0 : 1));
    *p++ = ' ';
    p = soi_fmt_u32(p, h);
    *p++ = '\\n';
    *p = 0;
    soi_sh_write0(line);
}}

int main(void)
{{
    arm_cmsis_nn_status st;
{''.join(calls)}    soi_sh_write0("SOI_DONE\\n");
    return 0;
}}
"""
