"""Where the data the package needs at run time lives (templates, firmware, boards, renode, ...).

Two layouts, decided once at import:

- installed from a wheel (``pip install .``): setup.py's build_py copies the folders into the
  package as ``soi_mcu/_data/`` (with the firmware's CMakeLists.txt at its root);
- a checkout (``pip install -e .``, or running from the repository): no ``_data`` folder, so the
  folders beside the package are used, and edits to them take effect without reinstalling.
"""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
# Folders and files copied into a wheel, relative to the repository root (setup.py reads this list).
DATA_DIRS = ("templates", "firmware", "boards", "renode", "qemu-plugin", "configs")
DATA_FILES = ("CMakeLists.txt",)
INSTALLED_DATA = PACKAGE_DIR / "_data"


def _data_root() -> Path:
    if (INSTALLED_DATA / "CMakeLists.txt").is_file():
        return INSTALLED_DATA
    return PACKAGE_DIR.parent


# The root of the firmware's CMake project and of the data folders below.
PROJECT_ROOT = _data_root()
INSTALLED = PROJECT_ROOT == INSTALLED_DATA
TEMPLATES_DIR = PROJECT_ROOT / "templates"
FIRMWARE_DIR = PROJECT_ROOT / "firmware"
BOARDS_DIR = PROJECT_ROOT / "boards"
RENODE_DIR = PROJECT_ROOT / "renode"
QEMU_PLUGIN_DIR = PROJECT_ROOT / "qemu-plugin"
CONFIGS_DIR = PROJECT_ROOT / "configs"


KERNELS_DIR = FIRMWARE_DIR / "kernels"


def own_kernel_sources() -> list[Path]:
    """The project's own kernels, which have no CMSIS-NN counterpart (kernels/soi/*.c): built with either
    kernel library."""
    return sorted((KERNELS_DIR / "soi").glob("*.c"))


def kernel_sources() -> list[Path]:
    """Every C source of the project's kernels: its CMSIS-NN implementation (kernels/src/<Family>/*.c)
    and its own kernels (kernels/soi/*.c)."""
    return sorted((KERNELS_DIR / "src").rglob("*.c")) + own_kernel_sources()


def kernel_include_dirs() -> list[Path]:
    """The include folders kernel_sources() and their callers need (kernels/soi: soi_conv_s16w.h, ...)."""
    return [KERNELS_DIR / "include", KERNELS_DIR / "soi"]


def missing_data() -> list[str]:
    """The data folders/files that are absent (a broken install); [] when all are there."""
    return [name for name in (*DATA_DIRS, *DATA_FILES) if not (PROJECT_ROOT / name).exists()]


def cache_root() -> Path:
    """The cache's root: $SOI_MCU_CACHE, else ~/.cache/soi-mcu (soi_mcu/cache.py reads and writes it)."""
    root = os.environ.get("SOI_MCU_CACHE")
    return Path(root).expanduser() if root else Path.home() / ".cache" / "soi-mcu"


def cache_dir(name: str) -> Path:
    """Where a stage caches its results: $SOI_MCU_CACHE/<name>, else ~/.cache/soi-mcu/<name>."""
    return cache_root() / name
