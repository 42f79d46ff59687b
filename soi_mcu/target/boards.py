"""Boards as data: one TOML file per board in boards/, parsed and validated into a Board."""

from __future__ import annotations

import difflib
import tomllib
from dataclasses import dataclass
from pathlib import Path

from soi_mcu.errors import SoiError
from soi_mcu.paths import BOARDS_DIR
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

    @property
    def simulators(self) -> tuple[str, ...]:
        return tuple(name for name, ok in (("qemu", self.qemu_machine), ("renode", self.renode_platform)) if ok)


def list_boards(boards_dir: Path = BOARDS_DIR) -> list[str]:
    """Names of the boards that have a data file."""
    return sorted(p.stem for p in boards_dir.glob("*.toml"))


def load_board(name: str, boards_dir: Path = BOARDS_DIR) -> Board:
    """Load boards/<name>.toml; an unknown name lists the known boards."""
    path = boards_dir / f"{name}.toml"
    if not path.is_file():
        known = list_boards(boards_dir)
        close = difflib.get_close_matches(name, known, n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        raise SoiError(f"unknown board '{name}'{hint}; known boards: {', '.join(known)}")
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise SoiError(f"board file {path} is not valid TOML: {exc}") from None
    return _board_from_dict(data, path)


def _board_from_dict(data: dict, path: Path) -> Board:
    def need(section: dict, key: str, kind: type, where: str = ""):
        if key not in section:
            raise SoiError(f"board file {path}: missing field '{where}{key}'")
        value = section[key]
        if not isinstance(value, kind) or isinstance(value, bool) and kind is int:
            raise SoiError(f"board file {path}: field '{where}{key}' must be {kind.__name__}")
        return value

    flash = need(data, "flash", dict)
    ram = need(data, "ram", dict)
    qemu = data.get("simulators", {}).get("qemu", {})
    renode = data.get("simulators", {}).get("renode", {})
    uart = data.get("uart", {})
    board = Board(
        name=need(data, "name", str),
        description=data.get("description", ""),
        core=need(data, "core", str),
        cpu_flags=tuple(need(data, "cpu_flags", list)),
        clock_hz=need(data, "clock_hz", int),
        flash_origin=need(flash, "origin", int, "flash."),
        flash_size=need(flash, "size", int, "flash."),
        ram_origin=need(ram, "origin", int, "ram."),
        ram_size=need(ram, "size", int, "ram."),
        stack_size=data.get("stack_size", 8192),
        qemu_machine=qemu.get("machine"),
        qemu_cpu=qemu.get("cpu"),
        renode_platform=renode.get("platform"),
        renode_uart=renode.get("uart"),
        uart_kind=uart.get("kind"),
        uart_base=uart.get("base"),
    )
    if board.name != path.stem:
        raise SoiError(f"board file {path}: name '{board.name}' differs from the file name")
    if board.clock_hz <= 0 or board.flash_size <= 0 or board.ram_size <= 0:
        raise SoiError(f"board file {path}: clock_hz, flash.size and ram.size must be positive")
    if board.uart_kind is not None and board.uart_kind not in UART_KINDS:
        raise SoiError(f"board file {path}: uart.kind '{board.uart_kind}' is not one of {', '.join(UART_KINDS)}")
    if (board.uart_kind is None) != (board.uart_base is None) or type(board.uart_base) not in (int, type(None)):
        raise SoiError(f"board file {path}: [uart] needs both kind (a string) and base (an integer address)")
    if board.renode_platform and board.uart_kind is None:
        raise SoiError(f"board file {path}: a board with [simulators.renode] needs a [uart] table (kind, base)")
    if board.stack_size >= board.ram_size:
        raise SoiError(f"board file {path}: stack_size {board.stack_size} exceeds ram.size {board.ram_size}")
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
