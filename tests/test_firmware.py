"""Cross build, QEMU simulation and the whole path (slow: they compile and run firmware)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from soi_mcu.codegen import generate
from soi_mcu.pipeline import demo
from soi_mcu.plan.lower import lower
from soi_mcu.target.boards import load_board
from soi_mcu.target.build import build_firmware
from soi_mcu.target.qemu import simulate_qemu

from .conftest import Exported, have
from .random_models import random_spec, seeds
from .test_report import KEYS

FIRMWARE_SEEDS = seeds(5000, 3, 40)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not have("arm-none-eabi-gcc", "cmake", "qemu-system-arm"),
                       reason="needs gcc-arm-none-eabi, cmake and qemu-system-arm (make setup installs them)"),
]


@pytest.fixture(scope="module")
def built(demo_export: Exported, tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("fw")
    board = load_board("mps2-an386")
    plan = lower(demo_export.spec, demo_export.graph)
    sources = generate(plan, board, demo_export.inputs_q, out / "gen")
    return plan, board, build_firmware(sources, board, out / "build"), out


def test_build_produces_an_elf_with_the_model(built) -> None:
    plan, board, build, _ = built
    assert build.elf.is_file()
    assert build.flash >= sum(n.weights.size for n in plan.nodes if hasattr(n, "weights"))
    assert "soi_model_step" in build.symbols and "enc0_slots" in build.symbols
    assert build.symbols["dec2_slots"][1] == 2 * 5 * 16 * 16  # mirrored ring: 2 x window x frame


def test_simulation_is_bitexact_and_odd_steps_are_cheaper(built, demo_export: Exported) -> None:
    plan, board, build, out = built
    sim = simulate_qemu(build, board, 64, plan.output_size, out / "sim")
    ref = demo_export.reference.reshape(64, -1)
    assert np.array_equal(sim.outputs, ref), np.nonzero((sim.outputs != ref).any(axis=1))[0].tolist()
    even, odd = sim.cycles_per_step[0::2].mean(), sim.cycles_per_step[1::2].mean()
    assert odd < 0.7 * even
    assert (sim.cycles_per_step_p1 <= sim.cycles_per_step).all() and (sim.cycles_per_step <= sim.cycles_per_step_p3).all()
    assert 0 < sim.stack_peak < board.stack_size


def test_demo_end_to_end(tmp_path: Path) -> None:
    report = demo(frames=64, out_dir=tmp_path, quiet=True)
    data = json.loads((tmp_path / "report.json").read_text())
    assert KEYS <= data.keys()
    assert data["bitexact"] and data["frames"] == 64
    assert data["cycles_per_step"]["by_phase"]["1"] < 0.7 * data["cycles_per_step"]["by_phase"]["0"]
    assert report.ram["peak"] > report.ram["static"] > report.ram["state"] > 0
    # the per-layer breakdown adds up to the measured total, and names every conv
    total = sum(row["cycles"] for row in data["layers"])
    assert abs(total - data["cycles_per_step"]["avg"]) <= 0.02 * data["cycles_per_step"]["avg"]
    assert {"enc0", "enc1_s", "enc2", "dec2", "dec1", "head"} <= {row["name"] for row in data["layers"]}




@pytest.mark.parametrize("seed", FIRMWARE_SEEDS)
def test_random_models_on_cortex_m4_are_bitexact(seed: int, tmp_path: Path) -> None:
    """Random PP/FP/nested models through the whole path on the M4 in QEMU (seeded, reproducible)."""
    import random

    from soi_mcu.model import analyze
    from soi_mcu.pipeline import run

    spec = random_spec(random.Random(seed))
    frames = 3 * analyze(spec).receptive_field + 2
    report = run(spec, "mps2-an386", frames, tmp_path, seed=seed, quiet=True)
    assert report.bitexact, (spec, report.mismatched_frames)


def test_fully_predictive_model_moves_work_to_precompute(tmp_path: Path) -> None:
    from soi_mcu.model import Concat, Conv, Duplicate, ModelSpec, Shift
    from soi_mcu.pipeline import run

    spec = ModelSpec("fp", 16, 1, (
        Conv("a", "input", cout=8),
        Conv("down", "a", cout=16, stride=2),
        Conv("mid", "down", cout=16),
        Conv("mid2", "mid", cout=16),
        Duplicate("up", "mid2"),
        Shift("sc", "up"),
        Concat("skip", ("sc", "a")),
        Conv("out", "skip", cout=1, act="none"),
    ))
    report = run(spec, "mps2-an386", 32, tmp_path, quiet=True)
    assert report.bitexact
    assert report.precomputed_mac_share > 0.5
    # the frame's critical path (step()) peaks well below the whole step's work
    assert report.step_cycles["max"] < 0.6 * report.cycles_per_step["max"]


def test_rerun_gives_identical_outputs(tmp_path: Path) -> None:
    """A re-run (e.g. after an interrupted one) reuses cached stages and ends with the same report."""
    demo(frames=16, out_dir=tmp_path, quiet=True)
    first = (tmp_path / "report.json").read_bytes()
    generated = {p: p.read_bytes() for p in (tmp_path / "generated").rglob("*.c")}
    (tmp_path / "report.json").unlink()  # as if the run had been killed before writing it
    demo(frames=16, out_dir=tmp_path, quiet=True)
    assert (tmp_path / "report.json").read_bytes() == first
    assert {p: p.read_bytes() for p in (tmp_path / "generated").rglob("*.c")} == generated


def test_killed_run_resumes_with_identical_outputs(tmp_path: Path) -> None:
    """Kill `soi-mcu demo` while it builds the firmware, re-run it: it reuses the cached conversion and
    ends with the same report and generated C as a run that was never interrupted."""
    env = {**os.environ, "SOI_MCU_CACHE": str(tmp_path / "cache")}
    cmd = [sys.executable, "-m", "soi_mcu.cli", "demo", "--frames", "16", "--out"]
    baseline = subprocess.run([*cmd, str(tmp_path / "baseline")], env=env, capture_output=True, text=True, timeout=600)
    assert baseline.returncode == 0, baseline.stderr[-2000:]

    out = tmp_path / "killed"
    proc = subprocess.Popen([*cmd, str(out)], env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
                            start_new_session=True)
    assert proc.stderr is not None
    seen = []
    for line in proc.stderr:
        seen.append(line)
        if line.startswith("[5/8] building firmware"):
            time.sleep(1.0)  # let CMake and the compiler get going
            os.killpg(proc.pid, signal.SIGKILL)
            break
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL, "".join(seen)
    killed = json.loads((out / "report.json").read_text())  # the killed run's marker: never a current-looking report
    assert killed["status"] == "running" and "bitexact" not in killed

    rerun = subprocess.run([*cmd, str(out)], env=env, capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert "reused the cached conversion" in rerun.stderr
    assert (out / "report.json").read_bytes() == (tmp_path / "baseline" / "report.json").read_bytes()
    for path in (tmp_path / "baseline" / "generated").rglob("*.c"):
        assert (out / "generated" / path.relative_to(tmp_path / "baseline" / "generated")).read_bytes() == path.read_bytes()


@pytest.mark.parametrize("variant", ["stmc", "scc:2"])
def test_classifier_on_cortex_m4(variant: str, tmp_path: Path) -> None:
    from soi_mcu.model.classifier import classifier_spec
    from soi_mcu.pipeline import run

    report = run(classifier_spec(variant), "mps2-an386", 24, tmp_path, quiet=True)
    assert report.bitexact
    if variant != "stmc":
        assert report.cycles_per_step["by_phase"]["1"] < report.cycles_per_step["by_phase"]["0"]
