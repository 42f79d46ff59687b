"""`soi-mcu doctor`: check everything the toolkit needs and say how to install what is missing.

Every check is side-effect free apart from a throw-away compile in a temp dir: nothing is
downloaded (the QEMU plugin header is fetched by the pipeline on first use, not here) and
TensorFlow is never imported (it takes seconds); package versions come from their metadata.
"""

from __future__ import annotations

import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from soi_mcu import paths
from soi_mcu.errors import SoiError
from soi_mcu.target import cmsis_nn, qemu_plugin
from soi_mcu.target.cores import CORES

TIMEOUT_S = 10.0
MIN_PYTHON = (3, 11)
MIN_CMAKE = (3, 20)
# The QEMU machines of every supported core's reference board (soi_mcu/target/cores.py; the board files name
# them the same as the machines, which test_cores checks).
QEMU_MACHINES = tuple(c.reference_board for c in CORES.values())
SETUP_HINT = "`make setup` installs everything"
ARM_GCC_HINT = "apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi"
NEWLIB_HINT = "apt-get install libnewlib-arm-none-eabi"
CMAKE_HINT = "apt-get install cmake"
QEMU_HINT = "apt-get install qemu-system-arm"
CC_HINT = "apt-get install gcc"
PIP_HINT = ".venv/bin/pip install -e .  (or `make setup`)"
CMSIS_NN_HINT = (
    "git clone https://github.com/ARM-software/CMSIS-NN && export CMSIS_NN_PATH=$PWD/CMSIS-NN "
    "(optional: without it soi-mcu's own kernels are used)"
)
RENODE_HINT = (
    "the renode backend is skipped without it; Renode is not in Debian/PyPI, "
    "install it from its own release packages (https://github.com/renode/renode/releases)"
)
# Distributions whose metadata proves a module is installed; the first one found wins
# (pyproject.toml depends on tensorflow-cpu, but a full tensorflow works just as well).
PACKAGES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("torch", ("torch",)),
    ("tensorflow", ("tensorflow", "tensorflow-cpu")),
    ("ai_edge_litert", ("ai-edge-litert", "ai-edge-litert-nightly")),
    ("numpy", ("numpy",)),
    ("jinja2", ("jinja2",)),
    ("elftools", ("pyelftools",)),
)


@dataclass(frozen=True)
class Check:
    """One requirement: whether it is met, its version, and what to do when it is not."""

    name: str
    ok: bool
    required: bool
    version: str = ""
    detail: str = ""
    fix: str = ""

    @property
    def status(self) -> str:
        if self.ok:
            return "OK"
        return "MISSING" if self.required else "optional-missing"


def _run(cmd: list[str], cwd: Path | None = None) -> tuple[int, str]:
    """Run `cmd`; (exit status, stdout+stderr). Never raises: a failure to run is status -1."""
    try:
        proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return -1, f"{Path(cmd[0]).name} did not answer within {TIMEOUT_S:.0f} s"
    except OSError as exc:
        return -1, f"cannot run {cmd[0]}: {exc.strerror or exc}"
    return proc.returncode, proc.stdout + proc.stderr


def _first_line(text: str) -> str:
    return next((ln.strip() for ln in text.splitlines() if ln.strip()), "")


def _version_tuple(text: str) -> tuple[int, ...] | None:
    match = re.search(r"(\d+)\.(\d+)(?:\.(\d+))?", text)
    return tuple(int(g) for g in match.groups() if g is not None) if match else None


def _gcc_version(first_line: str) -> str:
    # GCC prints "NAME (PACKAGE VERSION) X.Y.Z [DATE]": the compiler's own version follows the ')'.
    match = re.search(r"\)\s+(\d+\.\d+(?:\.\d+)?)", first_line)
    return match.group(1) if match else first_line


def _missing(name: str, hint: str, required: bool = True) -> Check:
    return Check(name, False, required, detail="not found on PATH", fix=hint)


def check_python() -> Check:
    v = sys.version_info
    version = f"{v.major}.{v.minor}.{v.micro}"
    ok = (v.major, v.minor) >= MIN_PYTHON
    need = ".".join(map(str, MIN_PYTHON))
    return Check("python", ok, True, version, sys.executable,
                 "" if ok else f"use Python >= {need}: apt-get install python3 python3-venv, then `make setup`")


def check_arm_gcc() -> list[Check]:
    gcc = shutil.which("arm-none-eabi-gcc")
    if gcc is None:
        return [_missing("arm-none-eabi-gcc", ARM_GCC_HINT),
                Check("newlib (arm-none-eabi)", False, True, detail="needs arm-none-eabi-gcc", fix=ARM_GCC_HINT)]
    rc, out = _run([gcc, "--version"])
    version = _gcc_version(_first_line(out)) if rc == 0 else ""
    checks = [Check("arm-none-eabi-gcc", rc == 0, True, version, gcc if rc == 0 else _first_line(out),
                    "" if rc == 0 else ARM_GCC_HINT)]
    checks.append(_check_newlib(gcc))
    return checks


def _check_newlib(gcc: str) -> Check:
    # Compiling alone would pass without newlib's libc: linking with nosys.specs is what needs it
    # (the spec file, crt0 and libc.a all come from libnewlib-arm-none-eabi).
    name = "newlib (arm-none-eabi)"
    source = '#include <string.h>\n#include <stdlib.h>\nint main(void) { return (int)strlen(getenv("X")); }\n'
    with tempfile.TemporaryDirectory(prefix="soi-doctor-") as tmp_name:
        tmp = Path(tmp_name)
        (tmp / "main.c").write_text(source)
        rc, out = _run([gcc, "--specs=nosys.specs", "-mcpu=cortex-m4", "-mthumb", "-O1",
                        "-o", str(tmp / "main.elf"), str(tmp / "main.c")], cwd=tmp)
        linked = rc == 0 and (tmp / "main.elf").is_file()
    if linked:
        return Check(name, True, True, "", "links a Cortex-M4 program with --specs=nosys.specs")
    reason = next((ln.strip() for ln in out.splitlines() if "error" in ln or "cannot" in ln), _first_line(out))
    return Check(name, False, True, "", f"test link failed: {reason}", NEWLIB_HINT)


def check_cmake() -> Check:
    cmake = shutil.which("cmake")
    if cmake is None:
        return _missing("cmake", CMAKE_HINT)
    rc, out = _run([cmake, "--version"])
    version = _version_tuple(_first_line(out)) if rc == 0 else None
    text = ".".join(map(str, version)) if version else ""
    need = ".".join(map(str, MIN_CMAKE))
    if version is None:
        return Check("cmake", False, True, "", f"cannot read its version: {_first_line(out)}", CMAKE_HINT)
    if version < MIN_CMAKE:
        return Check("cmake", False, True, text, f"{cmake} is older than {need}",
                     f"install CMake >= {need} (Debian 12: {CMAKE_HINT}; or pip install cmake)")
    return Check("cmake", True, True, text, cmake)


def check_qemu() -> list[Check]:
    qemu = shutil.which("qemu-system-arm")
    if qemu is None:
        return [_missing("qemu-system-arm", QEMU_HINT),
                Check("qemu machines", False, True, detail="needs qemu-system-arm", fix=QEMU_HINT)]
    rc, out = _run([qemu, "--version"])
    version = _version_tuple(_first_line(out)) if rc == 0 else None
    text = ".".join(map(str, version)) if version else ""
    checks = [Check("qemu-system-arm", rc == 0, True, text, qemu if rc == 0 else _first_line(out),
                    "" if rc == 0 else QEMU_HINT)]
    rc, out = _run([qemu, "-machine", "help"])
    listed = {ln.split()[0] for ln in out.splitlines() if ln.strip()} if rc == 0 else set()
    absent = [m for m in QEMU_MACHINES if m not in listed]
    if rc != 0:
        checks.append(Check("qemu machines", False, True, "", f"-machine help failed: {_first_line(out)}", QEMU_HINT))
    elif absent:
        checks.append(Check("qemu machines", False, True, "", f"not listed by -machine help: {', '.join(absent)}",
                            f"install a QEMU with these machines (>= 7.0; Debian 12: {QEMU_HINT})"))
    else:
        checks.append(Check("qemu machines", True, True, "", " ".join(QEMU_MACHINES)))
    return checks


def check_plugin_header() -> Check:
    name = "qemu-plugin.h"
    env = os.environ.get("QEMU_PLUGIN_H")
    if env:
        path = Path(env).expanduser()
        if path.is_file():
            return Check(name, True, True, "", f"QEMU_PLUGIN_H={env}")
        return Check(name, False, True, "", f"QEMU_PLUGIN_H={env} is not a file",
                     "point QEMU_PLUGIN_H at QEMU 7.2's include/qemu/qemu-plugin.h, or unset it")
    cached = qemu_plugin.default_cache_dir() / qemu_plugin.HEADER_NAME
    if cached.is_file():
        return Check(name, True, True, "", f"cached: {cached}")
    # Not a failure: ensure_plugin() fetches it on first use (with apt-get, no root needed).
    if shutil.which("apt-get") is None:
        return Check(name, False, True, "", "not cached, and apt-get (used to fetch it) is not on PATH",
                     qemu_plugin.HEADER_HINT)
    return Check(name, True, True, "", "not cached yet: will be fetched on first use from Debian's qemu source package")


def check_plugin_build() -> Check:
    # Mirrors ensure_plugin()'s cache key without fetching or compiling anything.
    name = "qemu plugin build"
    cache = qemu_plugin.default_cache_dir()
    env = os.environ.get("QEMU_PLUGIN_H")
    header = Path(env).expanduser() if env else cache / qemu_plugin.HEADER_NAME
    try:
        sources = qemu_plugin.plugin_sources()
    except (OSError, SoiError):
        return Check(name, False, True, "", f"plugin source {qemu_plugin.PLUGIN_SOURCE} is missing",
                     "reinstall soi-mcu from its repository")
    if not header.is_file():
        return Check(name, True, False, "", "built on first use (needs the header and a host C compiler)")
    lib = qemu_plugin.plugin_library(cache, sources, header.read_bytes())
    if lib.is_file():
        return Check(name, True, False, "", f"cached: {lib}")
    return Check(name, True, False, "", f"not cached yet: built on first use into {cache}")


def check_host_cc() -> Check:
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        return Check("host C compiler", False, True, "", "neither cc nor gcc on PATH (needed to build the QEMU plugin)",
                     CC_HINT)
    rc, out = _run([cc, "--version"])
    if rc != 0:
        return Check("host C compiler", False, True, "", f"{cc} --version failed: {_first_line(out)}", CC_HINT)
    return Check("host C compiler", True, True, _gcc_version(_first_line(out)), cc)


def _dist_version(dists: tuple[str, ...]) -> tuple[str, str] | None:
    for dist in dists:
        try:
            return dist, importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            continue
    return None


def check_packages() -> list[Check]:
    checks = []
    for module, dists in PACKAGES:
        found = _dist_version(dists)
        if found is None:
            checks.append(Check(module, False, True, "", f"no distribution {' / '.join(dists)} in {sys.executable}",
                                f"pip install {dists[0]}  ({SETUP_HINT})"))
        else:
            checks.append(Check(module, True, True, found[1], found[0]))
    return checks


def check_litert_ref() -> Check:
    # The bit-exact comparison needs LiteRT's reference kernels, not its optimised ones.
    name = "LiteRT reference kernels"
    try:
        from ai_edge_litert.interpreter import OpResolverType

        _ = OpResolverType.BUILTIN_REF
    except Exception as exc:  # any import failure means the same thing to the user
        return Check(name, False, True, "", f"OpResolverType.BUILTIN_REF unavailable: {type(exc).__name__}: {exc}",
                     f"pip install -U ai-edge-litert  ({SETUP_HINT})")
    return Check(name, True, True, "", "ai_edge_litert.interpreter.OpResolverType.BUILTIN_REF")


def _tree_version(tree: Path) -> str:
    return cmsis_nn.pdsc_version(tree) or cmsis_nn.header_revision(tree)


def check_data() -> Check:
    """The templates, firmware sources and board files the package reads: in the install or the checkout."""
    missing = paths.missing_data()
    where = "installed (soi_mcu/_data)" if paths.INSTALLED else "checkout"
    if missing:
        return Check("soi-mcu data", False, True, "", f"{paths.PROJECT_ROOT} lacks {', '.join(missing)}",
                     f"reinstall soi-mcu (pip install .) or run it from a complete checkout ({PIP_HINT})")
    return Check("soi-mcu data", True, True, "", f"{where}: {paths.PROJECT_ROOT}")


def check_cmsis_nn() -> Check:
    name = "CMSIS-NN (CMSIS_NN_PATH)"
    value = os.environ.get("CMSIS_NN_PATH")
    if not value:
        return Check(name, False, False, "", "unset: soi-mcu's own kernels (firmware/kernels/) are used", CMSIS_NN_HINT)
    path = Path(value).expanduser()
    # Set but unusable is a hard failure: the build refuses it (cmsis_nn.select_kernels raises).
    problem = cmsis_nn.tree_problem(path)
    version = _tree_version(path)
    if problem:
        return Check(name, False, True, version, f"CMSIS_NN_PATH={value} {problem}",
                     f"point CMSIS_NN_PATH at a CMSIS-NN >= {cmsis_nn.MIN_VERSION} tree, or unset it")
    return Check(name, True, True, version, f"{path}: API matches" if version
                 else f"{path}: API matches (no version in the pdsc or arm_nnfunctions.h)")


def check_cmsis_packs() -> list[Check]:
    found = _dist_version(("cmsis-pack-manager",))
    checks = [Check("cmsis-pack-manager", found is not None, False, found[1] if found else "",
                    "" if found else "not installed (only one way to get a CMSIS-NN pack)",
                    "" if found else "pip install cmsis-pack-manager  (optional)")]
    name = "CMSIS-NN pack"
    try:
        opted_in = cmsis_nn.requested_mode() == "pack"
    except SoiError:
        value = os.environ.get(cmsis_nn.ENV_MODE, "")
        return [*checks, Check(name, False, True, "", f"{cmsis_nn.ENV_MODE}={value} is not one of "
                               f"{', '.join(cmsis_nn.MODES)}", f"set {cmsis_nn.ENV_MODE}=pack or unset it")]
    root, manager = cmsis_nn.pack_root(), cmsis_nn.pack_manager_root()
    where = f"{root / cmsis_nn.PACK_VENDOR / cmsis_nn.PACK_NAME} or {manager / cmsis_nn.PACK_VENDOR / cmsis_nn.PACK_NAME}"
    # Zipped packs are checked in a throw-away folder: doctor leaves no cache behind.
    with tempfile.TemporaryDirectory(prefix="soi-doctor-") as tmp:
        candidates = cmsis_nn.pack_candidates(root, manager, unpack_to=Path(tmp))
    usable = next((c for c in candidates if not c.problem), None)
    versions = ", ".join(c.version + ("" if not c.problem else " (unusable)") for c in candidates)
    overridden = bool(os.environ.get("CMSIS_NN_PATH"))
    use = ("not used: CMSIS_NN_PATH comes first" if overridden
           else "used: SOI_CMSIS_NN=pack" if opted_in else "not used: set SOI_CMSIS_NN=pack to build with it")
    needed = opted_in and not overridden  # the build fails without a usable pack
    if usable is not None:
        checks.append(Check(name, True, False, versions, f"{usable.path} ({use})"))
    elif candidates:
        checks.append(Check(name, False, needed, versions, f"{candidates[0].path} {candidates[0].problem}",
                            f"install ARM::CMSIS-NN >= {cmsis_nn.MIN_VERSION} (cpackget add ARM::CMSIS-NN)"
                            + (" or unset SOI_CMSIS_NN" if opted_in else "")))
    else:
        checks.append(Check(name, False, needed, "", f"none in {where}",
                            "cpackget add ARM::CMSIS-NN (CMSIS-Toolbox), then SOI_CMSIS_NN=pack"
                            + ("; or unset SOI_CMSIS_NN" if opted_in else "  (optional)")))
    return checks


def check_renode() -> list[Check]:
    checks = []
    for tool in ("renode", "renode-test"):
        path = shutil.which(tool)
        checks.append(Check(tool, path is not None, False, "", path or "not found on PATH",
                            "" if path else RENODE_HINT))
    found = _dist_version(("robotframework",))
    checks.append(Check("robotframework", found is not None, False, found[1] if found else "",
                        "used by renode-test" if found else "not installed (renode-test needs it)",
                        "" if found else "pip install robotframework  (optional, for the renode backend)"))
    return checks


def check_espeak() -> Check:
    """Synthetic speech for `soi-mcu train` / `sweep` (optional: a DNS-style folder works without it)."""
    path = shutil.which("espeak-ng")
    return Check("espeak-ng", path is not None, False, "", path or "not found (train/sweep on synthetic speech need it)",
                 "" if path else "apt-get install espeak-ng  (or train on a DNS-style folder with --data)")


def run_checks() -> list[Check]:
    """Every check, in the order of the pipeline's stages; never raises."""
    groups: list[Callable[[], Check | list[Check]]] = [
        check_python, check_data, check_packages, check_litert_ref, check_arm_gcc, check_cmake, check_cmsis_nn,
        check_cmsis_packs, check_qemu, check_host_cc, check_plugin_header, check_plugin_build, check_renode, check_espeak,
    ]
    checks: list[Check] = []
    for group in groups:
        try:
            result = group()
        except Exception as exc:  # a bug or odd machine must not hide the other checks
            result = Check(group.__name__.removeprefix("check_"), False, True, "", f"check crashed: {exc!r}", "")
        checks.extend(result if isinstance(result, list) else [result])
    return checks


def format_checks(checks: list[Check]) -> str:
    """An aligned table (status, name, version, detail) with a `fix:` line under each missing item."""
    w_status = max((len(c.status) for c in checks), default=2)
    w_name = max((len(c.name) for c in checks), default=4)
    w_version = min(max((len(c.version) for c in checks), default=0), 40)
    lines = []
    for c in checks:
        row = f"{c.status:<{w_status}}  {c.name:<{w_name}}  {c.version or '-':<{w_version}}  {c.detail}"
        lines.append(row.rstrip())
        if not c.ok and c.fix:
            lines.append(f"{'':<{w_status}}  {'':<{w_name}}  fix: {c.fix}")
    failed = [c.name for c in checks if c.required and not c.ok]
    if failed:
        lines.append(f"\n{len(failed)} required check(s) failed: {', '.join(failed)}; {SETUP_HINT} on Debian 12")
    else:
        lines.append("\nall required checks pass")
    return "\n".join(lines)


def doctor_main() -> int:
    """Print the table; 0 when every required check passes, 1 otherwise."""
    checks = run_checks()
    print(format_checks(checks))
    return 0 if all(c.ok for c in checks if c.required) else 1
