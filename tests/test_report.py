"""The report's figures are derived from the measurements, and a single wrong frame is caught."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from soi_mcu.plan.lower import lower
from soi_mcu.report.run_report import format_table, make_report, write_json
from soi_mcu.target.boards import load_board
from soi_mcu.target.build import BuildResult
from soi_mcu.target.sim_result import SimResult

from .conftest import Exported

KEYS = {"board", "core", "clock_hz", "frames", "bitexact", "mismatched_frames", "macs_per_step",
        "instructions_per_step", "cycles_per_step", "mac_per_cycle", "macs_per_second", "cpu_load", "ram", "flash"}


def _fake(frames: int, out_bytes: int, outputs: np.ndarray) -> tuple[BuildResult, SimResult]:
    rng = np.random.default_rng(0)
    cycles = rng.integers(1000, 5000, frames)
    build = BuildResult(Path("x.elf"), 1000, 100, 900, 4096, "soi-mcu", {})
    pre = np.full(frames, 7)
    layer_cycles = {"(step overhead)": 5.0, "enc0": float((cycles + pre).mean()) - 5.0}
    sim = SimResult(outputs, cycles // 2, cycles, cycles - 10, cycles + 10, pre, pre, layer_cycles, layer_cycles, 512,
                    int(cycles.sum()), "estimated", "qemu")
    return build, sim


def test_report_keys_and_derived_figures(demo_export: Exported, tmp_path: Path) -> None:
    plan = lower(demo_export.spec, demo_export.graph)
    ref = demo_export.reference.reshape(64, -1)
    build, sim = _fake(64, ref.shape[1], ref.copy())
    board = load_board("mps2-an386")
    r = make_report(plan, board, build, sim, demo_export.reference, 125.0, 0.0)
    write_json(r, tmp_path / "report.json")
    data = json.loads((tmp_path / "report.json").read_text())
    assert KEYS <= data.keys()
    assert data["bitexact"] and data["mismatched_frames"] == []
    total = sim.cycles_per_step + sim.precompute_cycles
    assert data["cycles_per_step"]["avg"] == total.mean()
    assert data["cycles_per_step"]["by_phase"]["1"] == total[1::2].mean()
    assert data["step_cycles"]["max"] == sim.cycles_per_step.max()
    assert data["macs_per_step"]["by_phase"]["0"] == plan.macs_by_phase[0]
    assert np.isclose(data["mac_per_cycle"], np.mean([plan.macs_by_phase[t % 2] for t in range(64)]) / total.mean())
    assert np.isclose(data["cpu_load"], total.mean() * 125.0 / board.clock_hz)
    assert data["ram"]["peak"] == build.static_ram + sim.stack_peak
    assert "bit-exact vs LiteRT" in format_table(r)
    rt = data["real_time"]
    assert rt["frame_budget_cycles"] == board.clock_hz / 125.0 and rt["worst_step_cycles"] == total.max()
    assert rt["keeps_up"] == (total.max() <= board.clock_hz / 125.0)
    slow = make_report(plan, board, build, sim, demo_export.reference, board.clock_hz / 100.0, 0.0)
    assert not slow.real_time["keeps_up"] and "real time at" in format_table(slow)
    assert "NO: worst step" in format_table(slow)


def test_one_wrong_byte_makes_the_run_fail(demo_export: Exported) -> None:
    plan = lower(demo_export.spec, demo_export.graph)
    ref = demo_export.reference.reshape(64, -1)
    bad = ref.copy()
    bad[37, 3] ^= 1
    build, sim = _fake(64, ref.shape[1], bad)
    r = make_report(plan, load_board("mps2-an386"), build, sim, demo_export.reference, 125.0, 0.0)
    assert not r.bitexact and r.mismatched_frames == [37]
