"""Boards as data, and the one-line errors a user sees for bad input."""

from __future__ import annotations

from pathlib import Path

import pytest

from soi_mcu.cli import main
from soi_mcu.errors import SoiError
from soi_mcu.target.boards import list_boards, load_board
from soi_mcu.target.build import cmsis_nn_path


def test_every_board_file_loads() -> None:
    names = list_boards()
    assert "mps2-an386" in names
    for name in names:
        board = load_board(name)
        assert board.clock_hz > 0 and board.ram_size > board.stack_size


def test_unknown_board_lists_the_known_ones() -> None:
    with pytest.raises(SoiError, match=r"unknown board 'mps2-an368'.*did you mean 'mps2-an386'.*known boards: .*mps2-an386"):
        load_board("mps2-an368")


def test_board_file_with_missing_field(tmp_path: Path) -> None:
    (tmp_path / "x.toml").write_text('name = "x"\ncore = "cortex-m4"\ncpu_flags = []\nclock_hz = 1\n[ram]\norigin = 0\nsize = 10\n')
    with pytest.raises(SoiError, match="missing field 'flash'"):
        load_board("x", tmp_path)


GOOD_BOARD = """name = "x"
core = "cortex-m4"
cpu_flags = ["-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16"]
clock_hz = 1
[flash]
origin = 0
size = 0x1000
[ram]
origin = 0x20000000
size = 0x10000
[simulators.qemu]
machine = "mps2-an386"
cpu = "cortex-m4"
"""


@pytest.mark.parametrize(
    "old, new, message",
    [
        ('core = "cortex-m4"', 'core = "cortex-m85"', r"core 'cortex-m85' is not supported; use one of cortex-m3"),
        ('"-mcpu=cortex-m4",', '"-mcpu=cortex-m7",', r"cpu_flags must hold one -mcpu=cortex-m4 .*found -mcpu=cortex-m7"),
        ('cpu = "cortex-m4"', 'cpu = "cortex-m33"', r"cpu 'cortex-m33' contradicts core 'cortex-m4'"),
        ("origin = 0x20000000", "origin = 0x800", r"flash 0x00000000-0x00001000 and RAM 0x00000800-0x00010800 overlap"),
        ("size = 0x10000", "size = 0x1000\nstack_size = 8192", r"stack_size 8192 exceeds ram.size 4096"),
        ('clock_hz = 1', 'clock_hz = "fast"', r"field 'clock_hz' must be int"),
        ('clock_hz = 1', 'clock_hz = 0', r"clock_hz, flash.size and ram.size must be positive"),
    ],
)
def test_board_file_with_contradictory_fields(tmp_path: Path, old: str, new: str, message: str) -> None:
    (tmp_path / "x.toml").write_text(GOOD_BOARD)
    assert load_board("x", tmp_path).core == "cortex-m4"  # the unmodified file is fine
    assert old in GOOD_BOARD
    (tmp_path / "x.toml").write_text(GOOD_BOARD.replace(old, new, 1))
    with pytest.raises(SoiError, match=message):
        load_board("x", tmp_path)


def test_core_without_fpu_cannot_ask_for_one(tmp_path: Path) -> None:
    text = GOOD_BOARD.replace("cortex-m4", "cortex-m3")
    (tmp_path / "x.toml").write_text(text)
    with pytest.raises(SoiError, match="cortex-m3 has no FPU"):
        load_board("x", tmp_path)


def test_every_shipped_board_is_consistent() -> None:
    for name in list_boards():
        assert load_board(name).name == name


def test_cli_unknown_board_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--board", "nope", "--out", "unused"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unknown board 'nope'" in err[0] and "mps2-an386" in err[0]


def test_cli_missing_cross_compiler(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    assert main(["demo", "--out", "unused"]) == 3  # a toolchain problem
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not found" in err[0] and "apt-get install" in err[0]


def test_cmsis_nn_path_that_is_not_cmsis_nn(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CMSIS_NN_PATH", str(tmp_path))
    with pytest.raises(SoiError, match="is not a CMSIS-NN tree"):
        cmsis_nn_path()
    monkeypatch.delenv("CMSIS_NN_PATH")
    assert cmsis_nn_path() is None


def test_boards_command_lists_boards(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["boards"]) == 0
    assert "mps2-an386" in capsys.readouterr().out
