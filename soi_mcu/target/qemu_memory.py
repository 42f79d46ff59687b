"""Whether a board file's [flash] and [ram] regions have memory behind them in the QEMU machine it names.

A flash origin where the machine has no memory loads nothing (QEMU answers "rom check and register reset
failed", or the core locks up on its first vector fetch), which used to show as "QEMU exited with code 1"
after the export and the build. The machine's memory map comes from QEMU itself (`info mtree -f` on its
monitor, a fraction of a second, the machine never started), so a board file for any machine this QEMU
models is checked, not only the ones the project ships.
"""

from __future__ import annotations

import functools
import re
import subprocess

from soi_mcu.errors import SoiError, raise_if_interrupted
from soi_mcu.target.boards import Board

# One line of a flat view: "  0000000000000000-00000000003fffff (prio 0, ram): mps.ssram1".
_RANGE = re.compile(r"^\s+([0-9a-f]+)-([0-9a-f]+) \(prio -?\d+, ([a-z/]+)\): (.+?)\s*$")
# Memory a program can be loaded into and run from: RAM and ROM regions, and on the TrustZone machines
# (AN505, AN547) the memory behind a memory protection controller, which the CPU's view shows as i/o.
_MEMORY_KINDS = ("ram", "rom", "romd")
_BEHIND_MPC = "tz-mpc-upstream"


@functools.cache
def machine_memory(machine: str, qemu: str = "qemu-system-arm") -> tuple[tuple[int, int], ...]:
    """The [start, end) address ranges with memory behind them in the CPU's view of `machine`, merged;
    empty when QEMU cannot say (not installed, an old QEMU without the monitor command)."""
    cmd = [qemu, "-M", machine, "-nographic", "-S", "-monitor", "stdio", "-serial", "none"]
    try:
        proc = subprocess.run(cmd, input="info mtree -f\nquit\n", capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return ()
    raise_if_interrupted(proc.returncode)
    return parse_cpu_memory(proc.stdout)


def parse_cpu_memory(mtree: str) -> tuple[tuple[int, int], ...]:
    """The memory ranges of the flat view the CPU sees (address space "cpu-memory-0"), merged."""
    ranges, in_cpu_view = [], False
    for line in re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", mtree).splitlines():
        if line.startswith("FlatView"):
            in_cpu_view = False
        elif line.startswith(' AS "cpu-memory-0"'):
            in_cpu_view = True
        elif in_cpu_view and (m := _RANGE.match(line)):
            if m.group(3) in _MEMORY_KINDS or m.group(4) == _BEHIND_MPC:
                ranges.append((int(m.group(1), 16), int(m.group(2), 16) + 1))
    merged: list[tuple[int, int]] = []
    for start, end in sorted(ranges):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return tuple(merged)


def check_board_memory(board: Board, memory: tuple[tuple[int, int], ...]) -> None:
    """Refuse a [flash] or [ram] region that is not wholly inside one of the machine's memory ranges."""
    if not memory:
        return  # QEMU could not say: the run itself names what goes wrong
    for section, origin, size in (("flash", board.flash_origin, board.flash_size),
                                  ("ram", board.ram_origin, board.ram_size)):
        if any(start <= origin and origin + size <= end for start, end in memory):
            continue
        around = ", ".join(f"0x{s:08x}-0x{e - 1:08x}" for s, e in memory)
        raise SoiError(f"board file {board.file or board.name}: [{section}] origin = 0x{origin:08x}, size = 0x{size:x} "
                       f"is not memory in QEMU's {board.qemu_machine} (its memory: {around}); give a region inside "
                       f"one of those")
