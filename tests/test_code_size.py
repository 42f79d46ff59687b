"""The code-size estimate made before the build agrees with the built firmware (slow: compiles)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from soi_mcu.codegen import generate
from soi_mcu.errors import SoiError
from soi_mcu.pipeline import check_fits
from soi_mcu.plan.lower import lower
from soi_mcu.target.boards import load_board
from soi_mcu.target.build import build_firmware
from soi_mcu.target.code_size import estimate_code_bytes

from .conftest import Exported, have

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not have("arm-none-eabi-gcc", "cmake"), reason="needs gcc-arm-none-eabi and cmake"),
]

# Functions of the firmware that are not the model's or its kernels': startup, harness, C library.
NOT_MODEL = ("main", "memcpy", "memset", "soi_c_start", "soi_fault_report", "Fault_Handler", "Reset_Handler",
             "soi_fmt_", "soi_semihost", "soi_mark_", "soi_io_", "soi_uart", "soi_stack_", "_exit", "exit")


@pytest.mark.parametrize("board_name", ["mps2-an385", "mps2-an386", "mps3-an547"])
def test_estimate_matches_the_built_firmware(board_name: str, demo_export: Exported, tmp_path: Path) -> None:
    board = load_board(board_name)
    plan = lower(demo_export.spec, demo_export.graph, board.core)  # on the M4 with soi_conv_s16w_s8
    sources = generate(plan, board, demo_export.inputs_q[:4], tmp_path / "gen")
    estimate = estimate_code_bytes(sources.model_sources[0], board)
    assert estimate is not None
    build = build_firmware(sources, board, tmp_path / "build")
    from elftools.elf.elffile import ELFFile

    with build.elf.open("rb") as fh:
        symtab = ELFFile(fh).get_section_by_name(".symtab")
        funcs = {s.name: s["st_size"] for s in symtab.iter_symbols() if s["st_info"]["type"] == "STT_FUNC"}
    actual = sum(size for name, size in funcs.items() if not name.startswith(NOT_MODEL))
    print(f"{board_name}: code estimate {estimate} B, built {actual} B")
    assert 0.85 * actual <= estimate <= 1.15 * actual
    assert estimate < build.text


def test_code_counts_against_flash(demo_export: Exported) -> None:
    plan = lower(demo_export.spec, demo_export.graph)
    board = dataclasses.replace(load_board("mps2-an386"), flash_size=plan.weight_bytes + 100)
    check_fits(plan, board)  # the weights alone fit
    with pytest.raises(SoiError, match=r"weights need \d+ bytes of flash and 5000 bytes of code, board mps2-an386 has"):
        check_fits(plan, board, 5000)
