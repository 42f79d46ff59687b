"""The on-disk cache the stages share ($SOI_MCU_CACHE, else ~/.cache/soi-mcu): entries that are written
atomically with their content hash and checked against it every time they are read.

Each entry `<stage>/<name>` has a side file `<name>.sha256` ("<hex digest> <size>"), written after the
entry itself, both through a temporary file and a rename. So an entry is trusted only when its bytes
are the ones that were stored: a truncated conversion, an empty plugin, a half-written object (a full
disk, a killed process, an edit by hand) is found on the next read, removed with one line saying so,
and rebuilt by its stage, instead of failing every later run with a message that blames something else.
An entry with no side file (written by an older soi-mcu, or left by a crash between the two renames) is
rebuilt without a word, unless the stage can vouch for it (`adopt`): then its hash is recorded.

`soi-mcu cache [--clear] [--json]` shows where the cache is and what it holds (cache_report()).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
from collections.abc import Callable
from pathlib import Path

from soi_mcu.paths import cache_dir, cache_root

HASH_SUFFIX = ".sha256"
# The stages' folders, and what they hold (`soi-mcu cache` lists them; --clear removes these only).
STAGES = {
    "tflite": "full-int8 conversions (.tflite), keyed by the model, its weights, the calibration and the converter",
    "code-size": "objects compiled for the code-size estimate, keyed by the source, its headers and the flags",
    "qemu-plugin": "the QEMU cycle plugin (.so), keyed by its sources, and the qemu-plugin.h it is built against",
    "speech": "utterances synthesized with espeak-ng for training (soi-mcu train)",
}


def _digest(data: bytes) -> str:
    return f"{hashlib.sha256(data).hexdigest()} {len(data)}"


def _side(path: Path) -> Path:
    return path.with_name(path.name + HASH_SUFFIX)


def _write(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def store(path: Path, data: bytes) -> Path:
    """Put `data` into the cache at `path`, with its hash."""
    path.parent.mkdir(parents=True, exist_ok=True)
    _write(path, data)
    _write(_side(path), _digest(data).encode())  # last: an entry without it is not trusted
    return path


def store_file(produced: Path, path: Path) -> Path:
    """Move a file a stage produced (on the cache's file system) into the cache at `path`, with its hash."""
    digest = _digest(produced.read_bytes())
    os.replace(produced, path)
    _write(_side(path), digest.encode())
    return path


def evict(path: Path, why: str) -> None:
    """Remove a damaged entry, saying so (the stage then rebuilds it)."""
    print(f"soi-mcu: cache entry {path} is damaged ({why}); removed it, rebuilding it", file=sys.stderr, flush=True)
    path.unlink(missing_ok=True)
    _side(path).unlink(missing_ok=True)


def problem(path: Path) -> str | None:
    """Why the entry at `path` cannot be trusted ("" when it has no recorded hash), or None when it is intact."""
    try:
        recorded = _side(path).read_text().strip()
    except (OSError, UnicodeDecodeError):
        return ""
    try:
        data = path.read_bytes()
    except OSError as exc:
        return f"unreadable: {exc.strerror}"
    actual = _digest(data)
    if actual == recorded:
        return None
    size = recorded.split()[-1] if recorded.split() else "?"
    return f"{len(data)} bytes, {size} were stored" if actual.split()[1] != size else "its content changed since it was stored"


def load(path: Path, adopt: Callable[[bytes], bool] | None = None) -> bytes | None:
    """The bytes of the intact entry at `path`; None when it is absent or was damaged (then removed, with a
    line saying so): the caller rebuilds it and stores the result. `adopt(data)`: whether an entry without
    a recorded hash is sound enough to keep (its hash is recorded then)."""
    if not path.is_file():
        _side(path).unlink(missing_ok=True)  # a side file alone is left by an eviction racing a store
        return None
    why = problem(path)
    if why is None:
        return path.read_bytes()
    if why == "":  # no recorded hash
        data = path.read_bytes()
        if adopt is not None and adopt(data):
            _write(_side(path), _digest(data).encode())
            return data
        path.unlink(missing_ok=True)  # unverifiable, not damaged: rebuilt without a word
        return None
    evict(path, why)
    return None


def valid(path: Path, adopt: Callable[[bytes], bool] | None = None) -> bool:
    """Whether the entry at `path` can be used as it is on disk (a file a program opens by its path:
    a plugin, an object); a damaged one is removed, with a line saying so."""
    return load(path, adopt) is not None


def cache_report() -> dict:
    """Where the cache is and what each stage's folder holds: entries, bytes, damaged entries."""
    root = cache_root()
    stages = []
    names = sorted({*STAGES, *(p.name for p in root.iterdir() if p.is_dir())} if root.is_dir() else STAGES)
    for name in names:
        folder = cache_dir(name)
        files = [p for p in folder.rglob("*") if p.is_file() and not p.name.endswith(HASH_SUFFIX)
                 and not p.name.endswith(".tmp")] if folder.is_dir() else []
        damaged = [str(p) for p in files if _side(p).is_file() and problem(p)]
        stages.append({"name": name, "path": str(folder), "holds": STAGES.get(name, "(not soi-mcu's)"),
                       "entries": len(files), "bytes": sum(p.stat().st_size for p in files), "damaged": damaged})
    source = "SOI_MCU_CACHE" if os.environ.get("SOI_MCU_CACHE") else "default (set SOI_MCU_CACHE to move it)"
    return {"root": str(root), "set_by": source, "stages": stages}


def clear_cache() -> list[Path]:
    """Remove the stages' folders (only those: the root may be shared with other things); returns them."""
    removed = []
    for name in STAGES:
        folder = cache_dir(name)
        if folder.is_dir():
            shutil.rmtree(folder)
            removed.append(folder)
    return removed


def format_cache(report: dict) -> str:
    lines = [f"cache: {report['root']} ({report['set_by']})"]
    for s in report["stages"]:
        bad = f", {len(s['damaged'])} damaged (removed and rebuilt on next use)" if s["damaged"] else ""
        lines.append(f"  {s['name']:12s} {s['entries']:5d} entries {_size(s['bytes']):>9s}{bad}  {s['holds']}")
    return "\n".join(lines)


def _size(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 1e6 else f"{n / 1e3:.0f} kB"
