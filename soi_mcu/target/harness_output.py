"""The harness's report lines: the pass/fail contract every simulator backend reads the same way.

The generated harness (templates/soi_harness.c.j2) prints, over semihosting in QEMU or the board's
UART in Renode:

    SOI_OUT <step> <hex bytes>   one line per step
    SOI_STACK <bytes>            the stack's high-water mark
    SOI_DONE                     the run finished

and on failure `SOI_ERROR <what>` (a kernel status, scratch too small) or, from the startup code's
HardFault handler, `SOI_FAULT pc=<n> cfsr=<n> hfsr=<n>`. A run passes only with SOI_DONE, one
SOI_OUT per frame and a stack that stayed clear of its guard margin.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from soi_mcu.errors import ToolError
from soi_mcu.target.boards import Board

# The stack is painted at reset; a high-water mark this close to its end means the paint is gone up
# to the guard margin, so the stack overflowed.
STACK_GUARD_BYTES = 64


@dataclass(frozen=True)
class RunLog:
    """Where a failed run's evidence lies, for the message that names it."""
    simulator: str  # "QEMU", "renode-test"
    output: Path  # the file holding the harness's lines
    log: Path  # the simulator's own log


def check_finished(rc: int, lines: list[str], symbols: dict[str, tuple[int, int]], where: RunLog,
                   exhausted: str | None = None) -> None:
    """Raise ToolError naming the failure unless the harness printed SOI_DONE and the simulator exited 0;
    `exhausted`: the message for a run the simulator stopped at its instruction budget."""
    fault = next((ln for ln in lines if ln.startswith("SOI_FAULT")), None)
    if fault:
        fields = dict(f.split("=") for f in fault.split()[1:])
        pc = int(fields["pc"])
        raise ToolError(f"firmware HardFault at pc=0x{pc:08x} ({symbol_at(symbols, pc)}), "
                       f"CFSR=0x{int(fields['cfsr']):08x} HFSR=0x{int(fields['hfsr']):08x}; see {where.output}")
    if exhausted:
        raise ToolError(exhausted)
    error = next((ln for ln in lines if ln.startswith("SOI_ERROR")), None)
    if error:
        raise ToolError(f"firmware reported: {error[len('SOI_ERROR '):]}")
    if rc != 0 or "SOI_DONE" not in lines:
        raise ToolError(f"{where.simulator} exited with code {rc} before the firmware printed SOI_DONE; "
                       f"see {where.log}")


def symbol_at(symbols: dict[str, tuple[int, int]], pc: int) -> str:
    """The function of the ELF's symbol table that holds `pc`."""
    for name, (addr, size) in symbols.items():
        start = addr & ~1
        if start <= pc < start + max(size, 1):
            return name
    return "unknown function"


def parse_outputs(lines: list[str], frames: int, out_bytes: int) -> np.ndarray:
    """The SOI_OUT lines -> int8 (frames, out_bytes); every frame exactly once."""
    out = np.zeros((frames, out_bytes), dtype=np.int8)
    seen = np.zeros(frames, dtype=bool)
    for ln in lines:
        if ln.startswith("SOI_OUT "):
            _, step, hexdata = ln.split()
            data = np.frombuffer(bytes.fromhex(hexdata), dtype=np.int8)
            k = int(step)
            if not 0 <= k < frames or seen[k] or data.size != out_bytes:
                raise ToolError(f"firmware printed a malformed output line for step {k} "
                               f"({data.size} bytes, {frames} frames of {out_bytes} expected)")
            out[k] = data
            seen[k] = True
    if not seen.all():
        raise ToolError(f"firmware printed {int(seen.sum())} output frames, expected {frames}")
    return out


def stack_peak(lines: list[str], board: Board) -> int:
    """The SOI_STACK figure, after checking the stack did not overflow."""
    stack = next((int(ln.split()[1]) for ln in lines if ln.startswith("SOI_STACK ")), None)
    if stack is None:
        raise ToolError("the firmware printed no SOI_STACK line")
    if stack >= board.stack_size - STACK_GUARD_BYTES:
        raise ToolError(f"stack overflow: the firmware used {stack} of its {board.stack_size}-byte stack; "
                       f"raise stack_size in boards/{board.name}.toml (outputs of this run are not trusted)")
    return stack
