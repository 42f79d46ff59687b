"""Build, drive and read the soi_cycles QEMU TCG plugin (qemu-plugin/*.c, entry soi_cycles.c).

The plugin counts executed guest instructions and estimates Cortex-M cycles from per-core
timing tables; see qemu-plugin/README.md for what is counted and every approximation.
Its header, qemu-plugin.h, is GPL and not in this repository: it is fetched once from
Debian's qemu source package (or taken from $QEMU_PLUGIN_H) and cached with the build.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

from soi_mcu import cache as soi_cache
from soi_mcu.errors import SoiError, ToolError, raise_if_interrupted
from soi_mcu.paths import QEMU_PLUGIN_DIR, cache_dir
from soi_mcu.target.cores import CORES as SUPPORTED
from soi_mcu.target.sim_result import MarkHit

PLUGIN_SOURCE = QEMU_PLUGIN_DIR / "soi_cycles.c"  # the entry (qemu_plugin_install); every *.c there is built
SOURCE_SUFFIXES = (".c", ".h")
HEADER_NAME = "qemu-plugin.h"
# The timing tables the plugin has (qemu-plugin/soi_timing.c), one per supported core.
CORES = tuple(c.plugin_timing for c in SUPPORTED.values())
CFLAGS = ("-shared", "-fPIC", "-O2", "-Wall")
# Bookworm ships QEMU 7.2, whose header declares plugin API version 1.
DEB_SRC_LINE = "deb-src http://deb.debian.org/debian bookworm main\n"
HEADER_HINT = "set QEMU_PLUGIN_H=/path/to/qemu-plugin.h (include/qemu/qemu-plugin.h of QEMU 7.2's source)"


def default_cache_dir() -> Path:
    """$SOI_MCU_CACHE/qemu-plugin, else ~/.cache/soi-mcu/qemu-plugin."""
    return cache_dir("qemu-plugin")


def ensure_plugin(cache_dir: Path | None = None) -> Path:
    """Return the compiled plugin, building it on first use (keyed by the sources' and header's hash)."""
    cache = cache_dir if cache_dir is not None else default_cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    sources = plugin_sources()
    header = _plugin_header(cache).read_bytes()
    lib = plugin_library(cache, sources, header)
    if not soi_cache.valid(lib):  # absent, or not the bytes that were built (then removed, with a line)
        _compile(sources, header, lib)
    return lib


def plugin_sources() -> dict[str, bytes]:
    """File name -> bytes of every .c and .h in qemu-plugin/, sorted by name (read once, so the
    cache key and the build see the same text)."""
    if not PLUGIN_SOURCE.is_file():
        raise ToolError(f"plugin source {PLUGIN_SOURCE} is missing; reinstall soi-mcu from its repository")
    paths = sorted(p for p in QEMU_PLUGIN_DIR.iterdir() if p.suffix in SOURCE_SUFFIXES and p.is_file())
    return {p.name: p.read_bytes() for p in paths}


def plugin_library(cache: Path, sources: dict[str, bytes], header: bytes) -> Path:
    """Where the build of `sources` against `header` is cached: keyed by every file's name and
    bytes, the header and CFLAGS, so editing any of them rebuilds."""
    digest = hashlib.sha256()
    for name, data in sorted(sources.items()):
        digest.update(f"{name}\0{len(data)}\0".encode() + data)
    digest.update(b"\0" + header + b"\0" + " ".join(CFLAGS).encode())
    return cache / f"soi_cycles-{digest.hexdigest()[:16]}.so"


def _plugin_header(cache: Path) -> Path:
    env = os.environ.get("QEMU_PLUGIN_H")
    if env:
        path = Path(env).expanduser()
        if not path.is_file():
            raise SoiError(f"QEMU_PLUGIN_H={env} is not a file; point it at QEMU 7.2's include/qemu/qemu-plugin.h")
        return path
    cached = cache / HEADER_NAME
    # A header cached by an older soi-mcu (no hash) is kept when it looks whole: fetching it again
    # needs the network.
    if soi_cache.load(cached, adopt=_whole_header) is None:
        data = _fetch_header_from_debian()
        if not _whole_header(data):
            raise ToolError(f"the {HEADER_NAME} fetched from Debian is not QEMU's plugin header; {HEADER_HINT}")
        soi_cache.store(cached, data)
    return cached


def _whole_header(data: bytes) -> bool:
    """Whether `data` reads as QEMU's plugin header, through to its end (a truncated one has no #endif)."""
    lines = data.rstrip().splitlines()
    return b"QEMU_PLUGIN_VERSION" in data and b"qemu_plugin_install" in data and bool(lines) and \
        lines[-1].startswith(b"#endif")


def _fetch_header_from_debian() -> bytes:
    """Download Debian's qemu source package with a private apt config; return the header's bytes."""
    apt = shutil.which("apt-get")
    if apt is None:
        raise ToolError(f"cannot fetch qemu-plugin.h: apt-get not found; {HEADER_HINT}")
    print("fetching qemu-plugin.h from Debian's qemu source package (once)", file=sys.stderr, flush=True)
    with tempfile.TemporaryDirectory(prefix="soi-apt-") as tmp_name:
        tmp = Path(tmp_name)
        for sub in ("lists/partial", "cache/archives/partial", "src"):
            (tmp / sub).mkdir(parents=True)
        (tmp / "sources.list").write_text(DEB_SRC_LINE)
        # Every path apt writes is redirected into tmp, so this needs no root and leaves the
        # system's apt state untouched.
        opts = [
            f"-o=Dir::Etc::SourceList={tmp / 'sources.list'}",
            "-o=Dir::Etc::SourceParts=/nonexistent",
            f"-o=Dir::State::Lists={tmp / 'lists'}",
            f"-o=Dir::Cache={tmp / 'cache'}",
            "-o=Debug::NoLocking=1",
        ]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            # As root apt drops to user _apt, who cannot write into our private temp dir.
            opts.append("-o=APT::Sandbox::User=root")
        _run_apt([apt, *opts, "-q", "update"], tmp, "apt-get update (deb.debian.org)")
        _run_apt([apt, *opts, "-q", "source", "--download-only", "qemu"], tmp / "src", "apt-get source qemu")
        tarballs = sorted((tmp / "src").glob("qemu_*.orig.tar.*"))
        if not tarballs:
            raise ToolError(f"apt-get source qemu fetched no orig tarball; {HEADER_HINT}")
        return _header_from_tarball(tarballs[0])


def _run_apt(cmd: list[str], cwd: Path, what: str) -> None:
    try:
        proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=600)
        raise_if_interrupted(proc.returncode)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ToolError(f"{what} failed ({exc}); {HEADER_HINT}") from exc
    # A failed download is only a warning to `apt-get update` (exit status 0): look for it.
    lines = (proc.stdout + "\n" + proc.stderr).splitlines()
    errors = [ln.strip() for ln in lines if ln.startswith(("E:", "Err:", "W: Failed to fetch"))]
    if proc.returncode != 0 or errors:
        detail = errors[0] if errors else (lines or ["no output"])[-1]
        raise ToolError(f"{what} failed: {detail}; check network access or {HEADER_HINT}")


def _header_from_tarball(tarball: Path) -> bytes:
    suffix = "/include/qemu/" + HEADER_NAME
    try:
        # Streaming mode ("r|*") reads the ~24 MB .xz once, front to back.
        with tarfile.open(tarball, mode="r|*") as tar:
            for member in tar:
                if member.isfile() and member.name.endswith(suffix):
                    handle = tar.extractfile(member)
                    if handle is not None:
                        return handle.read()
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise ToolError(f"cannot read {tarball.name}: {exc}; {HEADER_HINT}") from exc
    raise ToolError(f"{tarball.name} holds no include/qemu/{HEADER_NAME}; {HEADER_HINT}")


def _compile(sources: dict[str, bytes], header: bytes, lib: Path) -> None:
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        raise ToolError("no C compiler to build the QEMU plugin: install one with `apt-get install gcc`")
    with tempfile.TemporaryDirectory(prefix="soi-plugin-", dir=lib.parent) as tmp_name:
        tmp = Path(tmp_name)
        # Copy the header and every source so an oddly named $QEMU_PLUGIN_H still resolves as
        # <qemu-plugin.h>, and the build uses exactly the bytes the cache key was made from.
        (tmp / HEADER_NAME).write_bytes(header)
        for name, data in sources.items():
            (tmp / name).write_bytes(data)
        out = tmp / lib.name
        units = [str(tmp / name) for name in sorted(sources) if name.endswith(".c")]
        cmd = [cc, *CFLAGS, f"-I{tmp}", "-o", str(out), *units]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        raise_if_interrupted(proc.returncode)
        if proc.returncode != 0:
            first = next((ln for ln in proc.stderr.splitlines() if "error" in ln), proc.stderr.strip())
            raise ToolError(f"compiling the QEMU plugin failed: {first}")
        soi_cache.store_file(out, lib)  # atomic, with its hash: concurrent builders never see a half-written .so


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def plugin_args(
    out: Path,
    marks: list[int],
    core: str,
    *,
    limit: int | None = None,
    plugin: Path | None = None,
) -> str:
    """The value for QEMU's `-plugin` option: file=...,out=...,marks=...,core=...[,limit=N].

    Marks are function addresses; the Thumb bit (bit 0 of ELF symbol values) is cleared here.
    """
    if core not in SUPPORTED:
        raise SoiError(f"no timing table for core '{core}'; use one of: {', '.join(SUPPORTED)}")
    lib = plugin if plugin is not None else ensure_plugin()
    parts = [f"file={_qemu_escape(str(lib))}", f"out={_qemu_escape(str(out))}"]
    if marks:
        parts.append("marks=" + ":".join(f"0x{m & ~1:x}" for m in marks))
    parts.append(f"core={SUPPORTED[core].plugin_timing}")
    if limit is not None:
        parts.append(f"limit={int(limit)}")
    return ",".join(parts)


def _qemu_escape(value: str) -> str:
    # QEMU option values escape a literal comma by doubling it.
    return value.replace(",", ",,")


@dataclass(frozen=True)
class PluginTrace:
    """A run's totals: estimated cycles with refill P=2, and P=1 / P=3 for the range."""

    insns: int
    cycles: int
    cycles_p1: int
    cycles_p3: int
    marks: tuple[MarkHit, ...]
    extra: tuple[tuple[str, str], ...] = ()  # further key=value fields of the total line

    def hits(self, addr: int) -> list[MarkHit]:
        """The hits of the marker at `addr` (Thumb bit ignored), in order."""
        return [m for m in self.marks if m.addr == addr & ~1]


def parse_plugin_output(path: Path) -> PluginTrace:
    """Read the file the plugin writes at exit (see qemu-plugin/README.md for the format)."""
    try:
        lines = Path(path).read_text().splitlines()
    except OSError as exc:
        raise ToolError(f"no plugin output at {path} ({exc.strerror}); did QEMU start with the plugin?") from exc
    total: dict[str, str] | None = None
    marks: list[MarkHit] = []
    for number, line in enumerate(lines, 1):
        kind, _, rest = line.partition(" ")
        try:
            fields = dict(item.split("=", 1) for item in rest.split())
            if kind == "total":
                total = fields
            elif kind == "mark":
                marks.append(MarkHit(int(fields["addr"], 16), *_counts(fields)))
        except (KeyError, ValueError) as exc:
            raise ToolError(f"{path}:{number}: malformed plugin output line: {line!r}") from exc
    if total is None:
        raise ToolError(f"{path}: no 'total' line; QEMU probably died before exiting cleanly")
    try:
        insns, p1, p2, p3 = _counts(total)
    except (KeyError, ValueError) as exc:
        raise ToolError(f"{path}: malformed 'total' line") from exc
    known = {"insns", "cycles_p1", "cycles_p2", "cycles_p3"}
    extra = tuple((k, v) for k, v in total.items() if k not in known)
    return PluginTrace(insns, p2, p1, p3, tuple(marks), extra)


def _counts(fields: dict[str, str]) -> tuple[int, int, int, int]:
    return (
        int(fields["insns"]),
        int(fields["cycles_p1"]),
        int(fields["cycles_p2"]),
        int(fields["cycles_p3"]),
    )
