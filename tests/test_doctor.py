"""`soi-mcu doctor`: fast checks of the checks (no network, no firmware build)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from soi_mcu import paths
from soi_mcu.paths import FIRMWARE_DIR
from soi_mcu.target import doctor
from soi_mcu.target.doctor import Check, doctor_main, format_checks, run_checks


def _by_name(checks: list[Check]) -> dict[str, Check]:
    return {c.name: c for c in checks}


@pytest.fixture(autouse=True)
def _no_cmsis_nn(monkeypatch: pytest.MonkeyPatch) -> None:
    # The user's own CMSIS_NN_PATH / SOI_CMSIS_NN must not change what these tests see.
    monkeypatch.delenv("CMSIS_NN_PATH", raising=False)
    monkeypatch.delenv("SOI_CMSIS_NN", raising=False)


def test_this_machine_passes_every_required_check() -> None:
    checks = run_checks()
    failed = [f"{c.name}: {c.detail}" for c in checks if c.required and not c.ok]
    assert failed == []
    names = _by_name(checks)
    for name in ("python", "arm-none-eabi-gcc", "newlib (arm-none-eabi)", "cmake", "qemu-system-arm",
                 "qemu machines", "host C compiler", "torch", "tensorflow", "ai_edge_litert", "numpy",
                 "jinja2", "elftools", "LiteRT reference kernels", "qemu-plugin.h"):
        assert name in names
    assert names["cmake"].version.count(".") >= 1
    assert doctor_main() == 0


def test_empty_path_fails_the_tools_with_install_hints(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    checks = _by_name(run_checks())
    hints = {
        "arm-none-eabi-gcc": "apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi",
        "newlib (arm-none-eabi)": "libnewlib-arm-none-eabi",
        "cmake": "apt-get install cmake",
        "qemu-system-arm": "apt-get install qemu-system-arm",
        "qemu machines": "apt-get install qemu-system-arm",
        "host C compiler": "apt-get install gcc",
    }
    for name, hint in hints.items():
        assert not checks[name].ok and checks[name].required, name
        assert hint in checks[name].fix, name
    assert not checks["renode"].ok and not checks["renode"].required
    assert doctor_main() == 1
    out = capsys.readouterr().out
    assert "MISSING" in out and "make setup" in out


def test_cmsis_nn_path_not_a_tree_names_the_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CMSIS_NN_PATH", str(tmp_path))
    check = doctor.check_cmsis_nn()
    assert not check.ok and check.required
    assert str(tmp_path) in check.detail


def _fake_cmsis_nn(root: Path, revision: str = "V.19.1.0") -> Path:
    """A CMSIS-NN-shaped tree whose headers are the project's own (which declare the same API)."""
    (root / "Include").mkdir(parents=True)
    for header in (FIRMWARE_DIR / "kernels" / "include").glob("*.h"):
        text = header.read_text()
        if header.name == "arm_nnfunctions.h":
            text = f"/*\n * Title:        arm_nnfunctions.h\n * $Revision:   {revision}\n */\n" + text
        (root / "Include" / header.name).write_text(text)
    (root / "CMakeLists.txt").write_text("project(CMSISNN)\n")
    return root


def test_fake_cmsis_nn_tree_reports_its_version(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CMSIS_NN_PATH", str(_fake_cmsis_nn(tmp_path)))
    check = doctor.check_cmsis_nn()
    assert check.ok and check.version == "19.1.0"
    assert "API matches" in check.detail


def test_cmsis_nn_path_with_another_api_fails_with_the_difference(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    tree = _fake_cmsis_nn(tmp_path)
    header = tree / "Include" / "arm_nnfunctions.h"
    header.write_text(header.read_text().replace("int32_t arm_avgpool_s8_get_buffer_size(const int dim_dst_width",
                                                 "int32_t arm_avgpool_s8_get_buffer_size(const int16_t dim_dst_width"))
    monkeypatch.setenv("CMSIS_NN_PATH", str(tree))
    check = doctor.check_cmsis_nn()
    assert not check.ok and check.required
    assert "arm_avgpool_s8_get_buffer_size takes (int16_t, int) here" in check.detail
    assert str(tree) in check.detail and "CMSIS-NN >=" in check.fix


def test_data_folders_are_found() -> None:
    check = doctor.check_data()
    assert check.ok and check.required and str(paths.PROJECT_ROOT) in check.detail


def test_cmsis_nn_pack_is_reported_but_only_used_on_request(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CMSIS_PACK_ROOT", str(tmp_path / "packs"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.delenv("SOI_CMSIS_NN", raising=False)
    pack = _by_name(doctor.check_cmsis_packs())["CMSIS-NN pack"]
    assert not pack.ok and not pack.required and "none in" in pack.detail
    _fake_cmsis_nn(tmp_path / "packs" / "ARM" / "CMSIS-NN" / "7.0.0")
    pack = _by_name(doctor.check_cmsis_packs())["CMSIS-NN pack"]
    assert pack.ok and pack.version == "7.0.0" and "set SOI_CMSIS_NN=pack" in pack.detail
    monkeypatch.setenv("SOI_CMSIS_NN", "pack")
    pack = _by_name(doctor.check_cmsis_packs())["CMSIS-NN pack"]
    assert pack.ok and "used: SOI_CMSIS_NN=pack" in pack.detail
    monkeypatch.setenv("CMSIS_PACK_ROOT", str(tmp_path / "empty"))
    pack = _by_name(doctor.check_cmsis_packs())["CMSIS-NN pack"]
    assert not pack.ok and pack.required  # asked for a pack, none there: the build would fail
    monkeypatch.setenv("CMSIS_NN_PATH", str(_fake_cmsis_nn(tmp_path / "checkout")))
    pack = _by_name(doctor.check_cmsis_packs())["CMSIS-NN pack"]
    assert not pack.ok and not pack.required  # CMSIS_NN_PATH comes first: the build does not need a pack
    monkeypatch.delenv("CMSIS_NN_PATH")
    monkeypatch.setenv("SOI_CMSIS_NN", "bogus")
    pack = _by_name(doctor.check_cmsis_packs())["CMSIS-NN pack"]
    assert not pack.ok and pack.required and "SOI_CMSIS_NN=bogus" in pack.detail


def test_cmsis_nn_unset_is_optional() -> None:
    check = doctor.check_cmsis_nn()
    assert not check.ok and not check.required
    assert "own kernels" in check.detail


def test_commands_never_raise(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    rc, out = doctor._run([str(tmp_path / "no-such-tool"), "--version"])
    assert rc == -1 and "cannot run" in out
    sleep = shutil.which("sleep")
    if sleep is not None:
        monkeypatch.setattr(doctor, "TIMEOUT_S", 0.2)
        rc, out = doctor._run([sleep, "5"])
        assert rc == -1 and "did not answer" in out


def test_table_lists_every_check_and_fixes() -> None:
    checks = [
        Check("alpha", True, True, "1.2.3", "fine"),
        Check("beta-long-name", False, True, "", "gone", "apt-get install beta"),
        Check("gamma", False, False, "", "absent", "pip install gamma"),
    ]
    lines = format_checks(checks).splitlines()
    assert lines[0].startswith("OK ") and "alpha" in lines[0] and "1.2.3" in lines[0]
    assert lines[1].startswith("MISSING ") and "beta-long-name" in lines[1]
    assert "fix: apt-get install beta" in lines[2]
    assert lines[3].startswith("optional-missing") and "gamma" in lines[3]
    assert "fix: pip install gamma" in lines[4]
    # The name column is aligned.
    assert lines[0].index("alpha") == lines[1].index("beta-long-name") == lines[3].index("gamma")
    assert "1 required check(s) failed: beta-long-name" in lines[-1]
    real = run_checks()
    table = format_checks(real)
    assert all(c.name in table for c in real)
