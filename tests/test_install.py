"""A regular (non-editable) install works on its own: the wheel carries the data the package reads at run time.

The package is built offline (no build isolation, no index) from an sdist of a copy of the checkout,
installed with `pip install --target`, and run from another folder with PYTHONPATH pointing at it;
the data must then come from the install (soi_mcu/_data), not from the checkout.
"""

from __future__ import annotations

import argparse
import ast
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from soi_mcu import paths
from soi_mcu.cli import build_parser, main

REPO = Path(__file__).resolve().parent.parent
PACKAGING = ("pyproject.toml", "setup.py", "MANIFEST.in", "README.md")
IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", "_data", "*.egg-info")


def _subcommands() -> list[str]:
    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return sorted(action.choices)


def _files(root: Path) -> dict[str, bytes]:
    out = {}
    for name in (*paths.DATA_DIRS, *paths.DATA_FILES):
        top = root / name
        for path in [top] if top.is_file() else sorted(top.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                out[str(path.relative_to(root))] = path.read_bytes()
    return out


def _copy_checkout(src: Path) -> Path:
    """What a build needs from the checkout, copied so that building never writes into the checkout."""
    src.mkdir()
    for name in PACKAGING + paths.DATA_FILES:
        shutil.copy2(REPO / name, src / name)
    for name in ("soi_mcu", *paths.DATA_DIRS):
        shutil.copytree(REPO / name, src / name, ignore=IGNORE)
    return src


def _pip_install(cwd: Path, *args: str) -> None:
    # Always --target: an install into a prefix would first uninstall the soi-mcu of the running environment.
    assert "--target" in args
    pip = subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--no-index",
         "--disable-pip-version-check", *args], cwd=cwd, capture_output=True, text=True, timeout=600)
    assert pip.returncode == 0, pip.stderr[-3000:]


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """sdist of a copy of the checkout -> unpacked -> pip install --no-deps --no-build-isolation --no-index --target."""
    work = tmp_path_factory.mktemp("install")
    src = _copy_checkout(work / "src")
    build = subprocess.run(
        [sys.executable, "-c", "import setuptools.build_meta as b; print(b.build_sdist('dist'))"],
        cwd=src, capture_output=True, text=True, timeout=300)
    assert build.returncode == 0, build.stderr[-3000:]
    sdist = src / "dist" / build.stdout.strip().splitlines()[-1]
    with tarfile.open(sdist) as tar:
        safe = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}  # Python >= 3.11.4
        tar.extractall(work / "sdist", **safe)
    (unpacked,) = (work / "sdist").iterdir()
    target = work / "site"
    _pip_install(work, "--target", str(target), str(unpacked))
    return target


def _run(target: Path, cwd: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = os.environ | {"PYTHONPATH": str(target), "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop("CMSIS_NN_PATH", None)
    env.pop("SOI_CMSIS_NN", None)
    return subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def test_setup_copies_the_folders_paths_expects() -> None:
    tree = ast.parse((REPO / "setup.py").read_text())
    values = {t.id: ast.literal_eval(node.value) for node in tree.body if isinstance(node, ast.Assign)
              for t in node.targets if isinstance(t, ast.Name) and t.id in ("DATA_DIRS", "DATA_FILES")}
    assert values == {"DATA_DIRS": paths.DATA_DIRS, "DATA_FILES": paths.DATA_FILES}
    manifest = (REPO / "MANIFEST.in").read_text()
    for name in paths.DATA_DIRS:
        assert f"graft {name}\n" in manifest
    for name in paths.DATA_FILES:
        assert name in manifest


def test_checkout_uses_the_repository_folders() -> None:
    # This test session runs from the checkout (editable install): no _data, the folders beside the package.
    assert not paths.INSTALLED and paths.PROJECT_ROOT == REPO
    assert paths.missing_data() == []


def test_editable_install_uses_the_checkout_folders(tmp_path: Path) -> None:
    src = _copy_checkout(tmp_path / "src")
    site_dir = tmp_path / "site"
    _pip_install(tmp_path, "--target", str(site_dir), "-e", str(src))
    assert not (src / "soi_mcu" / "_data").exists()
    # -S: only the new install's .pth (its editable finder), not this venv's own editable soi_mcu.
    probe = f"import site; site.addsitedir({str(site_dir)!r}); import soi_mcu.paths as p; print(p.PROJECT_ROOT, p.INSTALLED)"
    proc = subprocess.run([sys.executable, "-S", "-c", probe], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == [str(src), "False"]


def test_every_subcommand_has_help(capsys: pytest.CaptureFixture[str]) -> None:
    names = _subcommands()
    assert {"demo", "boards", "generate", "doctor"} <= set(names)
    for name in names:
        with pytest.raises(SystemExit) as exc:
            main([name, "--help"])
        assert exc.value.code == 0, name
        out = capsys.readouterr().out
        assert out.startswith(f"usage: soi-mcu {name}"), name


def test_wheel_carries_every_data_file(installed: Path) -> None:
    data = installed / "soi_mcu" / "_data"
    built_from = installed.parent / "src"  # the copy of the checkout (which others may be editing meanwhile)
    assert _files(data) == _files(built_from)
    assert set(_files(data)) >= {"CMakeLists.txt", "templates/soi_model.c.j2", "firmware/kernels/include/arm_nnfunctions.h",
                                 "firmware/kernels/src/ConvolutionFunctions/arm_convolve_s8.c",
                                 "firmware/kernels/soi/soi_conv_s16w.c",
                                 "boards/mps2-an386.toml", "renode/soi.resource.robot", "qemu-plugin/soi_cycles.c"}
    assert (installed / "bin" / "soi-mcu").is_file()


def test_installed_package_finds_its_data_in_the_install(installed: Path, tmp_path: Path) -> None:
    probe = ("import soi_mcu, soi_mcu.paths as p, soi_mcu.target.qemu_plugin as q, soi_mcu.target.renode as r, soi_mcu.codegen; "
             "print(soi_mcu.__file__); print(p.PROJECT_ROOT); print(p.TEMPLATES_DIR); print(p.FIRMWARE_DIR); "
             "print(p.BOARDS_DIR); print(p.CONFIGS_DIR); print(q.PLUGIN_SOURCE); print(r.RENODE_DIR); "
             "print(p.INSTALLED, p.missing_data())")
    proc = _run(installed, tmp_path, "-c", probe)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    root = (installed / "soi_mcu").resolve()
    for line in lines[:-1]:
        assert Path(line).resolve().is_relative_to(root), line
    assert lines[-1] == "True []"
    assert Path(lines[6]).is_file()


@pytest.mark.slow  # each fresh interpreter imports the CLI's dependencies (torch: seconds each)
def test_installed_cli_version_help_and_boards(installed: Path, tmp_path: Path) -> None:
    proc = _run(installed, tmp_path, "-m", "soi_mcu.cli", "--version")
    assert proc.returncode == 0 and proc.stdout.startswith("soi-mcu "), proc.stderr
    proc = _run(installed, tmp_path, "-m", "soi_mcu.cli", "--help")
    assert proc.returncode == 0 and "doctor" in proc.stdout, proc.stderr
    proc = _run(installed, tmp_path, "-m", "soi_mcu.cli", "boards")
    assert proc.returncode == 0, proc.stderr
    listed = {line.split()[0] for line in proc.stdout.splitlines() if line.strip()}
    assert listed == {p.stem for p in (REPO / "boards").glob("*.toml")}
    # The console script pip wrote works too.
    proc = _run(installed, tmp_path, str(installed / "bin" / "soi-mcu"), "--version")
    assert proc.returncode == 0 and proc.stdout.startswith("soi-mcu "), proc.stderr


@pytest.mark.slow
def test_installed_help_of_every_subcommand(installed: Path, tmp_path: Path) -> None:
    for name in _subcommands():
        proc = _run(installed, tmp_path, "-m", "soi_mcu.cli", name, "--help")
        assert proc.returncode == 0 and proc.stdout.startswith(f"usage: soi-mcu {name}"), (name, proc.stderr)


@pytest.mark.slow
def test_installed_generate_demo(installed: Path, tmp_path: Path) -> None:
    # generate needs no cross toolchain: float check, int8 export, C library from the installed templates/kernels.
    out = tmp_path / "lib"
    proc = _run(installed, tmp_path, "-m", "soi_mcu.cli", "generate", "demo", "--board", "mps2-an386",
                "--out", str(out), timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    for rel in ("model/soi_model.c", "model/soi_model.h", "CMakeLists.txt", "sources.txt",
                "kernels/include/arm_nnfunctions.h", "kernels/src/ConvolutionFunctions/arm_convolve_s8.c",
                "kernels/soi/soi_conv_s16w.c", "kernels/soi/soi_nn_isa.h", "runtime/soi_ring.c"):
        assert (out / rel).is_file(), rel
    assert (out / "kernels/include/arm_nnfunctions.h").read_bytes() == \
        (installed / "soi_mcu/_data/firmware/kernels/include/arm_nnfunctions.h").read_bytes()
