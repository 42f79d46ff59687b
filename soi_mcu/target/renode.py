"""Run the harness firmware in Renode (renode-test + a generated robot suite) and read back what it printed.

The firmware is built with SOI_IO=uart: its report lines go to the board's console UART (board file
[simulators.renode] uart), which the suite writes to a file. Per-step counts come from hooks on the
profiling marker functions that record `cpu ExecutedInstructions`: Renode is a functional simulator, so
these are executed instructions (exact), and its "cycles" are those same instructions in virtual time.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import jinja2

from soi_mcu.errors import SoiError, ToolError, ToolMissingError, raise_if_interrupted
from soi_mcu.paths import RENODE_DIR
from soi_mcu.target.boards import Board
from soi_mcu.target.build import BuildResult
from soi_mcu.target.harness_output import RunLog, check_finished, parse_outputs, stack_peak
from soi_mcu.target.sim_result import STEP_MARKS, MarkHit, SimResult, marker_addresses, result_from_hits

RENODE_MISSING = ("Renode not found: the renode backend needs renode-test on PATH (Renode is not in Debian/PyPI; "
                  "install it from its release packages)")
COUNTER_KIND = ("virtual: executed instructions counted by Renode (cpu ExecutedInstructions at the profiling "
                "markers); cycles are those instructions (CPI 1), not hardware cycles")
UART_LOG, MARKS_LOG, INSNS_FILE = "uart.log", "marks.txt", "instructions.txt"


def renode_available() -> bool:
    """Whether Renode's test runner is installed."""
    return shutil.which("renode-test") is not None


def elf_marker_addresses(elf: Path) -> dict[str, int]:
    """Profiling marker functions in the ELF -> entry address (Thumb bit cleared)."""
    from elftools.elf.elffile import ELFFile

    with open(elf, "rb") as fh:
        symtab = ELFFile(fh).get_section_by_name(".symtab")
        found = {s.name: s["st_value"] & ~1 for s in (symtab.iter_symbols() if symtab else [])
                 if s.name in STEP_MARKS or s.name.startswith("soi_mark_layer_")}
    missing = [n for n in STEP_MARKS if n not in found]
    if missing:
        raise SoiError(f"{elf}: profiling markers {', '.join(missing)} not found in the ELF")
    return found


def _environment() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.FileSystemLoader(str(RENODE_DIR)), undefined=jinja2.StrictUndefined,
                              keep_trailing_newline=True)


def _check_board(board: Board) -> None:
    if not board.renode_platform or not board.renode_uart:
        raise SoiError(f"board {board.name} cannot run in Renode (no [simulators.renode] platform and uart in "
                       f"boards/{board.name}.toml)")


def _monitor_path(path: Path) -> str:
    text = str(path.resolve())
    if any(c.isspace() or c in "'\"" for c in text):
        raise SoiError(f"{text}: Renode's monitor cannot take this path (spaces or quotes); choose another --out")
    return text


def write_renode_suite(build_elf: Path, board: Board, frames: int, out_dir: Path,
                       insn_budget: int = 4_000_000_000) -> Path:
    """Write <board>.resc, soi.resource.robot and soi_<board>.robot to out_dir; return the suite's path."""
    _check_board(board)
    out_dir.mkdir(parents=True, exist_ok=True)
    env = _environment()
    mips = max(1, board.clock_hz // 1_000_000)
    resc = out_dir / f"{board.name}.resc"
    resc.write_text(env.get_template("board.resc.j2").render(board=board, mips=mips))
    shutil.copyfile(RENODE_DIR / "soi.resource.robot", out_dir / "soi.resource.robot")
    suite = out_dir / f"soi_{board.name}.robot"
    ctx = {
        "board": board, "frames": frames, "suite_name": suite.name, "resc_name": resc.name,
        "elf": _monitor_path(build_elf), "uart_log": _monitor_path(out_dir / UART_LOG),
        "marks_log": _monitor_path(out_dir / MARKS_LOG), "insns_file": _monitor_path(out_dir / INSNS_FILE),
        "timeout": f"{insn_budget / (mips * 1e6):.1f}",
        "marks": sorted(set(elf_marker_addresses(build_elf).values())),
    }
    suite.write_text(env.get_template("suite.robot.j2").render(ctx))
    return suite


def simulate_renode(build: BuildResult, board: Board, frames: int, out_bytes: int, work_dir: Path,
                    timeout_s: float = 3600.0, insn_budget: int = 4_000_000_000) -> SimResult:
    """Run the UART harness firmware for `frames` steps in Renode and read back its lines and counts."""
    renode_test = shutil.which("renode-test")
    if renode_test is None:
        raise ToolMissingError(RENODE_MISSING)
    suite = write_renode_suite(build.elf, board, frames, work_dir, insn_budget)
    for name in (UART_LOG, MARKS_LOG, INSNS_FILE):
        (work_dir / name).unlink(missing_ok=True)  # Renode's file backend never overwrites: it numbers a new file
    results = work_dir / "robot"
    cmd = [renode_test, str(suite), "-r", str(results)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s)
        raise_if_interrupted(proc.returncode)
    except subprocess.TimeoutExpired:
        raise ToolError(f"Renode did not finish within {timeout_s:.0f} s; see {results}") from None
    (work_dir / "renode-test.log").write_text(proc.stdout + proc.stderr)
    uart = work_dir / UART_LOG
    lines = uart.read_text(errors="replace").splitlines() if uart.is_file() else []
    check_finished(proc.returncode, lines, build.symbols,
                   RunLog("renode-test", work_dir / UART_LOG, work_dir / "renode-test.log"))
    total = (work_dir / INSNS_FILE).read_text().strip() if (work_dir / INSNS_FILE).is_file() else ""
    return parse_renode_run(lines, (work_dir / MARKS_LOG).read_text(), build, board, frames, out_bytes,
                            int(total, 0) if total else None)


def parse_marks(text: str) -> list[MarkHit]:
    """Lines `0x<address> <executed instructions>` written by the marker hooks -> hits (cycles = instructions)."""
    hits = []
    for line in text.splitlines():
        if line.strip():
            addr, insns = line.split()
            n = int(insns)
            hits.append(MarkHit(int(addr, 16), n, n, n, n))
    return hits


def parse_renode_run(lines: list[str], marks_text: str, build: BuildResult, board: Board, frames: int,
                     out_bytes: int, total_insns: int | None = None) -> SimResult:
    """UART lines + marker log of a finished run -> SimResult (the counts are virtual: instructions)."""
    outputs = parse_outputs(lines, frames, out_bytes)
    stack = stack_peak(lines, board)
    found = elf_marker_addresses(build.elf)
    marks, layer_marks = marker_addresses({name: (addr, 0) for name, addr in found.items()}, str(build.elf))
    trace = parse_marks(marks_text)
    return result_from_hits(trace, marks, layer_marks, frames, outputs=outputs, stack_peak=stack,
                            total_insns=total_insns if total_insns is not None else trace[-1].insns,
                            counter_kind=COUNTER_KIND,
                            simulator=f"renode ({board.renode_platform}, {board.renode_uart})")
