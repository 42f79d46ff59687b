"""soi_conv_s16w_s8 against the project's arm_convolve_wrapper_s8 (itself bit-exact with LiteRT) on random
shapes and quantizations: on the host (its C path, under AddressSanitizer and UBSan) and in QEMU on the
three DSP cores (its assembly). Covers what generated models rarely reach: biases at the bound of the fast
requantization, right shifts of 1 (ties in every other value) and 21, zero multipliers, activation ranges
narrower than int8, widths from 1 to 14, kh 1..3 with dilation, lane counts on and off the unrolled pass,
1 to 3 input channels (filter rows folded into the channels), 1-wide filters;
and a stream whose header does not match the call."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

from soi_mcu.ops.s16w_layout import s16w_stream
from soi_mcu.paths import FIRMWARE_DIR, kernel_include_dirs, kernel_sources
from soi_mcu.target.boards import load_board
from soi_mcu.target.link import link_command
from soi_mcu.target.qemu import board_qemu_command

from .conftest import have

CASES = 40


def _arr(name: str, ctype: str, values: np.ndarray) -> str:
    body = ",".join(str(int(v)) for v in np.asarray(values).ravel()) or "0"
    return f"static const {ctype} {name}[] __attribute__((aligned(4))) = {{{body}}};\n"


def _quantization(rng: np.random.Generator, i: int, cout: int, taps: int) -> tuple[np.ndarray, ...]:
    """bias, multipliers, shifts that the stream takes, with edge values on some cases.

    Most channels get a scale that keeps the outputs inside int8 (so rounding is visible, not hidden by
    saturation): multiplier = scale * 2^(31 + r) for a right shift r of 1..8, unnormalized where r is
    small, which the kernels take like any other. With r = 1 every other value is a tie, where rounding
    half away from zero matters."""
    limit = (1 << 30) - taps * 255 * 128 - 1  # largest |bias| the fast requantization is exact for
    if i % 7 == 3:
        bias = rng.choice([-1, 1], size=cout) * (limit - rng.integers(0, 10, size=cout))
    else:
        bias = rng.integers(-20000, 20000, size=cout)
    scale = 48.0 / (np.sqrt(taps) * 74.0 * 74.0)  # accumulator std (uniform int8 data) -> about 48
    shift = -rng.integers(1, 9, size=cout)
    if i % 4 == 2:
        shift[:] = -1
    mult = np.minimum(np.round(scale * 2.0 ** (31 - shift)), (1 << 31) - 1).astype(np.int64)
    if i % 6 == 5:  # normalized multipliers and any shift, as TFLite makes them (mostly saturated here)
        mult = rng.integers(1 << 30, (1 << 31) - 1, size=cout)
        shift = rng.integers(-21, 0, size=cout)
    if i % 5 == 1:
        shift[rng.integers(0, cout)] = -21
    if i % 11 == 5:
        mult[rng.integers(0, cout)] = 0
    return bias, mult, shift


def _source(seed: int = 3) -> str:
    rng = np.random.default_rng(seed)
    data, calls = [], []
    for i in range(CASES):
        kh = int(rng.integers(1, 4))
        dil = int(rng.integers(1, 3)) if kh > 1 else 1
        h = (kh - 1) * dil + 1 + int(rng.integers(0, 2))
        w = int(rng.integers(1, 15))
        cin = int(rng.choice([1, 2, 3, 4, 8, 12, 16, 20, 24, 32, 40, 64]))  # 1..3: rows folded into channels
        cout = int(rng.choice([1, 2, 3, 5, 8, 9, 16]))
        kw = 1 if i % 4 == 3 else 3  # 1: runs as 3 with zero outer taps
        pad = int(rng.integers(0, 3)) if w > 1 else 1
        out_w = w + 2 * pad - 2
        if out_w < 1:
            pad, out_w = 1, w
        if kw == 1:
            pad, out_w = 0, w
        out_h = h - (kh - 1) * dil
        inp = rng.integers(-128, 128, size=h * w * cin)
        wts = rng.integers(-128, 128, size=(cout, kh, kw, cin)).astype(np.int8)
        bias, mult, shift = _quantization(rng, i, cout, kh * kw * cin)
        lo = int(rng.choice([-128, -128, int(rng.integers(-128, 0))]))
        hi = int(rng.choice([127, 127, int(rng.integers(lo + 1, 128))]))
        in_off, out_off = int(rng.integers(-127, 129)), int(rng.integers(-128, 128))
        stream = s16w_stream(wts, bias, mult, shift, in_off, out_off)
        assert stream is not None, i
        data += [_arr(f"in{i}", "int8_t", inp), _arr(f"w{i}", "int8_t", wts), _arr(f"stream{i}", "int32_t", stream),
                 _arr(f"b{i}", "int32_t", bias), _arr(f"m{i}", "int32_t", mult), _arr(f"s{i}", "int32_t", shift)]
        calls.append(f"""    {{
        const cmsis_nn_conv_params p = {{{in_off}, {out_off}, {{1, 1}}, {{{pad}, 0}}, {{1, {dil}}}, {{{lo}, {hi}}}}};
        const cmsis_nn_per_channel_quant_params q = {{(int32_t *)m{i}, (int32_t *)s{i}}};
        const cmsis_nn_dims id = {{1, {h}, {w}, {cin}}}, fd = {{{cout}, {kh}, {kw}, {cin}}};
        const cmsis_nn_dims bd = {{1, 1, 1, {cout}}}, od = {{1, {out_h}, {out_w}, {cout}}};
        cmsis_nn_context c1 = {{scratch, arm_convolve_wrapper_s8_get_buffer_size(&p, &id, &fd, &od)}};
        cmsis_nn_context c2 = {{scratch, soi_conv_s16w_s8_get_buffer_size(&p, &id, &fd)}};
        const int n = {out_h * out_w * cout};
        memset(ref, 0x55, sizeof(ref));
        memset(got, 0x55, sizeof(got));
        int st1 = arm_convolve_wrapper_s8(&c1, &p, &q, &id, in{i}, &fd, w{i}, &bd, b{i}, &od, ref);
        int st2 = soi_conv_s16w_s8(&c2, &p, &id, in{i}, &fd, stream{i}, &od, got);
        check({i}, st1 == 0 && st2 == 0 && c2.size > 0 && c2.size <= (int32_t)sizeof(scratch) &&
                   memcmp(ref, got, sizeof(ref)) == 0, n);
        /* the same stream with another input offset than the one folded into it: refused, nothing written */
        if ({i} == 0) {{
            cmsis_nn_conv_params wrong = p;
            wrong.input_offset += 1;
            memset(got, 0x55, sizeof(got));
            check({CASES}, soi_conv_s16w_s8(&c2, &wrong, &id, in{i}, &fd, stream{i}, &od, got) == ARM_CMSIS_NN_ARG_ERROR &&
                           got[0] == 0x55, 0);
        }}
    }}
""")
    return f"""/* Generated by tests/test_s16w_kernel.py. */
#include <stdint.h>
#include <string.h>
#include "arm_nnfunctions.h"
#include "soi_conv_s16w.h"
#include "soi_semihost.h"

{''.join(data)}
static int8_t ref[4096], got[4096];
static int32_t scratch[4096];
static int failures;

static void check(int i, int ok, int n)
{{
    char line[48], *p = line;
    const char *tag = ok ? "CASE_OK " : "CASE_BAD ";
    while (*tag) *p++ = *tag++;
    p = soi_fmt_u32(p, (uint32_t)i);
    *p++ = ' ';
    p = soi_fmt_u32(p, (uint32_t)n);
    *p++ = '\\n';
    *p = 0;
    soi_sh_write0(line);
    failures += !ok;
}}

int main(void)
{{
{''.join(calls)}    soi_sh_write0(failures ? "SOI_FAILED\\n" : "SOI_DONE\\n");
    soi_sh_exit(failures ? 1 : 0);
    return 0;
}}
"""


def _check_log(log: str) -> None:
    bad = [ln for ln in log.splitlines() if ln.startswith("CASE_BAD")]
    ok = [ln for ln in log.splitlines() if ln.startswith("CASE_OK")]
    assert not bad and len(ok) == CASES + 1, f"{len(ok)} cases agree, these differ: {bad}\n{log[-2000:]}"


@pytest.mark.skipif(not have("gcc"), reason="host gcc not installed")
@pytest.mark.parametrize("defines", [(), ("-DSOI_NN_EMULATE_DSP",)], ids=["c", "dsp_emulated"])
def test_s16w_equals_the_cmsis_style_kernel_on_host(defines: tuple[str, ...], tmp_path: Path) -> None:
    src = tmp_path / "case.c"
    src.write_text(_source())
    # soi_semihost on the host: a stand-in that prints to stdout
    shim = tmp_path / "shim.c"
    shim.write_text('#include <stdio.h>\n#include <stdlib.h>\n#include <stdint.h>\n'
                    'void soi_sh_write0(const char *s) { fputs(s, stdout); }\n'
                    'void soi_sh_exit(int code) { exit(code); }\n'
                    'char *soi_fmt_u32(char *p, uint32_t v) { return p + sprintf(p, "%u", v); }\n')
    (tmp_path / "soi_semihost.h").write_text('#include <stdint.h>\nvoid soi_sh_write0(const char *s);\n'
                                             'void soi_sh_exit(int code);\nchar *soi_fmt_u32(char *p, uint32_t v);\n')
    exe = tmp_path / "case"
    cmd = ["gcc", "-O1", "-g", "-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-std=c11", "-Wall",
           "-Wextra", "-Werror", *defines, f"-I{tmp_path}", *(f"-I{d}" for d in kernel_include_dirs()),
           str(src), str(shim), *map(str, kernel_sources()), "-o", str(exe)]
    res = subprocess.run(cmd, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr[-3000:]
    run = subprocess.run([str(exe)], capture_output=True, text=True, timeout=120)
    _check_log(run.stdout + run.stderr)
    assert run.returncode == 0


@pytest.mark.skipif(not have("arm-none-eabi-gcc", "qemu-system-arm"), reason="needs arm-none-eabi-gcc and qemu-system-arm")
@pytest.mark.parametrize("board_name", ["mps2-an386", "mps2-an500", "mps2-an505"])
def test_s16w_assembly_equals_the_cmsis_style_kernel_in_qemu(board_name: str, tmp_path: Path) -> None:
    board = load_board(board_name)
    src = tmp_path / "case.c"
    src.write_text(_source())
    elf = tmp_path / "case.elf"
    cmd = link_command(board, [src, *kernel_sources()], tmp_path, elf,
                       cflags=["-O2", "-Wall", "-Wextra", "-Werror", "-ffunction-sections", "-fdata-sections"],
                       includes=[*kernel_include_dirs(), FIRMWARE_DIR / "runtime"])
    res = subprocess.run(cmd, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr[-3000:]
    run = subprocess.run(board_qemu_command(board, elf), capture_output=True, text=True, timeout=300)
    _check_log(run.stdout + run.stderr)


def test_the_stream_is_refused_where_the_fast_requantization_would_not_be_exact() -> None:
    rng = np.random.default_rng(0)
    wts = rng.integers(-128, 128, size=(2, 3, 3, 8)).astype(np.int8)
    ok = dict(bias=np.array([5, -5]), multipliers=[1 << 30, 1 << 30], shifts=[-1, -21], input_offset=3,
              output_offset=-4)
    assert s16w_stream(wts, **ok) is not None
    for change in (dict(shifts=[0, -3]), dict(shifts=[-3, 2]), dict(shifts=[-22, -3]),
                   dict(multipliers=[1 << 30, -5]), dict(bias=np.array([5, (1 << 30) - 72 * 255 * 128]))):
        assert s16w_stream(wts, **(ok | change)) is None, change


def test_stream_layout() -> None:
    """Header, start value with the input offset folded in, doubled taps in lane order, constants."""
    wts = np.arange(-48, 48).reshape(2, 2, 3, 8).astype(np.int8)
    s = s16w_stream(wts, np.array([7, -9]), [1 << 30, 3 << 29], [-4, -6], input_offset=5, output_offset=-2)
    assert s is not None
    lanes = 2 * 8 // 2
    assert list(s[:5]) == [0x57363153, 2, lanes, 5, -2]
    per = 1 + 3 * lanes + 3
    assert s.size == 5 + 2 * per
    m1 = s[5 + per: 5 + 2 * per]
    assert m1[0] == 2 * (-9 + 5 * int(wts[1].astype(np.int64).sum()))
    # lane 0 of channel 1: ky 0, channels (0, 2), taps kx 0..2
    first = m1[1:4].view(np.int16).reshape(3, 2)
    assert (first == 2 * wts[1, 0, :, [0, 2]].T).all()
    assert list(m1[-3:]) == [3 << 29, (1 << 5) + (-2 << 6), 6]


def test_stream_layout_with_rows_folded_into_channels() -> None:
    """cin < 4: one row of virtual channels v = ky * cin + c, zero taps up to a multiple of 4."""
    wts = np.arange(1, 1 + 2 * 3 * 3 * 1).reshape(2, 3, 3, 1).astype(np.int8)  # cout 2, kh 3, cin 1
    s = s16w_stream(wts, np.array([0, 0]), [1 << 30] * 2, [-4, -4], input_offset=0, output_offset=0)
    assert s is not None
    assert s[2] == 2  # 4 virtual channels (ky 0..2 and a zero one): 2 lanes
    taps = s[6:6 + 6].view(np.int16).reshape(2, 3, 2)  # channel 0: lane, kx, half
    # lane 0 pairs virtual channels (0, 2) = rows (0, 2); lane 1 pairs (1, 3) = row 1 and the zero channel
    assert (taps[0] == 2 * np.stack([wts[0, 0, :, 0], wts[0, 2, :, 0]], axis=1)).all()
    assert (taps[1] == 2 * np.stack([wts[0, 1, :, 0], np.zeros(3, np.int8)], axis=1)).all()
