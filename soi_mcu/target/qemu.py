"""Run the firmware in QEMU with the cycle plugin and collect outputs and per-step counts.

qemu_command() is the one QEMU command line of the project: the simulator here, the kernel tests,
the plugin tests and the kernel bench all start QEMU through it.
"""

from __future__ import annotations

import functools
import subprocess
from pathlib import Path

from soi_mcu.errors import SoiError, ToolError, raise_if_interrupted, require_tool
from soi_mcu.schema import suggest
from soi_mcu.target.boards import Board
from soi_mcu.target.build import BuildResult
from soi_mcu.target.harness_output import RunLog, check_finished, parse_outputs, stack_peak
from soi_mcu.target.qemu_memory import check_board_memory, machine_memory
from soi_mcu.target.qemu_plugin import ensure_plugin, parse_plugin_output, plugin_args
from soi_mcu.target.sim_result import SimResult, marker_addresses, result_from_hits

QEMU_HINT = "apt-get install qemu-system-arm"
QEMU = "qemu-system-arm"
# A bare machine: no display, no monitor, no serial port; the firmware writes through semihosting.
HEADLESS = ("-nographic", "-monitor", "none", "-serial", "none", "-semihosting-config", "enable=on,target=native")
COUNTER_KIND = "estimated (executed instructions x Cortex-M timing table, QEMU TCG plugin)"


def qemu_command(machine: str, cpu: str, elf: Path, plugin: str | None = None,
                 extra: tuple[str, ...] = ()) -> list[str]:
    """qemu-system-arm running `elf` on `machine` with `cpu`; `plugin`: a plugin_args() value."""
    cmd = [QEMU, "-M", machine, "-cpu", cpu, *HEADLESS, *extra, "-kernel", str(elf)]
    if plugin is not None:
        cmd += ["-plugin", plugin, "-d", "plugin"]
    return cmd


@functools.lru_cache(maxsize=1)
def qemu_machines() -> frozenset[str]:
    """The machines this qemu-system-arm models (`-machine help`); empty when it cannot say."""
    try:
        proc = subprocess.run([QEMU, "-machine", "help"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return frozenset()
    raise_if_interrupted(proc.returncode)
    lines = proc.stdout.splitlines()[1:] if proc.returncode == 0 else []  # after "Supported machines are:"
    return frozenset(line.split()[0] for line in lines if line.strip())


def check_qemu_machine(board: Board) -> None:
    """Refuse, before any build, a board whose QEMU machine this QEMU does not model, or whose flash or RAM
    has no memory behind it in that machine (either would show as "QEMU exited with code 1" after the
    export and the build)."""
    machines = qemu_machines()
    if board.qemu_machine and machines and board.qemu_machine not in machines:
        arm = sorted(m for m in machines if m.startswith(("mps2", "mps3", "netduino", "stm32", "microbit", "lm3s")))
        raise SoiError(f"board file {board.file or board.name}: [simulators.qemu] machine = \"{board.qemu_machine}\" is "
                       f"not a machine {QEMU} models{suggest(board.qemu_machine, machines)}; Cortex-M ones: "
                       f"{', '.join(arm)} (`{QEMU} -machine help` lists all)")
    if board.qemu_machine and (not machines or board.qemu_machine in machines):
        check_board_memory(board, machine_memory(board.qemu_machine, QEMU))


def board_qemu_command(board: Board, elf: Path, plugin: str | None = None) -> list[str]:
    """qemu_command() for a board file's [simulators.qemu] machine and core."""
    if not board.qemu_machine:
        raise SoiError(f"board {board.name} has no [simulators.qemu] section; it cannot run in QEMU")
    return qemu_command(board.qemu_machine, board.qemu_cpu or board.core, elf, plugin)


def simulate_qemu(build: BuildResult, board: Board, frames: int, out_bytes: int, work_dir: Path,
                  timeout_s: float = 600.0, insn_budget: int = 4_000_000_000) -> SimResult:
    """Run the harness firmware for `frames` steps and read back what it printed."""
    require_tool(QEMU, QEMU_HINT)
    if not board.qemu_machine:
        raise SoiError(f"board {board.name} has no [simulators.qemu] section; it cannot run in QEMU")
    marks, layer_marks = marker_addresses(build.symbols, str(build.elf))
    work_dir.mkdir(parents=True, exist_ok=True)
    trace_path = work_dir / "plugin.txt"
    trace_path.unlink(missing_ok=True)
    plugin = plugin_args(trace_path, marks + sorted(layer_marks), board.core, limit=insn_budget,
                         plugin=ensure_plugin())
    try:
        proc = subprocess.run(board_qemu_command(board, build.elf, plugin), capture_output=True, text=True,
                              timeout=timeout_s)
    except subprocess.TimeoutExpired:
        raise ToolError(f"the firmware did not finish within {timeout_s:.0f} s in QEMU; it may hang "
                       "(raise the timeout for very large models)") from None
    raise_if_interrupted(proc.returncode)
    # QEMU prints semihosting output on stderr or stdout depending on its version: read both.
    log = proc.stdout + proc.stderr
    log_path = work_dir / "qemu.log"
    log_path.write_text(log)
    lines = log.splitlines()
    exhausted = (f"the firmware ran past its budget of {insn_budget} instructions without finishing"
                 if proc.returncode == 124 else None)
    check_finished(proc.returncode, lines, build.symbols, RunLog("QEMU", log_path, log_path), exhausted, board)
    outputs = parse_outputs(lines, frames, out_bytes)
    stack = stack_peak(lines, board)
    trace = parse_plugin_output(trace_path)
    return result_from_hits(trace.marks, marks, layer_marks, frames, outputs=outputs, stack_peak=stack,
                            total_insns=trace.insns, counter_kind=COUNTER_KIND,
                            simulator=f"{QEMU} -M {board.qemu_machine}")
