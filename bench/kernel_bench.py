#!/usr/bin/env python3
"""Kernel benchmark: estimated cycles of each int8 kernel on the shapes of one streaming U-Net step.

For each core (M4 on mps2-an386, M7 on mps2-an500, M55 on mps3-an547) it builds one small firmware that
calls every kernel once between soi_mark_begin() / soi_mark_end(), runs it in QEMU with the soi_cycles
plugin and prints instructions, estimated cycles and MAC/cycle per kernel. With --cmsis-nn PATH the same
firmware is also built against a CMSIS-NN checkout, and both are printed side by side together with a
check that both produced the same output bytes. This prints figures; it is not a test.

    python bench/kernel_bench.py [--cores m4,m7,m55] [--cmsis-nn /path/to/CMSIS-NN] [--jobs 2]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from soi_mcu.ops.s16w_layout import s16w_stream  # noqa: E402
from soi_mcu.paths import KERNELS_DIR, kernel_include_dirs, kernel_sources, own_kernel_sources  # noqa: E402
from soi_mcu.target.boards import Board, load_board  # noqa: E402
from soi_mcu.target.cores import CORES as CORE_TABLE  # noqa: E402
from soi_mcu.target.link import link_command  # noqa: E402
from soi_mcu.target.qemu import board_qemu_command  # noqa: E402
from soi_mcu.target.qemu_plugin import ensure_plugin, parse_plugin_output, plugin_args  # noqa: E402

# Zero points of every conv call (as cmsis_nn_conv_params' input_offset and output_offset).
BENCH_INPUT_OFFSET, BENCH_OUTPUT_OFFSET = 13, -5
OFFSETS = f"{BENCH_INPUT_OFFSET}, {BENCH_OUTPUT_OFFSET}"
# Short core name -> its reference board, for every core of the core table (soi_mcu/target/cores.py).
CORES = {c.name.removeprefix("cortex-"): c.reference_board for c in CORE_TABLE.values()}
CFLAGS = ["-O2", "-Wall", "-Wextra", "-ffunction-sections", "-fdata-sections"]
# CMSIS-NN sources the benchmark links (directories under Source/; float sources left out).
CMSIS_DIRS = (
    "ConvolutionFunctions",
    "FullyConnectedFunctions",
    "BasicMathFunctions",
    "NNSupportFunctions",
    "TransposeFunctions",
)


@dataclass(frozen=True)
class Shape:
    """One kernel call. kind: conv (wrapper), s16w (soi_conv_s16w_s8, same data as the conv named `twin`),
    dw (depthwise wrapper), fc, add."""

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
    over: str = ""  # ln: "channels" (statistics per bin) or "frame"

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
        if self.kind in ("conv", "s16w"):
            return self.out_h * self.out_w * self.cout * self.kh * self.kw * self.cin
        if self.kind == "dw":
            return self.out_h * self.out_w * self.cin * self.kh * self.kw
        if self.kind == "fc":
            return self.cin * self.cout
        return self.w * self.cin if self.kind == "ln" else self.cin  # add, ln: elements


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
    Shape("fc 512->128", "fc", 1, 1, 512, 128),
    Shape("add 512", "add", 1, 1, 512, 512),
    Shape("layernorm ch (1,64)", "ln", 1, 1, 64, over="channels"),
    Shape("layernorm ch (32,16)", "ln", 1, 32, 16, over="channels"),
    Shape("layernorm frame (32,16)", "ln", 1, 32, 16, over="frame"),
)


def _arr(name: str, ctype: str, values: np.ndarray, const: bool = True) -> str:
    body = ",".join(str(int(v)) for v in values.ravel())
    return f"static {'const ' if const else ''}{ctype} {name}[{values.size}] __attribute__((aligned(4))) = {{{body}}};\n"


def _layernorm_call(i: int, s: Shape, rng: np.random.Generator, data: list[str]) -> str:
    """soi_layernorm_s8 with gamma and beta, its parameters derived (as the generator does) from plausible
    scales of the converter's op sequence."""
    from soi_mcu.ops.int8_ref import add_params, mean_params, rsqrt_params, rsqrt_s8
    from soi_mcu.ops.requant import quantize_multiplier

    size = s.cin if s.over == "channels" else s.w * s.cin
    groups = s.w * s.cin // size
    x, m, d, sq, v, r, y, g, gy, b, o = 0.05, 0.01, 0.05, 0.02, 0.01, 0.05, 0.03, 0.01, 0.03, 0.005, 0.03

    def add(s1: float, s2: float, so: float, z1: int, z2: int, zo: int) -> str:
        (m1, h1), (m2, h2), (mo, ho) = add_params(s1, s2, so)
        return f"{{{-z1}, {-z2}, {m1}, {h1}, {m2}, {h2}, {mo}, {ho}, {zo}}}"

    def mul(s1: float, s2: float, so: float, z1: int, z2: int, zo: int) -> str:
        q = quantize_multiplier(s1 * s2 / so)
        return f"{{{-z1}, {-z2}, {q[0]}, {q[1]}, {zo}}}"

    mean, var, rs = mean_params(x, m, size), mean_params(sq, v, size), rsqrt_params(v, r)
    data.append(_arr(f"rs{i}", "int8_t", np.array([rsqrt_s8(t, -128, -128, *rs) for t in range(-128, 128)])))
    data.append(_arr(f"g{i}", "int8_t", rng.integers(-128, 128, size=size)))
    data.append(_arr(f"b{i}", "int8_t", rng.integers(-128, 128, size=size)))
    return f"""    {{
        static const soi_layernorm_params p = {{
            {{-3, {mean[0]}, {mean[1]}, 0}}, {add(x, m, d, 3, 0, 0)}, {mul(d, d, sq, 0, 0, -128)},
            {{128, {var[0]}, {var[1]}, -128}}, {mul(d, r, y, 0, -128, 0)}, {mul(y, g, gy, 0, -128, 0)},
            {add(gy, b, o, 0, 0, 0)}}};
        soi_mark_begin();
        st = soi_layernorm_s8(&p, rs{i}, in{i}, g{i}, {size}, b{i}, {size}, {groups}, {size}, out);
        soi_mark_end();
        report({i}, st, {s.w * s.cin});
    }}
"""


def firmware_source(shapes: tuple[Shape, ...] = SHAPES, seed: int = 7) -> str:
    """C source calling every kernel of `shapes` once between the markers; prints a hash of each output."""
    data: list[str] = []
    calls: list[str] = []
    max_buf = 0
    for i, s in enumerate(shapes):
        # One generator per shape (seeded by its name), so a subset gets the same data as the full run.
        rng = np.random.default_rng([seed, *(s.twin or s.name).encode()])
        inp = rng.integers(-128, 128, size=s.h * s.w * s.cin if s.kind != "add" else s.cin)
        if s.kind == "ln":
            data.append(_arr(f"in{i}", "int8_t", inp))
            calls.append(_layernorm_call(i, s, rng, data))
            max_buf = max(max_buf, s.w * s.cin)
            continue
        data.append(_arr(f"in{i}", "int8_t", inp))
        if s.kind in ("conv", "s16w", "dw", "fc"):
            k = s.kh * s.kw * s.cin
            wshape = s.cout * k if s.kind in ("conv", "s16w") else (s.kh * s.kw * s.cin if s.kind == "dw" else s.cin * s.cout)
            nout = s.cout if s.kind != "dw" else s.cin
            w = rng.integers(-127, 128, size=wshape)
            bias = rng.integers(-5000, 5000, size=nout)
            mult = rng.integers(1 << 30, (1 << 31) - 1, size=nout)
            macs_per_out = k if s.kind in ("conv", "s16w") else (s.kh * s.kw if s.kind == "dw" else s.cin)
            shift = np.full(nout, -int(np.ceil(np.log2(np.sqrt(macs_per_out) * 64 * 64 / 50.0))))
            if s.kind == "s16w":
                stream = s16w_stream(w.reshape(s.cout, s.kh, s.kw, s.cin).astype(np.int8), bias, mult, shift,
                                     BENCH_INPUT_OFFSET, BENCH_OUTPUT_OFFSET)
                assert stream is not None, s.name
                data.append(_arr(f"w{i}", "int32_t", stream))
            else:
                data.append(_arr(f"w{i}", "int8_t", w))
                data.append(_arr(f"b{i}", "int32_t", bias))
                data.append(_arr(f"m{i}", "int32_t", mult))
                data.append(_arr(f"s{i}", "int32_t", shift))
        if s.kind == "conv":
            nbytes = s.out_h * s.out_w * s.cout
            calls.append(f"""    {{
        const cmsis_nn_conv_params p = {{{OFFSETS}, {{{s.stride_w}, 1}}, {{{s.pad_w}, 0}}, {{1, 1}}, {{-128, 127}}}};
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
        else:
            data.append(_arr(f"in2_{i}", "int8_t", rng.integers(-128, 128, size=s.cin)))
            calls.append(f"""    {{
        soi_mark_begin();
        st = arm_elementwise_add_s8(in{i}, in2_{i}, 3, 1518500250, -1, -7, 1288490189, 0, 20, out, -2,
                                    1395864371, -20, -128, 127, {s.cin});
        soi_mark_end();
        report({i}, st, {s.cin});
    }}
""")
    return f"""/* Generated by bench/kernel_bench.py. */
#include <stdint.h>
#include "arm_nnfunctions.h"
#include "soi_conv_s16w.h"
#include "soi_layernorm.h"
#include "soi_profile.h"
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


def _run(cmd: list[str], timeout: float = 300.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)


def _compile_objects(sources: list[Path], flags: list[str], obj_dir: Path, jobs: int) -> list[Path]:
    obj_dir.mkdir(parents=True, exist_ok=True)

    def one(src: Path) -> Path:
        obj = obj_dir / (src.parent.name + "__" + src.stem + ".o")
        res = _run(["arm-none-eabi-gcc", *flags, "-c", str(src), "-o", str(obj)])
        if res.returncode != 0:
            raise RuntimeError(f"compiling {src} failed:\n{res.stderr}")
        return obj

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        return list(pool.map(one, sources))


def _cmsis_sources(cmsis: Path) -> list[Path]:
    out = []
    for d in CMSIS_DIRS:
        for src in sorted((cmsis / "Source" / d).glob("*.c")):
            if src.stem.endswith(("_f16", "_f32", "_flt")):
                continue
            out.append(src)
    return out


def build_firmware(board: Board, lib: str, cmsis: Path | None, work: Path, jobs: int,
                   shapes: tuple[Shape, ...] = SHAPES) -> Path:
    """lib: 'own' (firmware/kernels) or 'cmsis' (the checkout at `cmsis`)."""
    work.mkdir(parents=True, exist_ok=True)
    fw = ROOT / "firmware"
    if lib == "own":
        inc = [f"-I{d}" for d in kernel_include_dirs()]
        lib_flags = [*board.cpu_flags, *CFLAGS, "-Werror", *inc]
        sources = kernel_sources()
    else:  # CMSIS-NN, and the project's own kernels (soi_conv_s16w_s8) built against its headers
        assert cmsis is not None
        inc = [f"-I{cmsis / 'Include'}", f"-I{KERNELS_DIR / 'soi'}"]
        lib_flags = [*board.cpu_flags, *CFLAGS, *inc]
        sources = _cmsis_sources(cmsis) + own_kernel_sources()
    objs = _compile_objects(sources, lib_flags, work / "obj", jobs)
    (work / "bench.c").write_text(firmware_source(shapes))
    elf = work / "bench.elf"
    cmd = link_command(board, [work / "bench.c", fw / "runtime" / "soi_profile.c", *objs], work, elf,
                       cflags=[*CFLAGS, *inc, f"-I{fw / 'runtime'}"])
    res = _run(cmd)
    if res.returncode != 0:
        raise RuntimeError(f"linking {elf} failed:\n{res.stderr}")
    return elf


def _symbol(elf: Path, name: str) -> int:
    res = _run(["arm-none-eabi-nm", str(elf)])
    for line in res.stdout.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[2] == name:
            return int(parts[0], 16)
    raise RuntimeError(f"{name} not in {elf}")


@dataclass(frozen=True)
class Result:
    insns: int
    cycles: int
    digest: str
    ok: bool


def run_firmware(elf: Path, board: Board, work: Path, n_shapes: int) -> list[Result]:
    marks = [_symbol(elf, "soi_mark_begin"), _symbol(elf, "soi_mark_end")]
    trace_path = work / "plugin.txt"
    trace_path.unlink(missing_ok=True)
    cmd = board_qemu_command(board, elf, plugin_args(trace_path, marks, board.core, limit=2_000_000_000))
    res = _run(cmd, timeout=600)
    log = res.stdout + res.stderr
    (work / "qemu.log").write_text(log)
    if res.returncode != 0 or "SOI_DONE" not in log:
        raise RuntimeError(f"QEMU run of {elf} failed (exit {res.returncode}); see {work / 'qemu.log'}")
    trace = parse_plugin_output(trace_path)
    begins, ends = trace.hits(marks[0]), trace.hits(marks[1])
    lines = [ln.split() for ln in log.splitlines() if ln.startswith("BENCH ")]
    if not (len(begins) == len(ends) == len(lines) == n_shapes):
        raise RuntimeError(f"expected {n_shapes} measurements, got {len(begins)}/{len(ends)}/{len(lines)}")
    out = []
    for b, e, ln in zip(begins, ends, lines, strict=True):
        d = e.since(b)
        out.append(Result(d.insns, d.cycles, ln[3], ln[2] == "0"))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cores", default="m4,m7,m55", help=f"comma-separated subset of {','.join(CORES)}")
    ap.add_argument("--cmsis-nn", type=Path, default=None, help="CMSIS-NN checkout to compare against")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 2, help="parallel compile jobs")
    ap.add_argument("--only", default=None, help="run only the kernels whose name contains this text")
    ap.add_argument("--keep", type=Path, default=None, help="build directory to keep (default: a temp dir)")
    args = ap.parse_args(argv)
    for tool in ("arm-none-eabi-gcc", "qemu-system-arm"):
        if shutil.which(tool) is None:
            print(f"{tool} not found on PATH", file=sys.stderr)
            return 2
    cores = [c.strip() for c in args.cores.split(",") if c.strip()]
    for c in cores:
        if c not in CORES:
            print(f"unknown core {c}; use {', '.join(CORES)}", file=sys.stderr)
            return 2
    libs = ["own"] + (["cmsis"] if args.cmsis_nn else [])
    shapes = tuple(s for s in SHAPES if args.only is None or args.only in s.name or args.only in s.twin)
    if not shapes:
        print(f"no kernel name contains {args.only!r}", file=sys.stderr)
        return 2
    ensure_plugin()
    tmp = None
    if args.keep is None:
        tmp = tempfile.TemporaryDirectory(prefix="soi-kbench-")
        base = Path(tmp.name)
    else:
        base = args.keep
    try:
        jobs = []
        for c in cores:
            board = load_board(CORES[c])
            for lib in libs:
                jobs.append((c, board, lib, base / f"{c}-{lib}"))

        def job(item):
            c, board, lib, work = item
            elf = build_firmware(board, lib, args.cmsis_nn, work, max(1, args.jobs // 2), shapes)
            return run_firmware(elf, board, work, len(shapes))

        with ThreadPoolExecutor(max_workers=max(1, min(args.jobs, len(jobs)))) as pool:
            results = dict(zip([(j[0], j[2]) for j in jobs], pool.map(job, jobs), strict=True))
    finally:
        if tmp is not None:
            tmp.cleanup()
    for c in cores:
        board = load_board(CORES[c])
        print(f"\n{board.core} ({board.name}); cycles are estimates (soi_cycles plugin, refill P=2)")
        head = f"{'kernel':<26}{'MACs':>8}{'insns':>9}{'cycles':>9}{'MAC/cyc':>8}"
        if "cmsis" in libs:
            head += f"{'CMSIS insns':>12}{'cycles':>9}{'MAC/cyc':>8}{'speedup':>8}  same"
        print(head)
        names = [t.name for t in shapes]
        for i, s in enumerate(shapes):
            own = results[(c, "own")][i]
            unit = f"{s.macs / own.cycles:8.3f}" if s.kind not in ("add", "ln") else f"{own.cycles / s.macs:6.1f}/e"
            row = f"{s.name:<26}{s.macs:>8}{own.insns:>9}{own.cycles:>9}{unit}"
            if not own.ok:
                row += " (status!=0)"
            if s.twin:
                twin = results[(c, "own")][names.index(s.twin)] if s.twin in names else None
                if twin is not None:
                    row += f"  {'=' if twin.digest == own.digest else 'DIFFERS FROM'} {s.twin}"
            if "cmsis" in libs:
                ref = results[(c, "cmsis")][i]
                runit = f"{s.macs / ref.cycles:8.3f}" if s.kind not in ("add", "ln") else f"{ref.cycles / s.macs:6.1f}/e"
                same = "yes" if own.digest == ref.digest and own.ok and ref.ok else "NO"
                row += f"{ref.insns:>12}{ref.cycles:>9}{runit}{ref.cycles / own.cycles:8.2f}  {same}"
            print(row)
    print("\nMAC/cyc: MACs per estimated cycle (add, layernorm: cycles per element). speedup: CMSIS-NN cycles / own cycles.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
