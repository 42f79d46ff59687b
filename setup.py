"""Packaging step that pyproject.toml cannot express: put the run-time data into the wheel.

The firmware sources, templates, board files, Renode scripts, the QEMU plugin source, the model
configs and the firmware's CMakeLists.txt live beside the package in the repository (their places
are part of the design). A regular build copies them into the wheel as soi_mcu/_data/, where
soi_mcu/paths.py finds them. An editable install (pip install -e .) copies nothing: paths.py then
uses the repository's folders directly.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
# The same lists as soi_mcu/paths.py's DATA_DIRS and DATA_FILES (tests/test_install.py checks that they agree).
DATA_DIRS = ("templates", "firmware", "boards", "renode", "qemu-plugin", "configs")
DATA_FILES = ("CMakeLists.txt",)
IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", "*.so", "*.o", ".*")


class BuildPyWithData(build_py):
    """build_py, plus the data folders copied to <build_lib>/soi_mcu/_data (not for editable installs)."""

    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return
        dest = Path(self.build_lib) / "soi_mcu" / "_data"
        if dest.exists():
            shutil.rmtree(dest)
        for name in DATA_DIRS:
            if not (ROOT / name).is_dir():
                raise SystemExit(f"setup.py: data folder {ROOT / name} is missing; build from a complete checkout or sdist")
            shutil.copytree(ROOT / name, dest / name, ignore=IGNORE)
        for name in DATA_FILES:
            shutil.copy2(ROOT / name, dest / name)


setup(cmdclass={"build_py": BuildPyWithData})
