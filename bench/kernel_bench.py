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

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.bench_source import ELEMENTWISE, SHAPES, Shape, firmware_source  # noqa: E402
from soi_mcu.paths import KERNELS_DIR, kernel_include_dirs, kernel_sources, own_kernel_sources  # noqa: E402
from soi_mcu.target.boards import Board, load_board  # noqa: E402
from soi_mcu.target.cores import CORES as CORE_TABLE  # noqa: E402
from soi_mcu.target.link import link_command  # noqa: E402
from soi_mcu.target.qemu import board_qemu_command  # noqa: E402
from soi_mcu.target.qemu_plugin import ensure_plugin, parse_plugin_output, plugin_args  # noqa: E402

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
    runtime = [fw / "runtime" / "soi_profile.c", fw / "runtime" / "soi_ring.c"]  # soi_table_s8: activation rows
    cmd = link_command(board, [work / "bench.c", *runtime, *objs], work, elf,
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
            unit = f"{s.macs / own.cycles:8.3f}" if s.kind not in ELEMENTWISE else f"{own.cycles / s.macs:6.1f}/e"
            row = f"{s.name:<26}{s.macs:>8}{own.insns:>9}{own.cycles:>9}{unit}"
            if not own.ok:
                row += " (status!=0)"
            if s.twin:
                twin = results[(c, "own")][names.index(s.twin)] if s.twin in names else None
                if twin is not None:
                    row += f"  {'=' if twin.digest == own.digest else 'DIFFERS FROM'} {s.twin}"
            if "cmsis" in libs:
                ref = results[(c, "cmsis")][i]
                runit = f"{s.macs / ref.cycles:8.3f}" if s.kind not in ELEMENTWISE else f"{ref.cycles / s.macs:6.1f}/e"
                same = "yes" if own.digest == ref.digest and own.ok and ref.ok else "NO"
                row += f"{ref.insns:>12}{ref.cycles:>9}{runit}{ref.cycles / own.cycles:8.2f}  {same}"
            print(row)
    print("\nMAC/cyc: MACs per estimated cycle (add, mul: cycles per element). speedup: CMSIS-NN cycles / own cycles.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
