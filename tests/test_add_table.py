"""soi_add_table_s8 (int8 ADD / SUB from two generation-time tables, soi_mcu/ops/add_table.py): the tables
against TFLite's arithmetic (int8_ref.add_s8) in Python, and the kernel against the project's
arm_elementwise_add_s8 (itself bit-exact with LiteRT) on the host (C path, under AddressSanitizer and UBSan)
and in QEMU on M3, M4 and M55 (the assembly, and its C fallback for sizes that are not a multiple of 4, a
fused ReLU, other shifts). Cases: random scales and zero points, SUB (the second multiplier negated), an
output scale far below the inputs' (small shifts), in place, and the parameters of the bench's add rows,
where the rounded tables miss the ties of negative sums and the repair of add_tables is what makes them
exact."""

from __future__ import annotations

import random
import subprocess
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from soi_mcu.ops.add_table import _reference as table_reference
from soi_mcu.ops.add_table import add_tables
from soi_mcu.ops.int8_ref import add_params, add_s8
from soi_mcu.paths import FIRMWARE_DIR, kernel_include_dirs, kernel_sources
from soi_mcu.target.boards import load_board
from soi_mcu.target.link import link_command
from soi_mcu.target.qemu import board_qemu_command

from .conftest import have
from .test_s16w_kernel import _arr

BENCH = dict(input_offsets=(3, -7), input_multipliers=(1 << 30, 1518500250), input_shifts=(0, -1),
             output_offset=-2, output_multiplier=1395864371, output_shift=-19)


def _node(rng: random.Random, i: int) -> SimpleNamespace:
    """An AddNode's parameters as add_node derives them (TFLite's Prepare), some with a fused activation."""
    if i == 0:
        fields = BENCH
    else:
        s1, s2 = 10 ** rng.uniform(-3, 0), 10 ** rng.uniform(-3, 0)
        # an output scale 1000x below the inputs' (most outputs saturate): a shift below 18, the C loop
        so = (s1 + s2) * (10 ** rng.uniform(-3.5, -3) if i % 7 == 3 else 10 ** rng.uniform(-0.8, 0.5))
        (m1, sh1), (m2, sh2), (mo, sho) = add_params(s1, s2, so)
        sign = -1 if i % 4 == 1 else 1  # SUB
        fields = dict(input_offsets=(rng.randint(-127, 128), rng.randint(-127, 128)),
                      input_multipliers=(m1, sign * m2), input_shifts=(sh1, sh2), output_offset=rng.randint(-128, 127),
                      output_multiplier=mo, output_shift=sho)
    lo, hi = (-128, 127) if i % 5 != 2 else (max(-128, fields["output_offset"]), 127)  # ReLU
    return SimpleNamespace(left_shift=20, act_min=lo, act_max=hi, **fields)


def _reference(node, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    params = tuple(zip(node.input_multipliers, node.input_shifts, strict=True)) + (
        (node.output_multiplier, node.output_shift),)
    offsets = (*node.input_offsets, node.output_offset)
    out = [add_s8(int(x), int(y), offsets, params) for x, y in zip(a, b, strict=True)]
    return np.clip(out, node.act_min, node.act_max)


def test_tables_reproduce_tflite_add() -> None:
    """On every pair for two layers (one the bench's), on 3000 random pairs for others: the table formula is
    TFLite's ADD / SUB, reference arithmetic written independently (int8_ref)."""
    rng = random.Random(4)
    for i in range(24):
        node = _node(rng, i)
        t = add_tables(node)
        assert t is not None, i
        v = np.arange(-128, 128)
        a, b = (np.repeat(v, 256), np.tile(v, 256)) if i < 2 else \
            (np.array([rng.randint(-128, 127) for _ in range(3000)]), np.array([rng.randint(-128, 127) for _ in range(3000)]))
        s = t.t1[a & 0xFF].astype(np.int64) + t.t2[b & 0xFF]
        assert np.abs(s).max() < 1 << 31
        got = np.clip(np.clip(s >> t.shift, -128, 127), node.act_min, node.act_max)
        assert np.array_equal(got, _reference(node, a, b)), i


def test_rounded_tables_alone_miss_negative_ties() -> None:
    """Why add_tables repairs: for the bench's parameters the rounded fixed point differs from TFLite on a
    few pairs (sums that are exact ties below zero, rounded away from zero by TFLite)."""
    node = SimpleNamespace(left_shift=20, act_min=-128, act_max=127, **BENCH)
    t = add_tables(node)
    assert t is not None and t.shift == 18
    r = -node.output_shift
    x1, x2, want = table_reference(node)
    denom = 1 << (31 + r)
    const = (1 << 30) + (1 << (30 + r)) + node.output_offset * denom
    t1 = np.array([((int(x) * node.output_multiplier + const) << 18) // denom for x in x1])
    t2 = np.array([((int(x) * node.output_multiplier) << 18) // denom for x in x2])
    rounded = np.clip((t1[:, None] + t2[None, :]) >> 18, -128, 127)
    assert 0 < np.count_nonzero(rounded != want) < 20


CASES = 16
SIZES = (32, 4, 36, 40, 44, 64, 1024, 7, 3, 1, 128, 96, 12, 20, 32, 24)


def _source(seed: int = 9) -> str:
    rng = random.Random(seed)
    nrng = np.random.default_rng(seed)
    data, calls = [], []
    for i in range(CASES):
        node = _node(rng, i)
        t = add_tables(node)
        assert t is not None, i
        n = SIZES[i]
        inplace = i % 6 == 5
        data += [_arr(f"a{i}", "int8_t", nrng.integers(-128, 128, size=n)),
                 _arr(f"b{i}", "int8_t", nrng.integers(-128, 128, size=n)),
                 _arr(f"t1_{i}", "int32_t", t.t1), _arr(f"t2_{i}", "int32_t", t.t2)]
        (o1, o2), (m1, m2), (s1, s2) = node.input_offsets, node.input_multipliers, node.input_shifts
        calls.append(f"""    {{
        static const soi_add_table_params p = {{t1_{i}, {t.shift}, {node.act_min}, {node.act_max}, {n}, t2_{i}}};
        memset(ref, 0x55, sizeof(ref));
        memset(got, 0x55, sizeof(got));
        int st1 = arm_elementwise_add_s8(a{i}, b{i}, {o1}, {m1}, {s1}, {o2}, {m2}, {s2}, 20, ref, {node.output_offset},
                                         {node.output_multiplier}, {node.output_shift}, {node.act_min}, {node.act_max}, {n});
        int st2;
        if ({int(inplace)}) {{ /* the output over input 1 */
            memcpy(got, a{i}, {n});
            st2 = soi_add_table_s8(&p, got, b{i}, got);
        }} else {{
            st2 = soi_add_table_s8(&p, a{i}, b{i}, got);
        }}
        check({i}, st1 == 0 && st2 == 0 && memcmp(ref, got, sizeof(ref)) == 0, {n});
        if ({i} == 0) {{ /* a shift out of range: refused, nothing written */
            soi_add_table_params bad = p;
            bad.shift = 31;
            memset(got, 0x55, sizeof(got));
            check({CASES}, soi_add_table_s8(&bad, a{i}, b{i}, got) == ARM_CMSIS_NN_ARG_ERROR && got[0] == 0x55, 0);
        }}
    }}
""")
    return f"""/* Generated by tests/test_add_table.py. */
#include <stdint.h>
#include <string.h>
#include "arm_nnfunctions.h"
#include "soi_add_table.h"
#include "soi_semihost.h"

{''.join(data)}
static int8_t ref[1100], got[1100];
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
def test_add_table_equals_elementwise_add_on_host(tmp_path: Path) -> None:
    src = tmp_path / "case.c"
    src.write_text(_source())
    shim = tmp_path / "shim.c"
    shim.write_text('#include <stdio.h>\n#include <stdlib.h>\n#include <stdint.h>\n'
                    'void soi_sh_write0(const char *s) { fputs(s, stdout); }\n'
                    'void soi_sh_exit(int code) { exit(code); }\n'
                    'char *soi_fmt_u32(char *p, uint32_t v) { return p + sprintf(p, "%u", v); }\n')
    (tmp_path / "soi_semihost.h").write_text('#include <stdint.h>\nvoid soi_sh_write0(const char *s);\n'
                                             'void soi_sh_exit(int code);\nchar *soi_fmt_u32(char *p, uint32_t v);\n')
    exe = tmp_path / "case"
    cmd = ["gcc", "-O1", "-g", "-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-std=c11", "-Wall",
           "-Wextra", "-Werror", f"-I{tmp_path}", *(f"-I{d}" for d in kernel_include_dirs()),
           str(src), str(shim), *map(str, kernel_sources()), "-o", str(exe)]
    res = subprocess.run(cmd, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr[-3000:]
    run = subprocess.run([str(exe)], capture_output=True, text=True, timeout=120)
    _check_log(run.stdout + run.stderr)
    assert run.returncode == 0


@pytest.mark.skipif(not have("arm-none-eabi-gcc", "qemu-system-arm"), reason="needs arm-none-eabi-gcc and qemu-system-arm")
@pytest.mark.parametrize("board_name", ["mps2-an386", "mps2-an385", "mps3-an547"])
def test_add_table_assembly_equals_elementwise_add_in_qemu(board_name: str, tmp_path: Path) -> None:
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
