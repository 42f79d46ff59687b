"""Which int8 kernels the firmware links: the user's CMSIS-NN, a CMSIS-NN pack, or soi-mcu's own.

Precedence (first match wins):
1. ``CMSIS_NN_PATH``: a CMSIS-NN checkout or extracted pack; it must pass the tree and API checks.
2. ``SOI_CMSIS_NN=pack``: the newest ``ARM/CMSIS-NN/<version>/`` under the CMSIS pack root
   (``CMSIS_PACK_ROOT``, else CMSIS-Toolbox's default) or a zipped pack in cmsis-pack-manager's cache
   that passes the checks. Opt-in only, so that a default build never depends on what happens to be
   installed on the machine and results stay reproducible.
3. soi-mcu's own kernels (firmware/kernels), the default (``SOI_CMSIS_NN`` unset or ``own``).

The API check compares the tree's headers with the project's own ``firmware/kernels/include`` (which
implements the same API): every function the generated code calls and every struct it fills must be
declared with the same types, so that an incompatible release is refused before anything is compiled.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

from soi_mcu.errors import SoiError
from soi_mcu.paths import FIRMWARE_DIR, PACKAGE_DIR, TEMPLATES_DIR
from soi_mcu.target.cmsis_nn_api import Api, parse_api, read_headers

# The first CMSIS-NN release whose API matches what soi-mcu generates (arm_convolve_wrapper_s8 & co. with
# arm_cmsis_nn_status and the current struct layouts): api_mismatches() is empty from arm_nnfunctions.h
# V.10.0.0 (May 2022, before the v4.0.0 tag) through v7.0.0 and main; older headers lack the API.
MIN_VERSION = "4.0.0"
PACK_VENDOR, PACK_NAME = "ARM", "CMSIS-NN"
ENV_MODE = "SOI_CMSIS_NN"
MODES = ("own", "pack")
UNSET_HINT = "point CMSIS_NN_PATH at a matching release or unset it to use the built-in kernels"
PACK_HINT = "install one with `cpackget add ARM::CMSIS-NN` (CMSIS-Toolbox) or unset SOI_CMSIS_NN to use the built-in kernels"

@dataclass(frozen=True)
class Kernels:
    """The kernels a build uses. kind: 'own', 'path' (CMSIS_NN_PATH) or 'pack'; path is None for 'own'."""

    kind: str
    path: Path | None = None
    version: str = ""

    @property
    def label(self) -> str:
        return "soi-mcu" if self.path is None else str(self.path)


# ---------------------------------------------------------------------------------------------------------
# What soi-mcu needs, and whether a tree provides it.


def required_api() -> Api:
    """The part of the project's own API that the generated code and harness use: the names in templates/
    and in the op modules, which name the kernel functions their nodes call (soi_mcu/ops/)."""
    own = parse_api(read_headers(FIRMWARE_DIR / "kernels" / "include"))
    used = set()
    sources = [*sorted(TEMPLATES_DIR.rglob("*.j2")), *sorted((PACKAGE_DIR / "ops").glob("*.py"))]
    for source in sources:
        used.update(re.findall(r"\b(?:arm|cmsis|ARM_CMSIS)_\w+", source.read_text()))
    functions = {n: p for n, p in own.functions.items() if n in used}
    wanted = {n for n in own.structs if n in used}
    for proto in functions.values():
        wanted.update(re.findall(r"\bcmsis_nn_\w+", " ".join(proto.params)))
    structs: dict[str, tuple[str, ...]] = {}
    while wanted:
        name = wanted.pop()
        if name in own.structs and name not in structs:
            structs[name] = own.structs[name]
            wanted.update(re.findall(r"\bcmsis_nn_\w+", " ".join(own.structs[name])))
    constants = frozenset(c for c in own.constants if c in used)
    return Api(functions, structs, constants)


def api_mismatches(include_dir: Path, need: Api | None = None) -> list[tuple[str, str]]:
    """(what the tree has, what soi-mcu needs) for each difference; [] when the API matches."""
    need = need or required_api()
    have = parse_api(read_headers(include_dir))
    out: list[tuple[str, str]] = []
    for name, proto in sorted(need.functions.items()):
        got = have.functions.get(name)
        if got is None:
            out.append((f"{name} is not declared here", f"soi-mcu calls {name}{proto.signature()}"))
        elif got.params != proto.params:
            out.append((f"{name} takes {got.signature()} here", f"soi-mcu needs {proto.signature()}"))
        elif got.ret != proto.ret:
            out.append((f"{name} returns {got.ret} here", f"soi-mcu needs {proto.ret}"))
    for name, fields in sorted(need.structs.items()):
        got_fields = have.structs.get(name)
        if got_fields is None:
            out.append((f"struct {name} is not declared here", f"soi-mcu fills {name} {{{'; '.join(fields)}}}"))
        elif got_fields != fields:
            out.append((f"{name} has {{{'; '.join(got_fields)}}} here", f"soi-mcu needs {{{'; '.join(fields)}}}"))
    missing = sorted(need.constants - have.constants)
    if missing:
        out.append((f"{', '.join(missing)} not defined here", "soi-mcu tests the kernels' status against them"))
    return out


def pdsc_version(tree: Path) -> str:
    """The newest <release version=...> of the tree's ARM.CMSIS-NN.pdsc; '' when absent or the 0.0.0 placeholder."""
    for pdsc in (tree / "ARM.CMSIS-NN.pdsc", tree / "pdsc" / "ARM.CMSIS-NN.pdsc"):
        try:
            text = pdsc.read_text(errors="replace")
        except OSError:
            continue
        match = re.search(r"<release\b[^>]*\bversion\s*=\s*\"([^\"]+)\"", text)
        if match and match.group(1) != "0.0.0":
            return match.group(1)
    return ""


def header_revision(tree: Path) -> str:
    """arm_nnfunctions.h's `$Revision: V.19.1.0` (the API header's own version); '' when absent."""
    try:
        text = (tree / "Include" / "arm_nnfunctions.h").read_text(errors="replace")
    except OSError:
        return ""
    match = re.search(r"\$Revision:\s*V?\.?\s*(\d+(?:\.\d+)*)", text)
    return match.group(1) if match else ""


def describe_version(tree: Path) -> str:
    """'CMSIS-NN 7.0.0' from the pdsc, else 'arm_nnfunctions.h V.19.1.0', else ''."""
    version = pdsc_version(tree)
    if version:
        return f"CMSIS-NN {version}"
    revision = header_revision(tree)
    return f"arm_nnfunctions.h V.{revision}" if revision else ""


def tree_problem(tree: Path) -> str:
    """Why `tree` cannot be used as CMSIS-NN ('' when it can): not a tree, no sources, or an API mismatch."""
    if not (tree / "Include" / "arm_nnfunctions.h").is_file():
        return "is not a CMSIS-NN tree (expected Include/arm_nnfunctions.h)"
    if not (tree / "CMakeLists.txt").is_file() and not (tree / "Source").is_dir():
        return "is not a CMSIS-NN tree (expected CMakeLists.txt or Source/)"
    mismatches = api_mismatches(tree / "Include")
    if not mismatches:
        return ""
    have, need = mismatches[0]
    more = f" (and {len(mismatches) - 1} more difference(s))" if len(mismatches) > 1 else ""
    return f"{have}, {need} (CMSIS-NN >= {MIN_VERSION}){more}"


def check_tree(tree: Path, origin: str, hint: str = UNSET_HINT) -> None:
    """Raise SoiError naming `origin` (e.g. 'CMSIS_NN_PATH=/x') when the tree cannot be used."""
    problem = tree_problem(tree)
    if problem:
        version = describe_version(tree) if (tree / "Include").is_dir() else ""
        raise SoiError(f"{origin}{f' ({version})' if version else ''}: {problem}: {hint}")


# ---------------------------------------------------------------------------------------------------------
# CMSIS packs.


def default_pack_root() -> Path:
    """CMSIS-Toolbox's (cpackget's) default pack root: %LOCALAPPDATA%\\Arm\\Packs, else $XDG_CACHE_HOME/arm/packs,
    else ~/.cache/arm/packs."""
    if sys.platform == "win32":
        base = os.environ.get("LOCALAPPDATA") or str(Path.home() / "AppData" / "Local")
        return Path(base) / "Arm" / "Packs"
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "arm" / "packs"


def pack_root() -> Path:
    """CMSIS_PACK_ROOT when set, else CMSIS-Toolbox's default."""
    value = os.environ.get("CMSIS_PACK_ROOT")
    return Path(value).expanduser() if value else default_pack_root()


def pack_manager_root() -> Path:
    """cmsis-pack-manager's cache (appdirs user_data_dir): zipped packs as <vendor>/<name>/<version>.pack."""
    if sys.platform == "win32":
        base = os.environ.get("LOCALAPPDATA") or str(Path.home() / "AppData" / "Local")
        return Path(base) / "cmsis-pack-manager" / "cmsis-pack-manager"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Application Support" / "cmsis-pack-manager"
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "cmsis-pack-manager"


def extract_dir() -> Path:
    """Where zipped packs are unpacked for the build (soi-mcu's cache)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "soi-mcu" / "cmsis-nn-packs"


def _version_key(version: str) -> tuple:
    # Semantic version order: 7.0.0 > 7.0.0-dev3 > 6.0.0; unparsable names sort first.
    match = re.match(r"^(\d+)\.(\d+)\.(\d+)(?:-(.+))?$", version)
    if not match:
        return (-1, version)
    pre = match.group(4)
    return (int(match.group(1)), int(match.group(2)), int(match.group(3)), pre is None, pre or "")


@dataclass(frozen=True)
class PackCandidate:
    version: str
    path: Path  # an extracted tree, or a .pack zip in cmsis-pack-manager's cache
    problem: str = ""  # '' when usable


def pack_candidates(root: Path | None = None, manager_root: Path | None = None,
                    unpack_to: Path | None = None) -> list[PackCandidate]:
    """Every installed ARM::CMSIS-NN pack, newest first, each with the reason it cannot be used ('' when it can).

    Extracted packs (CMSIS-Toolbox) are checked in place; zipped ones (cmsis-pack-manager) are unpacked first,
    into `unpack_to` (default: soi-mcu's cache). An extracted pack wins over a zipped one of the same version."""
    root = root or pack_root()
    manager_root = manager_root or pack_manager_root()
    found: dict[str, PackCandidate] = {}
    folder = manager_root / PACK_VENDOR / PACK_NAME
    for pack in sorted(folder.glob("*.pack")) if folder.is_dir() else []:
        try:
            tree = _extract(pack, unpack_to or extract_dir())
        except (OSError, zipfile.BadZipFile, SoiError) as exc:
            found[pack.stem] = PackCandidate(pack.stem, pack, f"cannot unpack: {exc}")
            continue
        found[pack.stem] = PackCandidate(pack.stem, tree, tree_problem(tree))
    folder = root / PACK_VENDOR / PACK_NAME
    for tree in sorted(p for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []:
        found[tree.name] = PackCandidate(tree.name, tree, tree_problem(tree))
    return sorted(found.values(), key=lambda c: _version_key(c.version), reverse=True)


def _extract(pack: Path, base: Path) -> Path:
    """Unpack Include/, Source/, the pdsc and LICENSE of a zipped pack into `base`, once (keyed by its content)."""
    digest = hashlib.sha256(pack.read_bytes()).hexdigest()[:12]
    dest = base / f"{pack.stem}-{digest}"
    if (dest / "Include" / "arm_nnfunctions.h").is_file():
        return dest
    tmp = dest.with_name(dest.name + f".tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    with zipfile.ZipFile(pack) as zf:
        names = zf.namelist()
        pdsc = next((n for n in names if n.endswith("ARM.CMSIS-NN.pdsc")), None)
        if pdsc is None:
            raise SoiError(f"{pack} has no ARM.CMSIS-NN.pdsc")
        prefix = pdsc[: -len("ARM.CMSIS-NN.pdsc")]
        for name in names:
            rel = name[len(prefix):] if name.startswith(prefix) else ""
            keep = rel.startswith(("Include/", "Source/")) or rel in ("ARM.CMSIS-NN.pdsc", "LICENSE")
            if not keep or name.endswith("/") or ".." in Path(rel).parts:
                continue
            target = tmp / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(zf.read(name))
    try:
        tmp.rename(dest)
    except OSError:  # another process unpacked it meanwhile
        shutil.rmtree(tmp, ignore_errors=True)
    return dest


# ---------------------------------------------------------------------------------------------------------
# The choice.


def requested_mode() -> str:
    """SOI_CMSIS_NN: 'own' (default) or 'pack'."""
    mode = os.environ.get(ENV_MODE, "").strip().lower() or "own"
    if mode not in MODES:
        raise SoiError(f"{ENV_MODE}={os.environ[ENV_MODE]} is not one of {', '.join(MODES)}: "
                       f"set it to pack (use an installed CMSIS-NN pack) or unset it (soi-mcu's own kernels)")
    return mode


def select_kernels() -> Kernels:
    """The kernels to build with (see the module docstring for the order); raises SoiError with what to do."""
    value = os.environ.get("CMSIS_NN_PATH")
    if value:
        path = Path(value).expanduser().resolve()
        check_tree(path, f"CMSIS_NN_PATH={value}")
        return Kernels("path", path, describe_version(path))
    if requested_mode() == "pack":
        root, manager = pack_root(), pack_manager_root()
        candidates = pack_candidates(root, manager)
        usable = next((c for c in candidates if not c.problem), None)
        if usable is None:
            if candidates:
                c = candidates[0]
                raise SoiError(f"{ENV_MODE}=pack: no usable CMSIS-NN pack; the newest, {c.path} ({c.version}), "
                               f"{c.problem}: {PACK_HINT}")
            raise SoiError(f"{ENV_MODE}=pack: no CMSIS-NN pack in {root / PACK_VENDOR / PACK_NAME} "
                           f"(CMSIS_PACK_ROOT) or {manager / PACK_VENDOR / PACK_NAME}: {PACK_HINT}")
        return Kernels("pack", usable.path, f"CMSIS-NN {usable.version}")
    return Kernels("own")
