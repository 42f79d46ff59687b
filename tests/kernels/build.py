"""Builds and runs tests/kernels/harness.c with generated cases: on the host with gcc, or for Cortex-M
with arm-none-eabi-gcc under qemu-system-arm (semihosting)."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import jinja2

from soi_mcu.paths import kernel_include_dirs, kernel_sources

ROOT = Path(__file__).resolve().parents[2]
HARNESS = Path(__file__).resolve().parent / "harness.c"
WARNINGS = ["-O2", "-Wall", "-Wextra", "-Werror"]


@dataclass(frozen=True)
class Target:
    """A QEMU machine and the compiler flags of its CPU."""

    name: str
    machine: str
    cpu: str
    cflags: tuple[str, ...]
    flash: tuple[int, int]
    ram: tuple[int, int]


TARGETS = {
    # DSP path (SXTB16/SMLAD).
    "cortex-m4": Target(
        "cortex-m4",
        "mps2-an386",
        "cortex-m4",
        ("-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16"),
        (0x00000000, 0x400000),
        (0x20000000, 0x400000),
    ),
    # DSP path with the C intrinsic loop instead of the inline-asm one (same results expected).
    "cortex-m4-noasm": Target(
        "cortex-m4-noasm",
        "mps2-an386",
        "cortex-m4",
        ("-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16", "-DSOI_NN_NO_ASM"),
        (0x00000000, 0x400000),
        (0x20000000, 0x400000),
    ),
    # Pure C path (no DSP extension).
    "cortex-m3": Target(
        "cortex-m3",
        "mps2-an385",
        "cortex-m3",
        ("-mcpu=cortex-m3", "-mthumb"),
        (0x00000000, 0x400000),
        (0x20000000, 0x400000),
    ),
    # MVE path. AN547: code in ITCM (0x0, 512 KiB), data in the 2 MiB SRAM at 0x21000000.
    "cortex-m55": Target(
        "cortex-m55",
        "mps3-an547",
        "cortex-m55",
        ("-mcpu=cortex-m55", "-mthumb", "-mfloat-abi=hard"),
        (0x00000000, 0x80000),
        (0x21000000, 0x200000),
    ),
    # MVE path with the C intrinsic loops instead of the inline-asm ones (same results expected).
    "cortex-m55-noasm": Target(
        "cortex-m55-noasm",
        "mps3-an547",
        "cortex-m55",
        ("-mcpu=cortex-m55", "-mthumb", "-mfloat-abi=hard", "-DSOI_NN_NO_ASM"),
        (0x00000000, 0x80000),
        (0x21000000, 0x200000),
    ),
}


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


def render_linker(target: Target, path: Path) -> None:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(ROOT / "templates")), undefined=jinja2.StrictUndefined)
    board = {
        "name": f"qemu-{target.machine}",
        "flash_origin": target.flash[0],
        "flash_size": target.flash[1],
        "ram_origin": target.ram[0],
        "ram_size": target.ram[1],
    }
    path.write_text(env.get_template("linker.ld.j2").render(board=board, stack_size=16384))


def build_arm(work: Path, target: Target) -> Path:
    elf = work / f"harness_{target.name}.elf"
    ld = work / f"{target.name}.ld"
    render_linker(target, ld)
    fw = ROOT / "firmware"
    cmd = [
        "arm-none-eabi-gcc",
        *target.cflags,
        *WARNINGS,
        "-ffunction-sections",
        "-fdata-sections",
        *(f"-I{d}" for d in kernel_include_dirs()),
        f"-I{fw / 'runtime'}",
        f"-I{work}",
        *map(str, kernel_sources()),
        str(HARNESS),
        str(work / "cases.c"),
        str(fw / "startup" / "startup_cortexm.c"),
        str(fw / "runtime" / "soi_semihost.c"),
        "-nostartfiles",
        "--specs=nano.specs",
        f"-T{ld}",
        "-Wl,--gc-sections",
        "-o",
        str(elf),
    ]
    res = _run(cmd)
    if res.returncode != 0:
        raise RuntimeError(f"{target.name} build failed:\n{res.stderr}")
    return elf


def run_qemu(elf: Path, target: Target, timeout: float = 120.0, extra: tuple[str, ...] = ()) -> str:
    cmd = [
        "qemu-system-arm",
        "-M",
        target.machine,
        "-cpu",
        target.cpu,
        "-nographic",
        "-monitor",
        "none",
        "-serial",
        "none",
        "-semihosting-config",
        "enable=on,target=native",
        *extra,
        "-kernel",
        str(elf),
    ]
    res = _run(cmd, timeout=timeout)
    if res.returncode != 0:
        raise RuntimeError(f"QEMU exit {res.returncode}:\n{res.stdout[-2000:]}\n{res.stderr[-2000:]}")
    # QEMU 7.2 prints semihosting console output on stderr (no serial chardev is configured).
    return res.stdout + res.stderr
