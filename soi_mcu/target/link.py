"""The one link line of the project's bare-metal images, for the builds that do not go through CMake
(the kernel tests, the s16w kernel test, the kernel bench). The firmware's CMake toolchain reads the
same flags from firmware/cmake/link-flags.txt, so a change there reaches every image."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from soi_mcu.codegen import linker_script
from soi_mcu.paths import FIRMWARE_DIR
from soi_mcu.target.boards import Board

LINK_FLAGS: tuple[str, ...] = tuple((FIRMWARE_DIR / "cmake" / "link-flags.txt").read_text().split())
# Startup (vectors, reset, HardFault report, stack paint) and semihosting output: what every image
# that runs under QEMU links besides its own sources.
STARTUP_SOURCES: tuple[Path, ...] = (FIRMWARE_DIR / "startup" / "startup_cortexm.c",
                                     FIRMWARE_DIR / "runtime" / "soi_semihost.c")


def link_command(board: Board, inputs: Iterable[Path], work: Path, elf: Path, *,
                 cflags: Iterable[str] = (), includes: Iterable[Path] = (), stack_size: int | None = None,
                 extra_cpu_flags: Iterable[str] = ()) -> list[str]:
    """arm-none-eabi-gcc compiling and linking `inputs` (C sources or objects) with the startup code
    into `elf` for `board`; writes the board's linker script to work/<board>.ld."""
    script = work / f"{board.name}.ld"
    work.mkdir(parents=True, exist_ok=True)
    script.write_text(linker_script(board, stack_size))
    return ["arm-none-eabi-gcc", *board.cpu_flags, *extra_cpu_flags, *cflags, *(f"-I{d}" for d in includes),
            *map(str, inputs), *map(str, STARTUP_SOURCES), *LINK_FLAGS, f"-T{script}", "-o", str(elf)]
