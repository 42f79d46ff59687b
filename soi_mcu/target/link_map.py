"""What the model itself takes in a linked firmware, read from the linker's map file.

The firmware holds more than the model: the start-up code, the harness that feeds frames and prints
outputs, the test frames, the C library. A user links the model library into their own firmware,
so what they pay for is the model's objects alone: the generated model, the runtime and the kernels.
The map lists every input section kept in the output, with its size and the object it came from;
summing them per object gives that figure (what `soi-mcu analyze` predicts before building).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

# Objects of the model library: the generated model, the ring runtime, the kernels (or CMSIS-NN's).
LIBRARY_OBJECTS = re.compile(r"lib(soi_model|soi_runtime|soi_kernels|cmsis-nn|cmsis_nn)[^/(]*\.a\(")
_OUTPUT = re.compile(r"^(\.[\w.]+)\s+0x[0-9a-f]+\s+0x[0-9a-f]+")
_INPUT = re.compile(r"^ (\.[\w.]+|COMMON)?\s*0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+(\S.*)$")
FLASH_SECTIONS = (".text", ".rodata")
RAM_SECTIONS = (".bss", ".noinit")
BOTH_SECTIONS = (".data",)  # initialised RAM: its initial values are kept in flash too


@dataclass(frozen=True)
class Footprint:
    """Bytes the model library takes: flash (code, constants, initial values) and static RAM."""

    flash: int
    ram: int
    by_object: dict[str, tuple[int, int]]  # object -> (flash, ram)


def library_footprint(map_file: Path) -> Footprint:
    by_object: dict[str, list[int]] = {}
    output = ""
    pending = ""  # an input section whose name was on a line of its own
    in_map = False
    for line in map_file.read_text(errors="replace").splitlines():
        if not in_map:
            in_map = line.startswith("Linker script and memory map")
            continue
        out = _OUTPUT.match(line)
        if out:
            output = out.group(1)
            continue
        if line.startswith(" .") and len(line.split()) == 1:
            pending = line.strip()
            continue
        m = _INPUT.match(line)
        if not m or not (m.group(1) or pending):
            pending = ""
            continue
        pending = ""
        size, obj = int(m.group(3), 16), m.group(4).strip()
        if not size or not LIBRARY_OBJECTS.search(obj):
            continue
        sizes = by_object.setdefault(_short(obj), [0, 0])
        if output.startswith(FLASH_SECTIONS) or output.startswith(BOTH_SECTIONS):
            sizes[0] += size
        if output.startswith(RAM_SECTIONS) or output.startswith(BOTH_SECTIONS):
            sizes[1] += size
    return Footprint(flash=sum(v[0] for v in by_object.values()), ram=sum(v[1] for v in by_object.values()),
                     by_object={k: (v[0], v[1]) for k, v in by_object.items()})


def _short(obj: str) -> str:
    return obj.rsplit("/", 1)[-1]
