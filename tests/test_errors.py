"""Bad input ends in one clear message, never a traceback from deep inside."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch

from soi_mcu.cli import main
from soi_mcu.errors import SoiError
from soi_mcu.model import OfflineModel, demo_spec
from soi_mcu.model.streaming import StreamingModel
from soi_mcu.pipeline import check_fits
from soi_mcu.plan.lower import lower
from soi_mcu.quantize.graph import Graph, Op, Tensor, check_int8
from soi_mcu.target.boards import load_board

from .conftest import Exported


def test_model_too_big_for_the_board(demo_export: Exported) -> None:
    plan = lower(demo_export.spec, demo_export.graph)
    tiny = dataclasses.replace(load_board("mps2-an386"), ram_size=8192, stack_size=1024)
    with pytest.raises(SoiError, match=r"needs about \d+ bytes of RAM .* board mps2-an386 has 8192"):
        check_fits(plan, tiny)
    small_flash = dataclasses.replace(load_board("mps2-an386"), flash_size=1000)
    with pytest.raises(SoiError, match=r"weights need \d+ bytes of flash, board mps2-an386 has 1000"):
        check_fits(plan, small_flash)


def test_float_ops_left_in_the_model_are_named() -> None:
    f32 = Tensor(0, "x", (1,), np.float32, np.zeros(0), np.zeros(0), None)
    i8 = Tensor(1, "y", (1,), np.int8, np.ones(1), np.zeros(1), None)
    graph = Graph([f32, i8], [Op(0, "DEQUANTIZE", (1,), (0,), {}), Op(1, "ELU", (0,), (0,), {})], (1,), (0,))
    with pytest.raises(SoiError, match=r"not fully int8: float ops DEQUANTIZE \(op 0\), ELU \(op 1\)"):
        check_int8(graph)


def test_input_frame_of_the_wrong_dtype() -> None:
    stepper = StreamingModel(OfflineModel(demo_spec()))
    with pytest.raises(SoiError, match="dtype torch.int8"):
        stepper.step(torch.zeros(16, 1, dtype=torch.int8))


def test_output_folder_that_cannot_be_written(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    assert main(["generate", "demo", "--out", str(blocker / "lib")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "cannot be written" in err[0] and "--out" in err[0]


@pytest.mark.parametrize(
    "missing, hint",
    [("cmake", "apt-get install cmake"), ("arm-none-eabi-gcc", "gcc-arm-none-eabi"),
     ("qemu-system-arm", "apt-get install qemu-system-arm")],
)
def test_each_missing_tool_is_named_with_its_install_line(missing: str, hint: str, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    """A PATH that has every tool but one: the message names that one and how to install it."""
    import shutil

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("cmake", "arm-none-eabi-gcc", "qemu-system-arm"):
        if tool != missing:
            (bin_dir / tool).write_text("#!/bin/sh\nexit 0\n")
            (bin_dir / tool).chmod(0o755)
    monkeypatch.setenv("PATH", str(bin_dir))
    assert shutil.which(missing) is None
    assert main(["demo", "--out", str(tmp_path / "out")]) == 3  # a toolchain problem
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and missing in err[0] and hint in err[0], err
