"""Firmware that goes wrong at run time is reported, not trusted (slow: builds and runs firmware).

Each case generates the demo model's C, plants one fault at the top of `soi_model_step()`, builds it
and runs it in QEMU: a HardFault names the fault registers and the function of the faulting PC, a
firmware that never finishes is stopped by the instruction budget, and a stack that grows into its
guard margin, or past its end into the data below it (with or without a fault after), is reported as a
stack overflow instead of returning outputs or a HardFault inside a kernel.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from soi_mcu.codegen import generate
from soi_mcu.errors import SoiError
from soi_mcu.plan.lower import lower
from soi_mcu.target.boards import load_board
from soi_mcu.target.build import build_firmware
from soi_mcu.target.qemu import simulate_qemu

from .conftest import Exported, have

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not have("arm-none-eabi-gcc", "cmake", "qemu-system-arm"),
                       reason="needs gcc-arm-none-eabi, cmake and qemu-system-arm (make setup installs them)"),
]

STEP_OPENING = "int soi_model_step(const int8_t *input, int8_t *output)\n{\n"
FRAMES = 8


def _run_with(code: str, demo_export: Exported, tmp_path: Path, insn_budget: int = 4_000_000_000,
              prelude: str = "") -> None:
    board = load_board("mps2-an386")
    plan = lower(demo_export.spec, demo_export.graph)
    sources = generate(plan, board, demo_export.inputs_q[:FRAMES], tmp_path / "gen")
    model_c = sources.model_sources[0]
    text = model_c.read_text()
    assert STEP_OPENING in text, "the step function's opening changed: update this test"
    model_c.write_text(text.replace(STEP_OPENING, prelude + STEP_OPENING + code, 1))
    build = build_firmware(sources, board, tmp_path / "build")
    simulate_qemu(build, board, FRAMES, plan.output_size, tmp_path / "sim", insn_budget=insn_budget)


def test_hardfault_reports_registers_and_function(demo_export: Exported, tmp_path: Path) -> None:
    # A store to an address with no memory behind it: a precise BusFault, escalated to HardFault.
    fault = "    if (soi_step_count == 3u) { *(volatile uint32_t *)0xF0000000u = 1u; }\n"
    with pytest.raises(SoiError) as err:
        _run_with(fault, demo_export, tmp_path)
    msg = str(err.value)
    assert re.search(r"HardFault at pc=0x[0-9a-f]{8} \(soi_model_step\)", msg), msg
    assert re.search(r"CFSR=0x[0-9a-f]{8} HFSR=0x[0-9a-f]{8}", msg), msg
    assert "qemu.log" in msg


def test_firmware_that_never_finishes_is_stopped(demo_export: Exported, tmp_path: Path) -> None:
    hang = "    if (soi_step_count == 2u) { for (;;) { __asm volatile(\"nop\"); } }\n"
    with pytest.raises(SoiError, match=r"ran past its budget of 20000000 instructions without finishing"):
        _run_with(hang, demo_export, tmp_path, insn_budget=20_000_000)


def test_stack_overflow_is_reported(demo_export: Exported, tmp_path: Path) -> None:
    # A function (not inlined, so its stack is released before the model's kernels run) grows the
    # stack to 64 bytes short of its end: deep into the paint check's guard margin, short of running
    # past the stack (which would corrupt the data below it first).
    prelude = ("extern uint8_t __stack_limit__;\n"
               "static __attribute__((noinline)) void soi_test_deep_stack(void)\n"
               "{\n"
               "    uint8_t *sp;\n"
               "    __asm volatile(\"mov %0, sp\" : \"=r\"(sp));\n"
               "    const uint32_t n = (uint32_t)(sp - &__stack_limit__) - 64u;\n"
               "    volatile uint8_t *deep = __builtin_alloca(n);\n"
               "    for (uint32_t i = 0; i < n; i++) { deep[i] = 0u; }\n"
               "}\n\n")
    with pytest.raises(SoiError, match=r"stack overflow: \d+ bytes needed, stack_size is 16384 \(the firmware ran into"):
        _run_with("    soi_test_deep_stack();\n", demo_export, tmp_path, prelude=prelude)


@pytest.mark.parametrize("then, words", [
    ("", r"more than 16384 bytes needed, stack_size is 16384 \(step 3 ran past the end"),  # found after the step
    # a fault while the stack is past its end (the HardFault inside a kernel): found by the handler
    ("    *(volatile uint32_t *)0xF0000000u = 1u;\n", r"at least 1[67]\d\d\d bytes needed, stack_size is 16384 .*faulted at"),
])
def test_stack_that_runs_past_its_end_is_a_stack_overflow(demo_export: Exported, tmp_path: Path, then: str,
                                                          words: str) -> None:
    # The stack sits above .bss, so a stack that runs past its end overwrites the model's data first, and
    # the run used to end as "HardFault at pc=... (a kernel)". The guard words at the bottom of the stack
    # are checked after every step and in the fault handler: either way it is a stack overflow, with the
    # size it needed and the one it has.
    prelude = ("extern uint8_t __stack_limit__;\n"
               "static __attribute__((noinline)) void soi_test_overflow(void)\n"
               "{\n"
               "    uint8_t *sp;\n"
               "    __asm volatile(\"mov %0, sp\" : \"=r\"(sp));\n"
               "    const uint32_t n = (uint32_t)(sp - &__stack_limit__) + 512u;\n"
               "    volatile uint8_t *deep = __builtin_alloca(n);\n"
               "    for (uint32_t i = 0; i < n; i++) { deep[i] = 0u; }\n"
               + then +
               "}\n\n")
    with pytest.raises(SoiError, match="stack overflow: " + words) as err:
        _run_with("    if (soi_step_count == 3u) { soi_test_overflow(); }\n", demo_export, tmp_path, prelude=prelude)
    assert err.value.exit_code == 3 and "HardFault at" not in str(err.value)


def test_ctrl_c_during_the_build_exits_130_and_marks_the_report(tmp_path: Path) -> None:
    """Ctrl-C (SIGINT to the whole process group, as a terminal sends it) while the firmware builds: exit
    130 with "interrupted", not "firmware build failed" (exit 2), and the old report marked failed."""
    import json
    import os
    import signal
    import subprocess
    import sys

    out = tmp_path / "out"
    out.mkdir()
    (out / "report.json").write_text(json.dumps({"status": "complete", "bitexact": True, "frames": 64}))
    env = {**os.environ, "SOI_MCU_CACHE": os.environ.get("SOI_MCU_CACHE", str(tmp_path / "cache"))}
    # a shell's background job inherits SIGINT ignored: give the child the terminal's default back
    proc = subprocess.Popen([sys.executable, "-m", "soi_mcu.cli", "demo", "--frames", "8", "--out", str(out)], env=env,
                            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    assert proc.stderr is not None
    seen = []
    for line in proc.stderr:
        seen.append(line)
        if "building firmware" in line:
            time.sleep(1.0)  # CMake and the compiler are running
            os.killpg(proc.pid, signal.SIGINT)
            break
    seen += proc.stderr.readlines()
    proc.wait(timeout=120)
    assert proc.returncode == 130, "".join(seen)
    assert seen[-1].strip() == "soi-mcu: interrupted" and "Traceback" not in "".join(seen), "".join(seen)
    report = json.loads((out / "report.json").read_text())
    assert report["status"] == "failed" and report["error"] == "interrupted" and "bitexact" not in report
    assert report["previous"]["bitexact"] is True
    assert not (out / ".soi-mcu.lock").exists()
