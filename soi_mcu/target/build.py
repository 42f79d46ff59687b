"""Build the firmware with CMake and arm-none-eabi-gcc, then read its sizes from the ELF."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from soi_mcu.codegen import GeneratedSources
from soi_mcu.errors import SoiError, ToolError, raise_if_interrupted, require_tool
from soi_mcu.paths import PROJECT_ROOT
from soi_mcu.target.boards import Board
from soi_mcu.target.cmsis_nn import select_kernels

APT_HINT = "apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi cmake"


@dataclass(frozen=True)
class BuildResult:
    elf: Path
    text: int  # code + const data (flash)
    data: int  # initialised RAM (also stored in flash)
    bss: int  # zeroed RAM, stack excluded
    stack_reserved: int
    kernels: str  # "soi-mcu" or the CMSIS-NN path
    symbols: dict[str, tuple[int, int]]  # name -> (address, size)

    @property
    def flash(self) -> int:
        return self.text + self.data

    @property
    def static_ram(self) -> int:
        return self.data + self.bss


def cmsis_nn_path() -> Path | None:
    """The CMSIS-NN tree the build links (CMSIS_NN_PATH, else an opted-in pack: SOI_CMSIS_NN=pack), after the
    tree and API checks; None for soi-mcu's own kernels. Raises SoiError naming the setting and what to do."""
    return select_kernels().path


def io_options(board: Board, io: str) -> list[str]:
    """CMake options for where the harness writes: semihosting (QEMU) or the board's [uart] (Renode)."""
    if io == "semihosting":
        return ["-DSOI_IO=semihosting"]
    if io != "uart":
        raise SoiError(f"unknown harness output '{io}' (semihosting or uart)")
    if board.uart_kind is None or board.uart_base is None:
        raise SoiError(f"board {board.name} has no [uart] table (kind, base) in boards/{board.name}.toml")
    return ["-DSOI_IO=uart", f"-DSOI_UART={board.uart_kind}", f"-DSOI_UART_BASE=0x{board.uart_base:08X}"]


def build_firmware(sources: GeneratedSources, board: Board, build_dir: Path, log: Path | None = None,
                   io: str = "semihosting") -> BuildResult:
    """Configure and build; `io` is where the harness writes: semihosting (QEMU) or uart (Renode)."""
    require_tool("cmake", "apt-get install cmake")
    require_tool("arm-none-eabi-gcc", APT_HINT)
    kernels = select_kernels()
    configure = [
        "cmake", "-S", str(PROJECT_ROOT), "-B", str(build_dir),
        f"-DSOI_GEN_DIR={sources.out_dir.resolve()}",
        f"-DSOI_CPU_FLAGS={';'.join(board.cpu_flags)}",
        f"-DCMSIS_NN_PATH={kernels.path or ''}",
        *io_options(board, io),
    ]
    log = log or build_dir / "build.log"
    build_dir.mkdir(parents=True, exist_ok=True)
    # A build that was killed midway can leave truncated objects with fresh timestamps, which make
    # would take as up to date: unless the last build in this folder finished, rebuild everything.
    finished = build_dir / ".soi-build-finished"
    clean = [] if finished.is_file() else ["--clean-first"]
    finished.unlink(missing_ok=True)
    with open(log, "w") as out:
        for cmd in (configure, ["cmake", "--build", str(build_dir), *clean, "-j", str(os.cpu_count() or 2)]):
            out.write("$ " + " ".join(cmd) + "\n")
            out.flush()
            proc = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, env=os.environ | {"CMSIS_NN_PATH": ""})
            raise_if_interrupted(proc.returncode)  # make stopped by Ctrl-C: interrupted, not a build error
            if proc.returncode != 0:
                raise ToolError(f"firmware build failed ({cmd[1]} step); see {log}: {_first_error(log)}")
    finished.write_text("")
    elf = build_dir / "soi_firmware.elf"
    return _read_elf(elf, board, kernels.label)


def _first_error(log: Path) -> str:
    for line in log.read_text(errors="replace").splitlines():
        if "error" in line.lower():
            return line.strip()[:300]
    return "no error line found"


def _read_elf(elf: Path, board: Board, kernels: str) -> BuildResult:
    from elftools.elf.elffile import ELFFile

    text = data = bss = 0
    symbols: dict[str, tuple[int, int]] = {}
    with open(elf, "rb") as fh:
        f = ELFFile(fh)
        for sec in f.iter_sections():
            if not sec["sh_flags"] & 0x2:  # SHF_ALLOC
                continue
            name, size = sec.name, sec["sh_size"]
            if name == ".stack":
                continue
            if sec["sh_type"] == "SHT_NOBITS":
                bss += size
            elif sec["sh_flags"] & 0x1:  # SHF_WRITE
                data += size
            else:
                text += size
        symtab = f.get_section_by_name(".symtab")
        for sym in symtab.iter_symbols() if symtab else []:
            if sym.name and sym["st_info"]["type"] in ("STT_FUNC", "STT_OBJECT"):
                symbols[sym.name] = (sym["st_value"], sym["st_size"])
    if text + data > board.flash_size:
        raise SoiError(f"firmware needs {text + data} bytes of flash, board {board.name} has {board.flash_size}")
    if data + bss + board.stack_size > board.ram_size:
        raise SoiError(f"firmware needs {data + bss} bytes of RAM plus a {board.stack_size}-byte stack, "
                       f"board {board.name} has {board.ram_size}")
    return BuildResult(elf, text, data, bss, board.stack_size, kernels, symbols)
