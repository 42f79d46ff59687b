"""Boards as data, and the one-line errors a user sees for bad input."""

from __future__ import annotations

from pathlib import Path

import pytest

from soi_mcu.boards import list_boards, load_board
from soi_mcu.build import cmsis_nn_path
from soi_mcu.cli import main
from soi_mcu.errors import SoiError


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


def test_cli_unknown_board_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--board", "nope", "--out", "unused"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unknown board 'nope'" in err[0] and "mps2-an386" in err[0]


def test_cli_missing_cross_compiler(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    assert main(["demo", "--out", "unused"]) == 2
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
