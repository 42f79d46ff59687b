"""The renode backend: generated .resc/robot files (checked with Robot Framework's dry run), the parsing
of a run's UART log and marker log, the error without Renode, and (slow, only with Renode) a whole run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from soi_mcu.errors import SoiError
from soi_mcu.target.boards import Board, list_boards, load_board
from soi_mcu.target.build import BuildResult
from soi_mcu.target.harness_output import RunLog, check_finished
from soi_mcu.target.renode import (
    COUNTER_KIND,
    RENODE_DIR,
    RENODE_MISSING,
    parse_renode_run,
    renode_available,
    simulate_renode,
    write_renode_suite,
)
from soi_mcu.target.sim_result import STEP_MARKS as MARKS

from .conftest import Exported, have

RENODE_BOARDS = [n for n in list_boards() if load_board(n).renode_platform]
DRYRUN_KEYWORDS = RENODE_DIR / "renode_keywords_dryrun.robot"
LAYERS = ("enc0", "dec1")
needs_gcc = pytest.mark.skipif(not have("arm-none-eabi-gcc"), reason="needs gcc-arm-none-eabi (make setup installs it)")


@pytest.fixture(scope="module")
def marker_elf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny Cortex-M ELF with the harness's profiling marker functions (and two layer markers)."""
    out = tmp_path_factory.mktemp("elf")
    names = [*MARKS, *(f"soi_mark_layer_{n}" for n in LAYERS)]
    src = out / "marks.c"
    src.write_text("".join(f"void {n}(void);\nvoid {n}(void) {{ __asm__ volatile(\"\"); }}\n" for n in names))
    elf = out / "marks.elf"
    subprocess.run(["arm-none-eabi-gcc", "-mcpu=cortex-m4", "-mthumb", "-O2", "-nostdlib", "-Wl,-e,0",
                    "-Wl,-Ttext=0x08000000", "-o", str(elf), str(src)], check=True)
    return elf


def _robot_dryrun(suite: Path) -> subprocess.CompletedProcess:
    pytest.importorskip("robot", reason="needs robotframework (pip install robotframework)")
    cmd = [sys.executable, "-m", "robot", "--dryrun", "--output", "NONE", "--report", "NONE", "--log", "NONE",
           "--variable", f"RENODEKEYWORDS:{DRYRUN_KEYWORDS}", str(suite)]
    return subprocess.run(cmd, capture_output=True, text=True)


def _fake_build(elf: Path, stack: int = 16384) -> BuildResult:
    return BuildResult(elf, 0, 0, 0, stack, "soi-mcu", {"soi_model_step": (0x08000100, 64)})


@needs_gcc
@pytest.mark.parametrize("name", RENODE_BOARDS)
def test_generated_suite_passes_robot_dryrun(name: str, marker_elf: Path, tmp_path: Path) -> None:
    suite = write_renode_suite(marker_elf, load_board(name), 8, tmp_path)
    proc = _robot_dryrun(suite)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "1 test, 1 passed" in proc.stdout


@needs_gcc
def test_dryrun_catches_an_unknown_keyword(marker_elf: Path, tmp_path: Path) -> None:
    suite = write_renode_suite(marker_elf, load_board(RENODE_BOARDS[0]), 8, tmp_path)
    suite.write_text(suite.read_text().replace("Run Until SOI Done", "Run Until SOI Dne"))
    assert _robot_dryrun(suite).returncode != 0


@needs_gcc
@pytest.mark.parametrize("name", RENODE_BOARDS)
def test_resc_and_suite_use_the_board_files_platform_and_uart(name: str, marker_elf: Path, tmp_path: Path) -> None:
    board = load_board(name)
    suite = write_renode_suite(marker_elf, board, 8, tmp_path)
    resc = (tmp_path / f"{name}.resc").read_text()
    robot = suite.read_text()
    assert f"machine LoadPlatformDescription @{board.renode_platform}\n" in resc
    assert f"{board.renode_uart} CreateFileBackend $uart_log true" in resc
    assert f"cpu PerformanceInMips {board.clock_hz // 1_000_000}\n" in resc
    assert f"${{UART}}             {board.renode_uart}\n" in robot
    assert f"${{ELF}}              {marker_elf.resolve()}\n" in robot
    assert (tmp_path / "soi.resource.robot").read_text() == (RENODE_DIR / "soi.resource.robot").read_text()
    marks = robot.split("@{MARKS}", 1)[1].split("\n", 1)[0].split()
    assert len(marks) == len(MARKS) + len(LAYERS) and all(int(m, 16) % 2 == 0 for m in marks)


def test_a_board_without_renode_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SoiError, match="cannot run in Renode"):
        write_renode_suite(tmp_path / "x.elf", load_board("mps2-an386"), 8, tmp_path)


def test_simulate_renode_without_renode_says_how_to_get_it(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    assert not renode_available()
    with pytest.raises(SoiError) as info:
        simulate_renode(_fake_build(tmp_path / "x.elf"), load_board(RENODE_BOARDS[0]), 8, 16, tmp_path)
    assert str(info.value) == RENODE_MISSING


def _uart_lines(outputs: np.ndarray, stack: int) -> list[str]:
    lines = [f"SOI_OUT {t} {row.tobytes().hex()}" for t, row in enumerate(outputs)]
    return [*lines, f"SOI_STACK {stack}", "SOI_DONE", "SOI_EXIT 0"]


def _marks_log(elf: Path, frames: int) -> str:
    """Hook log of a run where step t costs 1000 + 100 t instructions, split over the two layers."""
    from soi_mcu.target.renode import elf_marker_addresses

    a = elf_marker_addresses(elf)
    rows, n = [], 0
    for t in range(frames):
        for name, cost in (("soi_mark_begin", 10), ("soi_mark_layer_enc0", 600 + 100 * t), ("soi_mark_layer_dec1", 390),
                           ("soi_mark_end", 5), ("soi_mark_pre_begin", 7), ("soi_mark_pre_end", 20)):
            rows.append(f"0x{a[name]:x} {n}")
            n += cost
    return "\n".join(rows) + "\n"


@needs_gcc
def test_a_runs_uart_and_marker_logs_become_a_sim_result(marker_elf: Path) -> None:
    board = load_board(RENODE_BOARDS[0])
    outputs = np.arange(-64, 64, dtype=np.int8).reshape(8, 16)
    sim = parse_renode_run(_uart_lines(outputs, 700), _marks_log(marker_elf, 8), _fake_build(marker_elf), board, 8, 16,
                           total_insns=123456)
    assert np.array_equal(sim.outputs, outputs) and sim.stack_peak == 700 and sim.total_insns == 123456
    assert sim.insns_per_step.tolist() == [1000 + 100 * t for t in range(8)]
    assert (sim.cycles_per_step == sim.insns_per_step).all() and (sim.cycles_per_step_p3 == sim.insns_per_step).all()
    assert sim.precompute_insns.tolist() == [7] * 8 and sim.layer_insns["(precompute overhead)"] == 7
    assert sim.layer_insns["enc0"] == pytest.approx(600 + 350) and sim.layer_insns["dec1"] == 390
    assert "virtual" in sim.counter_kind and "not hardware cycles" in sim.counter_kind and sim.counter_kind == COUNTER_KIND
    assert sim.simulator.startswith("renode")


@needs_gcc
def test_missing_hits_or_lines_are_errors(marker_elf: Path) -> None:
    board = load_board(RENODE_BOARDS[0])
    outputs = np.zeros((8, 16), dtype=np.int8)
    marks = _marks_log(marker_elf, 8)
    with pytest.raises(SoiError, match="markers were hit"):
        parse_renode_run(_uart_lines(outputs, 700), marks.split("\n", 1)[1], _fake_build(marker_elf), board, 8, 16)
    with pytest.raises(SoiError, match="printed 7 output frames"):
        parse_renode_run(_uart_lines(outputs, 700)[1:], marks, _fake_build(marker_elf), board, 8, 16)
    with pytest.raises(SoiError, match="stack overflow"):
        parse_renode_run(_uart_lines(outputs, board.stack_size), marks, _fake_build(marker_elf), board, 8, 16)


def test_firmware_failures_are_reported_from_the_uart_log(tmp_path: Path) -> None:
    symbols = _fake_build(tmp_path / "x.elf").symbols
    where = RunLog("renode-test", tmp_path / "uart.log", tmp_path / "renode-test.log")
    with pytest.raises(SoiError, match=r"HardFault at pc=0x08000120 \(soi_model_step\)"):
        check_finished(1, ["SOI_FAULT pc=134218016 cfsr=256 hfsr=1073741824", "SOI_EXIT 3"], symbols, where)
    with pytest.raises(SoiError, match="firmware reported: init: kernel scratch too small"):
        check_finished(1, ["SOI_ERROR init: kernel scratch too small"], symbols, where)
    with pytest.raises(SoiError, match="before the firmware printed SOI_DONE"):
        check_finished(0, ["SOI_OUT 0 00"], symbols, where)


@pytest.mark.slow
@pytest.mark.skipif(not renode_available(), reason="needs Renode's renode-test on PATH (Renode release packages)")
@pytest.mark.parametrize("name", RENODE_BOARDS)
def test_demo_firmware_runs_bitexact_in_renode(name: str, demo_export: Exported, tmp_path: Path) -> None:
    from soi_mcu.codegen import generate
    from soi_mcu.plan.lower import lower
    from soi_mcu.target.build import build_firmware

    board: Board = load_board(name)
    plan = lower(demo_export.spec, demo_export.graph)
    sources = generate(plan, board, demo_export.inputs_q, tmp_path / "gen")
    build = build_firmware(sources, board, tmp_path / "build", io="uart")
    sim = simulate_renode(build, board, 64, plan.output_size, tmp_path / "sim")
    assert np.array_equal(sim.outputs, demo_export.reference.reshape(64, -1))
    assert sim.insns_per_step[1::2].mean() < 0.7 * sim.insns_per_step[0::2].mean()
    assert 0 < sim.stack_peak < board.stack_size
