"""Run the firmware in QEMU with the cycle plugin and collect outputs and per-step counts."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from soi_mcu.boards import Board
from soi_mcu.build import BuildResult
from soi_mcu.errors import SoiError, require_tool
from soi_mcu.qemu_plugin import ensure_plugin, parse_plugin_output, plugin_args

QEMU_HINT = "apt-get install qemu-system-arm"


@dataclass(frozen=True)
class SimResult:
    outputs: np.ndarray  # int8 (frames, output bytes)
    insns_per_step: np.ndarray  # int64 (frames,)
    cycles_per_step: np.ndarray  # estimated, pipeline refill P=2
    cycles_per_step_p1: np.ndarray  # estimate range: P=1 ...
    cycles_per_step_p3: np.ndarray  # ... to P=3
    precompute_insns: np.ndarray  # the part of each step's work done by precompute() (FP SOI)
    precompute_cycles: np.ndarray
    layer_cycles: dict[str, float]  # average estimated cycles per step by layer (and overheads)
    layer_insns: dict[str, float]
    stack_peak: int
    total_insns: int
    counter_kind: str  # how cycles were obtained
    simulator: str


def simulate_qemu(build: BuildResult, board: Board, frames: int, out_bytes: int, work_dir: Path,
                  timeout_s: float = 600.0, insn_budget: int = 4_000_000_000) -> SimResult:
    """Run the harness firmware for `frames` steps and read back what it printed."""
    qemu = require_tool("qemu-system-arm", QEMU_HINT)
    if not board.qemu_machine:
        raise SoiError(f"board {board.name} has no [simulators.qemu] section; it cannot run in QEMU")
    names = ("soi_mark_begin", "soi_mark_end", "soi_mark_pre_begin", "soi_mark_pre_end")
    missing = [n for n in names if n not in build.symbols]
    if missing:
        raise SoiError(f"{build.elf}: profiling markers {', '.join(missing)} not found in the ELF")
    marks = [build.symbols[n][0] for n in names]
    layer_marks = {addr & ~1: name[len("soi_mark_layer_"):] for name, (addr, _) in build.symbols.items()
                   if name.startswith("soi_mark_layer_")}
    work_dir.mkdir(parents=True, exist_ok=True)
    trace_path = work_dir / "plugin.txt"
    trace_path.unlink(missing_ok=True)
    plugin = ensure_plugin()
    cmd = [
        qemu, "-M", board.qemu_machine, "-cpu", board.qemu_cpu or board.core,
        "-nographic", "-monitor", "none", "-serial", "none",
        "-semihosting-config", "enable=on,target=native",
        "-kernel", str(build.elf),
        "-plugin", plugin_args(trace_path, marks + sorted(layer_marks), board.core, limit=insn_budget, plugin=plugin),
        "-d", "plugin",
    ]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        raise SoiError(f"the firmware did not finish within {timeout_s:.0f} s in QEMU; it may hang "
                       "(raise the timeout for very large models)") from None
    # QEMU prints semihosting output on stderr or stdout depending on its version: read both.
    log = proc.stdout + proc.stderr
    (work_dir / "qemu.log").write_text(log)
    lines = log.splitlines()
    _check_finished(proc.returncode, lines, build, work_dir, insn_budget)
    outputs = _parse_outputs(lines, frames, out_bytes)
    stack = next(int(ln.split()[1]) for ln in lines if ln.startswith("SOI_STACK "))
    if stack >= board.stack_size - 64:  # the paint is gone up to the guard margin: it overflowed
        raise SoiError(f"stack overflow: the firmware used {stack} of its {board.stack_size}-byte stack; "
                       f"raise stack_size in boards/{board.name}.toml (outputs of this run are not trusted)")
    trace = parse_plugin_output(trace_path)
    hits = [trace.hits(m) for m in marks]
    if any(len(h) != frames for h in hits):
        raise SoiError(f"plugin saw {[len(h) for h in hits]} marker hits for {frames} frames")
    steps = [e.since(b) for b, e in zip(hits[0], hits[1], strict=True)]
    pre = [e.since(b) for b, e in zip(hits[2], hits[3], strict=True)]
    labels = dict(zip((m & ~1 for m in marks), ("(step overhead)", None, "(precompute overhead)", None), strict=True))
    cycles_by, insns_by = _breakdown(trace.marks, labels | layer_marks, frames)
    return SimResult(
        outputs=outputs,
        insns_per_step=np.array([s.insns for s in steps], dtype=np.int64),
        cycles_per_step=np.array([s.cycles for s in steps], dtype=np.int64),
        cycles_per_step_p1=np.array([s.cycles_p1 for s in steps], dtype=np.int64),
        cycles_per_step_p3=np.array([s.cycles_p3 for s in steps], dtype=np.int64),
        precompute_insns=np.array([s.insns for s in pre], dtype=np.int64),
        precompute_cycles=np.array([s.cycles for s in pre], dtype=np.int64),
        layer_cycles=cycles_by,
        layer_insns=insns_by,
        stack_peak=stack,
        total_insns=trace.insns,
        counter_kind="estimated (executed instructions x Cortex-M timing table, QEMU TCG plugin)",
        simulator=f"qemu-system-arm -M {board.qemu_machine}",
    )


def _breakdown(hits, labels: dict[int, str | None], frames: int) -> tuple[dict[str, float], dict[str, float]]:
    """Attribute the counts between consecutive marker hits to the segment the earlier one opened.

    Segments open at the step/precompute begin markers (overhead) and at each layer's marker, and
    close at the end markers, so the segments of a step add up to its measured total exactly.
    """
    cycles: dict[str, float] = {}
    insns: dict[str, float] = {}
    current: str | None = None
    start = None
    for hit in hits:
        if current is not None and start is not None:
            delta = hit.since(start)
            cycles[current] = cycles.get(current, 0) + delta.cycles / frames
            insns[current] = insns.get(current, 0) + delta.insns / frames
        current = labels.get(hit.addr)
        start = hit
    return cycles, insns


def _check_finished(rc: int, lines: list[str], build: BuildResult, work_dir: Path, budget: int) -> None:
    fault = next((ln for ln in lines if ln.startswith("SOI_FAULT")), None)
    if fault:
        fields = dict(f.split("=") for f in fault.split()[1:])
        pc = int(fields["pc"])
        raise SoiError(f"firmware HardFault at pc=0x{pc:08x} ({_symbol_at(build, pc)}), "
                       f"CFSR=0x{int(fields['cfsr']):08x} HFSR=0x{int(fields['hfsr']):08x}; see {work_dir / 'qemu.log'}")
    if rc == 124:
        raise SoiError(f"the firmware ran past its budget of {budget} instructions without finishing")
    error = next((ln for ln in lines if ln.startswith("SOI_ERROR")), None)
    if error:
        raise SoiError(f"firmware reported: {error[10:]}")
    if rc != 0 or "SOI_DONE" not in lines:
        raise SoiError(f"QEMU exited with code {rc} before the firmware finished; see {work_dir / 'qemu.log'}")


def _symbol_at(build: BuildResult, pc: int) -> str:
    for name, (addr, size) in build.symbols.items():
        start = addr & ~1
        if start <= pc < start + max(size, 1):
            return name
    return "unknown function"


def _parse_outputs(lines: list[str], frames: int, out_bytes: int) -> np.ndarray:
    out = np.zeros((frames, out_bytes), dtype=np.int8)
    seen = 0
    for ln in lines:
        if ln.startswith("SOI_OUT "):
            _, step, hexdata = ln.split()
            out[int(step)] = np.frombuffer(bytes.fromhex(hexdata), dtype=np.int8)
            seen += 1
    if seen != frames:
        raise SoiError(f"firmware printed {seen} output frames, expected {frames}")
    return out
