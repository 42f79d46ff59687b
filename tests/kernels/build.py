"""Builds and runs tests/kernels/harness.c with generated cases: on the host with gcc, or for Cortex-M
with arm-none-eabi-gcc under qemu-system-arm (semihosting)."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from soi_mcu.paths import FIRMWARE_DIR, kernel_include_dirs, kernel_sources
from soi_mcu.target.boards import Board, load_board
from soi_mcu.target.cores import CORES
from soi_mcu.target.link import link_command
from soi_mcu.target.qemu import qemu_command

ROOT = Path(__file__).resolve().parents[2]
HARNESS = Path(__file__).resolve().parent / "harness.c"
WARNINGS = ["-O2", "-Wall", "-Wextra", "-Werror"]


@dataclass(frozen=True)
class Target:
    """A core's reference board (its QEMU machine, memory map and core flags), plus flags of the variant."""

    name: str
    board: Board
    extra_flags: tuple[str, ...] = ()


def _targets() -> dict[str, Target]:
    """Every core of the core table on its reference board; cores with DSP (and MVE) also as "-noasm",
    the C intrinsic loops instead of the inline-asm ones (same results expected)."""
    targets = {}
    for core in CORES.values():
        board = load_board(core.reference_board)
        targets[core.name] = Target(core.name, board)
        if core.dsp:
            targets[f"{core.name}-noasm"] = Target(f"{core.name}-noasm", board, ("-DSOI_NN_NO_ASM",))
    return targets


TARGETS = _targets()


def _run(cmd: list[str], timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)


def build_host(work: Path, defines: tuple[str, ...] = ()) -> Path:
    exe = work / "harness_host"
    cmd = [
        "gcc",
        *WARNINGS,
        *defines,
        "-DSOI_HOST",
        *(f"-I{d}" for d in kernel_include_dirs()),
        f"-I{work}",
        *map(str, kernel_sources()),
        str(HARNESS),
        str(work / "cases.c"),
        "-o",
        str(exe),
    ]
    res = _run(cmd)
    if res.returncode != 0:
        raise RuntimeError(f"host build failed:\n{res.stderr}")
    return exe


def run_host(exe: Path) -> str:
    res = _run([str(exe)])
    if res.returncode != 0:
        raise RuntimeError(f"host harness failed ({res.returncode}):\n{res.stderr}")
    return res.stdout


def cross_tools_missing() -> str | None:
    """Reason to skip the Cortex-M tests, or None when the tools are there."""
    for tool in ("arm-none-eabi-gcc", "qemu-system-arm"):
        if shutil.which(tool) is None:
            return f"{tool} not found on PATH"
    return None


def build_arm(work: Path, target: Target) -> Path:
    elf = work / f"harness_{target.name}.elf"
    cmd = link_command(target.board, [*kernel_sources(), HARNESS, work / "cases.c"], work, elf,
                       cflags=[*WARNINGS, "-ffunction-sections", "-fdata-sections"],
                       includes=[*kernel_include_dirs(), FIRMWARE_DIR / "runtime", work],
                       extra_cpu_flags=target.extra_flags, stack_size=16384)
    res = _run(cmd)
    if res.returncode != 0:
        raise RuntimeError(f"{target.name} build failed:\n{res.stderr}")
    return elf


def run_qemu(elf: Path, target: Target, timeout: float = 120.0, extra: tuple[str, ...] = ()) -> str:
    board = target.board
    res = _run(qemu_command(board.qemu_machine or "", board.qemu_cpu or board.core, elf, extra=extra),
               timeout=timeout)
    if res.returncode != 0:
        raise RuntimeError(f"QEMU exit {res.returncode}:\n{res.stdout[-2000:]}\n{res.stderr[-2000:]}")
    # QEMU 7.2 prints semihosting console output on stderr (no serial chardev is configured).
    return res.stdout + res.stderr
