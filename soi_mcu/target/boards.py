"""Boards as data: one TOML file per board in boards/, parsed and validated into a Board."""

from __future__ import annotations

import difflib
import tomllib
from dataclasses import dataclass
from pathlib import Path

from soi_mcu.errors import SoiError
from soi_mcu.paths import BOARDS_DIR
from soi_mcu.schema import ADDRESS_SPACE, Field, check_table, integer, string, string_list
from soi_mcu.target.cores import CORES

# Register layouts firmware/runtime/soi_uart.c can drive (board file [uart] kind).
UART_KINDS = ("stm32_usart_v1", "stm32_usart_v2", "nrf_uarte")


@dataclass(frozen=True)
class Board:
    name: str
    description: str
    core: str
    cpu_flags: tuple[str, ...]
    clock_hz: int
    flash_origin: int
    flash_size: int
    ram_origin: int
    ram_size: int
    stack_size: int
    qemu_machine: str | None
    qemu_cpu: str | None
    renode_platform: str | None = None  # Renode platform description (.repl), for --backend renode
    renode_uart: str | None = None  # the sysbus UART the firmware reports on
    uart_kind: str | None = None  # [uart] kind: register layout of that UART (one of UART_KINDS)
    uart_base: int | None = None  # [uart] base: its base address
    file: str = ""  # the board file it was read from, for messages about its fields

    @property
    def simulators(self) -> tuple[str, ...]:
        return tuple(name for name, ok in (("qemu", self.qemu_machine), ("renode", self.renode_platform)) if ok)


def list_boards(boards_dir: Path = BOARDS_DIR) -> list[str]:
    """Names of the boards that have a data file."""
    return sorted(p.stem for p in boards_dir.glob("*.toml"))


def load_board(name: str, boards_dir: Path = BOARDS_DIR) -> Board:
    """Load boards/<name>.toml, or a board file of your own given as its path (`--board my/board.toml`);
    an unknown name lists the known boards."""
    if name.endswith(".toml") or "/" in name:
        path = Path(name).expanduser()
        if not path.is_file():
            raise SoiError(f"board file {path} does not exist" + (" (it is a folder)" if path.is_dir() else "")
                           + f"; give a board name ({', '.join(list_boards(boards_dir))}) or a board file")
    else:
        path = boards_dir / f"{name}.toml"
    if not path.is_file():
        known = list_boards(boards_dir)
        close = difflib.get_close_matches(name, known, n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        raise SoiError(f"unknown board '{name}'{hint}; known boards: {', '.join(known)} (or give a board file's path)")
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise SoiError(f"board file {path} is not valid TOML: {exc}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SoiError(f"board file {path} cannot be read ({getattr(exc, 'strerror', None) or exc})") from None
    return _board_from_dict(data, path)


# The board file's schema (soi_mcu/schema.py): every key's type and range.
_TABLE = Field("a table", lambda v: isinstance(v, dict))
_ADDRESS = Field(f"an address in 0x0..0x{ADDRESS_SPACE - 1:x} (a Cortex-M core addresses 32 bits)",
                 lambda v: isinstance(v, int) and not isinstance(v, bool) and 0 <= v < ADDRESS_SPACE)
_TOP = {
    "name": string(what="the file's name without .toml"),
    "description": Field("a string", lambda v: isinstance(v, str)),
    "core": string(what="a Cortex-M core, e.g. cortex-m4"),
    "cpu_flags": string_list(what='the compiler\'s core flags, e.g. ["-mcpu=cortex-m4", "-mthumb"]'),
    "clock_hz": integer(1, what="Hz"),
    "stack_size": Field("a positive multiple of 8 (bytes; the Arm ABI keeps the stack 8-byte aligned), e.g. 16384",
                        lambda v: isinstance(v, int) and not isinstance(v, bool) and v > 0 and v % 8 == 0),
    "flash": _TABLE, "ram": _TABLE, "simulators": _TABLE, "uart": _TABLE,
}
_REGION = {"origin": _ADDRESS, "size": integer(1, what="bytes")}
_SIMULATORS = {"qemu": _TABLE, "renode": _TABLE}
_QEMU = {"machine": string(what="a QEMU machine, see `qemu-system-arm -machine help`"),
         "cpu": string(what="a QEMU cpu, e.g. cortex-m4")}
_RENODE = {"platform": string(what="a Renode platform (.repl)"), "uart": string(what="a sysbus UART, e.g. sysbus.usart2")}
_UART = {"kind": string(UART_KINDS), "base": _ADDRESS}


def _board_from_dict(data: dict, path: Path) -> Board:
    where = f"board file {path}"
    top = check_table(where, data, _TOP, required=("name", "core", "cpu_flags", "clock_hz", "flash", "ram"))
    flash = check_table(where, top["flash"], _REGION, "flash", required=("origin", "size"))
    ram = check_table(where, top["ram"], _REGION, "ram", required=("origin", "size"))
    for region, table in (("flash", flash), ("ram", ram)):
        if table["origin"] + table["size"] > ADDRESS_SPACE:
            raise SoiError(f"{where}: [{region}] origin 0x{table['origin']:x} + size 0x{table['size']:x} ends beyond the "
                           f"32-bit address space of a Cortex-M core (4 GiB); give the region's real size")
    sims = check_table(where, top.get("simulators", {}), _SIMULATORS, "simulators")
    qemu = check_table(where, sims.get("qemu", {}), _QEMU, "simulators.qemu")
    renode = check_table(where, sims.get("renode", {}), _RENODE, "simulators.renode")
    uart = check_table(where, top.get("uart", {}), _UART, "uart")
    board = Board(
        name=top["name"],
        description=top.get("description", ""),
        core=top["core"],
        cpu_flags=top["cpu_flags"],
        clock_hz=top["clock_hz"],
        flash_origin=flash["origin"],
        flash_size=flash["size"],
        ram_origin=ram["origin"],
        ram_size=ram["size"],
        stack_size=top.get("stack_size", 8192),
        qemu_machine=qemu.get("machine"),
        qemu_cpu=qemu.get("cpu"),
        renode_platform=renode.get("platform"),
        renode_uart=renode.get("uart"),
        uart_kind=uart.get("kind"),
        uart_base=uart.get("base"),
        file=str(path),
    )
    if board.name != path.stem:
        raise SoiError(f"{where}: name '{board.name}' differs from the file name")
    if (board.uart_kind is None) != (board.uart_base is None):
        raise SoiError(f"{where}: [uart] needs both kind (a string) and base (an integer address)")
    if board.renode_platform and board.uart_kind is None:
        raise SoiError(f"{where}: a board with [simulators.renode] needs a [uart] table (kind, base)")
    if board.stack_size >= board.ram_size:
        raise SoiError(f"{where}: stack_size {board.stack_size} exceeds ram.size {board.ram_size}")
    _check_consistent(board, path)
    return board


def _check_consistent(board: Board, path: Path) -> None:
    """Fields that contradict each other would build firmware for one chip and simulate another."""
    if board.core not in CORES:
        raise SoiError(f"board file {path}: core '{board.core}' is not supported; use one of {', '.join(CORES)}")
    no_fpu = CORES[board.core].fpu is None
    mcpu = [f.split("=", 1)[1] for f in board.cpu_flags if f.startswith("-mcpu=")]
    if len(mcpu) != 1 or mcpu[0].split("+")[0] != board.core:
        raise SoiError(f"board file {path}: cpu_flags must hold one -mcpu={board.core} for core '{board.core}' "
                       f"(found {', '.join('-mcpu=' + m for m in mcpu) or 'none'})")
    if no_fpu and any(f.startswith("-mfpu=") and f != "-mfpu=none" or f == "-mfloat-abi=hard"
                                     for f in board.cpu_flags):
        raise SoiError(f"board file {path}: {board.core} has no FPU, but cpu_flags ask for one (-mfpu / -mfloat-abi=hard)")
    if board.qemu_cpu and board.qemu_cpu != board.core:
        raise SoiError(f"board file {path}: [simulators.qemu] cpu '{board.qemu_cpu}' contradicts core '{board.core}'")
    flash = (board.flash_origin, board.flash_origin + board.flash_size)
    ram = (board.ram_origin, board.ram_origin + board.ram_size)
    if flash[0] < ram[1] and ram[0] < flash[1]:
        raise SoiError(f"board file {path}: flash 0x{flash[0]:08x}-0x{flash[1]:08x} and RAM 0x{ram[0]:08x}-0x{ram[1]:08x} overlap")
