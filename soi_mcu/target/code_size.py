"""Code-size estimate of a generated model before the firmware is built: the model's own functions
plus every kernel function they reach.

Each source (the generated soi_model.c, the project's kernels, the ring-buffer runtime) is compiled
on its own for the board's core, with the firmware's flags and one section per function, and the
objects are read like a linker with --gc-sections would: start at the model's API functions and
follow the relocations of each function's section. The objects are cached by the hash of source and
flags, so only the generated file is compiled again for a new model. Const data (weights, tables)
is counted as weights, not code; the C library's memcpy/memset and the startup code are left out.
With CMSIS_NN_PATH set the estimate still uses the project's kernels (same API, similar size).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

from elftools.elf.elffile import ELFFile
from elftools.elf.relocation import RelocationSection

from soi_mcu import cache
from soi_mcu.errors import SoiError, ToolError, raise_if_interrupted
from soi_mcu.paths import FIRMWARE_DIR, cache_dir, kernel_include_dirs, kernel_sources
from soi_mcu.target.boards import Board

API_FUNCTIONS = ("init", "reset", "step", "precompute")
ROOTS = tuple(f"soi_model_{f}" for f in API_FUNCTIONS)


def roots(model_c: Path) -> tuple[str, ...]:
    """The model's API functions: the generated file is named after their prefix (soi_model, or --name)."""
    return tuple(f"{model_c.stem}_{f}" for f in API_FUNCTIONS)
FLAGS = ("-O2", "-std=c11", "-ffunction-sections", "-fdata-sections")


def estimate_code_bytes(model_c: Path, board: Board) -> int | None:
    """Bytes of code the model and its kernels will take in flash; None without a cross compiler."""
    functions = code_functions(model_c, board)
    if functions is None:
        return None
    return sum(functions[name][0] for name in reachable(functions, roots(model_c)))


def code_functions(model_c: Path, board: Board) -> dict[str, tuple[int, set[str]]] | None:
    """Every function the model may reach: name -> (bytes of code, names it refers to); None without a
    cross compiler."""
    gcc = shutil.which("arm-none-eabi-gcc")
    if gcc is None:
        return None
    sources = [model_c, *kernel_sources(), FIRMWARE_DIR / "runtime" / "soi_ring.c"]
    includes = [model_c.parent, *kernel_include_dirs(), FIRMWARE_DIR / "runtime"]
    functions: dict[str, tuple[int, set[str]]] = {}
    for src in sources:
        obj = _compile(gcc, src, includes, board)
        for name, size, refs in _functions(obj):
            functions.setdefault(name, (size, refs))
    missing = [r for r in roots(model_c) if r not in functions]
    if missing:
        raise SoiError(f"{model_c}: {', '.join(missing)} not found after compiling it; the generated code is incomplete")
    return functions


def reachable(functions: dict[str, tuple[int, set[str]]], roots: tuple[str, ...] | list[str]) -> set[str]:
    """The functions `roots` reach through their references (ours only: the C library is left out)."""
    seen: set[str] = set()
    todo = list(roots)
    while todo:
        name = todo.pop()
        if name in seen or name not in functions:
            continue  # not ours (the C library) or already counted
        seen.add(name)
        todo.extend(functions[name][1])
    return seen


def _compile(gcc: str, src: Path, includes: list[Path], board: Board) -> Path:
    flags = [*board.cpu_flags, *FLAGS, *(f"-I{d}" for d in includes)]
    # The key covers the headers it may include too: a changed header changes the object.
    headers = b"".join(h.read_bytes() for d in includes for h in sorted(d.glob("*.h")))
    key = hashlib.sha256(src.read_bytes() + headers + "\0".join(flags).encode()).hexdigest()[:24]
    folder = cache_dir("code-size")
    obj = folder / f"{src.stem}-{key}.o"
    if cache.valid(obj):  # its bytes are the ones stored (a truncated object is removed, and rebuilt here)
        return obj
    folder.mkdir(parents=True, exist_ok=True)
    tmp = obj.with_name(f".{obj.name}.{os.getpid()}.tmp")
    proc = subprocess.run([gcc, *flags, "-c", str(src), "-o", str(tmp)], capture_output=True, text=True)
    raise_if_interrupted(proc.returncode)
    if proc.returncode != 0:
        first = next((ln for ln in proc.stderr.splitlines() if "error" in ln), proc.stderr.strip()[:300])
        raise ToolError(f"compiling {src.name} for the code-size estimate failed: {first}")
    return cache.store_file(tmp, obj)


def _functions(obj: Path) -> list[tuple[str, int, set[str]]]:
    """(function, size of its .text section, symbols its relocations name) for each function section."""
    out = []
    with obj.open("rb") as fh:
        elf = ELFFile(fh)
        symtab = elf.get_section_by_name(".symtab")
        symbols = list(symtab.iter_symbols()) if symtab else []
        sections = list(elf.iter_sections())
        refs: dict[int, set[str]] = {}
        for sec in sections:
            if isinstance(sec, RelocationSection):
                target = sec["sh_info"]
                names = refs.setdefault(target, set())
                for rel in sec.iter_relocations():
                    sym = symbols[rel["r_info_sym"]]
                    shndx = sym["st_shndx"]
                    target_sec = sections[shndx] if isinstance(shndx, int) and 0 < shndx < len(sections) else None
                    if target_sec is not None and not target_sec.name.startswith(".text."):
                        # data (a table of function pointers, say): followed through its own relocations
                        names.add(target_sec.name)
                    elif sym.name:
                        names.add(sym.name)
                    elif sym["st_info"]["type"] == "STT_SECTION":  # a static function, by its section
                        names.add(sections[shndx].name.removeprefix(".text."))
        for index, sec in enumerate(sections):
            if sec.name.startswith(".text.") and sec["sh_size"]:
                out.append((sec.name.removeprefix(".text."), sec["sh_size"], refs.get(index, set())))
            elif index in refs:
                out.append((sec.name, 0, refs[index]))  # data counts as weights, its references as code
    return out


def model_data_bytes(model_c: Path, board: Board) -> dict[str, int] | None:
    """Bytes of the generated model's own data, from its compiled object (one section per variable):
    const (weights, kernel parameters, dims: flash), data (initialised: flash and RAM), bss (RAM:
    arena, states, scratch, kernel contexts). None without a cross compiler."""
    gcc = shutil.which("arm-none-eabi-gcc")
    if gcc is None:
        return None
    obj = _compile(gcc, model_c, [model_c.parent, *kernel_include_dirs(), FIRMWARE_DIR / "runtime"], board)
    sizes = {"const": 0, "data": 0, "bss": 0}
    with obj.open("rb") as fh:
        for sec in ELFFile(fh).iter_sections():
            name, size = sec.name, sec["sh_size"]
            if name.startswith(".rodata"):
                sizes["const"] += size
            elif name.startswith(".data"):
                sizes["data"] += size
            elif name.startswith(".bss") or name == "COMMON":
                sizes["bss"] += size
    return sizes
