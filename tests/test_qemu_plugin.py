"""The soi_cycles QEMU plugin: exact counts on hand-written Thumb-2 sequences, limit=, parsing.

Each firmware calls an empty marker function before and after a sequence. Between the two
hits the plugin must count: mark_begin's `bx lr` (1 cycle + refill), the sequence, and the
`bl mark_end` (1 cycle + refill); the expected values below are summed from the timing
tables in qemu-plugin/README.md.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from soi_mcu.errors import SoiError
from soi_mcu.target import qemu_plugin
from soi_mcu.target.boards import load_board
from soi_mcu.target.cores import CORES
from soi_mcu.target.qemu import qemu_command
from soi_mcu.target.qemu_plugin import MarkHit, ensure_plugin, parse_plugin_output, plugin_args

LINKER_SCRIPT = """\
MEMORY { FLASH (rx) : ORIGIN = 0x00000000, LENGTH = 4M
         RAM (rwx)  : ORIGIN = 0x20000000, LENGTH = 4M }
SECTIONS { .text : { KEEP(*(.vectors)) *(.text*) *(.rodata*) } > FLASH }
"""
# Enable the FPU/MVE (CPACR CP10/CP11 full access): 6 instructions.
FPU_ON = ["ldr r0, =0xE000ED88", "ldr r1, [r0]", "orr r1, r1, #(0xF << 20)", "str r1, [r0]", "dsb", "isb"]
EXIT = ["mov r0, #0x18", "ldr r1, =0x20026", "bkpt 0xab"]  # semihosting SYS_EXIT, ApplicationExit


@dataclass(frozen=True)
class Case:
    """A sequence between the markers and its hand-computed cost."""

    body: list[str]
    insns: int  # executed instructions in the body
    cycles: int  # base cycles in the body, refills excluded
    taken: int  # taken branches in the body (each pays refill P)
    core: str = "cortex-m4"
    setup: tuple[str, ...] = ()
    funcs: str = ""  # extra functions after the code


# Expected cycles per the M4 table: ALU/DSP/MUL 1, LDR 2 (1 when pipelined after an LDR whose
# destination is not its base), STR 1, LDRD/STRD 3, LDM/STM/PUSH/POP 1+N, SDIV 7, branch 1+P.
CASES = {
    "ten_adds": Case([f"adds r{i % 4}, r{i % 4}, #1" for i in range(10)], 10, 10, 0),
    "five_ldr_pipelined": Case([f"ldr r{d}, [r4, #{4 * i}]" for i, d in enumerate((0, 1, 2, 3, 5))], 5, 2 + 4, 0),
    "ldr_dependent_and_after_str": Case(
        ["ldr r1, [r4]", "ldr r2, [r1]", "str r2, [r4, #8]", "ldr r3, [r4, #12]"], 4, 2 + 2 + 1 + 2, 0
    ),
    "dsp_and_multiply": Case(
        ["smlad r0, r1, r2, r0"] * 4
        + ["smlabb r0, r1, r2, r0", "sxtb16 r3, r1", "umull r5, r6, r1, r2", "smlal r5, r6, r1, r2"]
        + ["mul r0, r1, r2", "mla r0, r1, r2, r0"],
        10,
        10,
        0,
    ),
    "ldrd_strd_sdiv": Case(["strd r0, r1, [r4]", "ldrd r2, r3, [r4]", "sdiv r0, r1, r6"], 3, 3 + 3 + 7, 0),
    "loop_taken_branch": Case(["movs r2, #10", "1: subs r2, r2, #1", "bne 1b"], 1 + 2 * 10, 1 + 2 * 10, 9),
    "untaken_branch_and_it": Case(
        ["movs r0, #1", "cmp r0, #0", "beq 1f", "cmp r0, #1", "ite eq", "moveq r1, #1", "movne r1, #2", "1: nop"],
        8,
        8,
        0,
    ),
    "push_pop_call": Case(
        ["push {r0, r1, r2, r3}", "pop {r0, r1, r2, r3}", "bl func"],
        3 + 3,
        5 + 5 + 1 + (1 + 3) + 1 + (1 + 3),
        2,
        funcs="func:\n  push {r4, r5, lr}\n  adds r4, #1\n  pop {r4, r5, pc}\n",
    ),
    "fpu": Case(
        ["vmov.f32 s0, #1.0", "vadd.f32 s1, s0, s0", "vmla.f32 s2, s0, s1", "vdiv.f32 s3, s1, s0", "vldr s4, [r4]"],
        5,
        1 + 1 + 3 + 14 + 2,
        0,
        setup=tuple(FPU_ON),
    ),
    # VMOV: one core register 1 cycle, two core registers 2 (Cortex-M4 TRM).
    "fpu_vmov_pairs": Case(
        ["vmov s0, r4", "vmov r0, r1, d0", "vmov d1, r0, r1", "vmov s4, s5, r0, r1", "vmov r2, s0"],
        5,
        1 + 2 + 2 + 2 + 1,
        0,
        setup=tuple(FPU_ON),
    ),
    # Cortex-M3: MLA 2, UMULL 4, UMLAL 5 (midpoints of the TRM's early-termination ranges).
    "m3_multiply": Case(
        ["mul r0, r1, r2", "mla r0, r1, r2, r0", "umull r5, r6, r1, r2", "umlal r5, r6, r1, r2"],
        4,
        1 + 2 + 4 + 5,
        0,
        core="cortex-m3",
    ),
    # Cortex-M7: two independent ALU ops issue together (second costs 0); refills 0/1/2.
    "m7_dual_issue": Case([f"adds r{i % 4}, r{i % 4}, #1" for i in range(10)], 10, 5, 0, core="cortex-m7"),
    # Cortex-M55: MVE 2 cycles (4 beats, 2 per cycle); DLS 1; LE 0 with no refill (loop cache).
    "m55_mve_loop": Case(
        [
            "movs r2, #3",
            "dls lr, r2",
            "1: vldrb.s8 q0, [r4]",
            "vadd.i8 q1, q0, q0",
            "vstrw.32 q1, [r4, #16]",
            "le lr, 1b",
        ],
        2 + 3 * 4,
        2 + 3 * 6,
        0,
        core="cortex-m55",
        setup=tuple(FPU_ON),
    ),
}
REFILL = {"cortex-m7": (0, 1, 2)}  # other cores: P = 1, 2, 3


def _need_tools() -> None:
    for tool in ("qemu-system-arm", "arm-none-eabi-gcc"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} not installed (apt-get install qemu-system-arm gcc-arm-none-eabi)")


@pytest.fixture(scope="module")
def plugin() -> Path:
    _need_tools()
    try:
        return ensure_plugin()
    except SoiError as exc:
        pytest.skip(f"QEMU plugin unavailable: {exc}")


def _build(tmp: Path, core: str, setup: list[str], body: list[str], funcs: str = "") -> Path:
    prologue = "\n".join(f"  {ln}" for ln in setup)
    code = "\n".join(f"  {ln}" for ln in body)
    exit_code = "\n".join(f"  {ln}" for ln in EXIT)
    extra = f"  .thumb_func\n{funcs}" if funcs else ""
    src = f"""\
  .syntax unified
  .thumb
  .section .vectors, "a"
  .word 0x20010000
  .word reset + 1
  .text
  .thumb_func
reset:
  ldr r4, =0x20000000
  movs r6, #3
{prologue}
  bl mark_begin
{code}
  bl mark_end
{exit_code}
  .ltorg
  .thumb_func
mark_begin:
  bx lr
  .thumb_func
mark_end:
  bx lr
{extra}"""
    (tmp / "fw.S").write_text(src)
    (tmp / "fw.ld").write_text(LINKER_SCRIPT)
    elf = tmp / "fw.elf"
    cmd = ["arm-none-eabi-gcc", f"-mcpu={core}", "-mthumb", f"-mfloat-abi={CORES[core].float_abi}", "-nostdlib",
           "-T", str(tmp / "fw.ld")]
    subprocess.run([*cmd, str(tmp / "fw.S"), "-o", str(elf)], check=True, capture_output=True, text=True)
    return elf


def _symbol(elf: Path, name: str) -> int:
    out = subprocess.run(["arm-none-eabi-nm", str(elf)], check=True, capture_output=True, text=True).stdout
    for line in out.splitlines():
        addr, _, sym = line.split()
        if sym == name:
            return int(addr, 16)
    raise AssertionError(f"{name} not in {elf}")


def _run_qemu(elf: Path, core: str, args: str, timeout: float = 20) -> subprocess.CompletedProcess[str]:
    board = load_board(CORES[core].reference_board)
    cmd = qemu_command(board.qemu_machine or "", board.qemu_cpu or core, elf) + ["-plugin", args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize("name", sorted(CASES))
def test_counts_between_markers(plugin: Path, tmp_path: Path, name: str) -> None:
    case = CASES[name]
    elf = _build(tmp_path, case.core, list(case.setup), case.body, case.funcs)
    marks = [_symbol(elf, "mark_begin"), _symbol(elf, "mark_end")]
    out = tmp_path / "trace.txt"
    proc = _run_qemu(elf, case.core, plugin_args(out, marks, case.core, plugin=plugin))
    assert proc.returncode == 0, proc.stderr
    trace = parse_plugin_output(out)
    begin, end = trace.marks
    assert (begin.addr, end.addr) == (marks[0] & ~1, marks[1] & ~1)
    delta = end.since(begin)
    refills = case.taken + 2  # mark_begin's bx lr and the bl mark_end are taken too
    p = REFILL.get(case.core, (1, 2, 3))
    base = case.cycles + 2
    expected = MarkHit(end.addr, case.insns + 2, base + p[0] * refills, base + p[1] * refills, base + p[2] * refills)
    assert delta == expected
    # Whole run: 2 setup + bl + bx + body + bl + bx + 3 exit instructions, all executed once.
    assert trace.insns == 2 + len(case.setup) + 4 + case.insns + len(EXIT)
    assert dict(trace.extra)["unclassified"] == "0"


def test_limit_stops_endless_firmware(plugin: Path, tmp_path: Path) -> None:
    elf = _build(tmp_path, "cortex-m4", [], ["1: adds r0, #1", "b 1b"])
    out = tmp_path / "trace.txt"
    start = time.monotonic()
    proc = _run_qemu(elf, "cortex-m4", plugin_args(out, [], "cortex-m4", limit=5_000_000, plugin=plugin), 30)
    assert proc.returncode == 124, proc.stderr
    assert time.monotonic() - start < 10
    assert "limit" in proc.stderr
    trace = parse_plugin_output(out)  # exit() still runs the plugin's atexit callback
    assert trace.insns >= 5_000_000
    assert dict(trace.extra)["limit_hit"] == "1"


def test_plugin_args_format(tmp_path: Path) -> None:
    lib = tmp_path / "a,b.so"
    args = plugin_args(tmp_path / "o.txt", [0x101, 0x200], "cortex-m4", limit=10, plugin=lib)
    assert args == f"file={tmp_path}/a,,b.so,out={tmp_path}/o.txt,marks=0x100:0x200,core=cortex-m4,limit=10"
    with pytest.raises(SoiError, match="cortex-m4"):
        plugin_args(tmp_path / "o.txt", [], "cortex-m0", plugin=lib)


def test_parse_output(tmp_path: Path) -> None:
    path = tmp_path / "o.txt"
    path.write_text(
        "total insns=100 cycles_p1=120 cycles_p2=130 cycles_p3=140 taken=10 core=cortex-m4\n"
        "mark addr=0x200 insns=5 cycles_p1=6 cycles_p2=7 cycles_p3=8\n"
        "mark addr=0x300 insns=50 cycles_p1=60 cycles_p2=70 cycles_p3=80\n"
    )
    trace = parse_plugin_output(path)
    assert (trace.insns, trace.cycles_p1, trace.cycles, trace.cycles_p3) == (100, 120, 130, 140)
    assert trace.hits(0x301) == [MarkHit(0x300, 50, 60, 70, 80)]
    assert trace.marks[1].since(trace.marks[0]) == MarkHit(0x300, 45, 54, 63, 72)
    assert ("core", "cortex-m4") in trace.extra
    path.write_text("mark addr=0x200 insns=5 cycles_p1=6 cycles_p2=7 cycles_p3=8\n")
    with pytest.raises(SoiError, match="no 'total' line"):
        parse_plugin_output(path)
    path.write_text("total insns=x\n")
    with pytest.raises(SoiError, match="malformed"):
        parse_plugin_output(path)
    with pytest.raises(SoiError, match="no plugin output"):
        parse_plugin_output(tmp_path / "missing.txt")


def test_build_failures_are_soi_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QEMU_PLUGIN_H", str(tmp_path / "nope.h"))
    with pytest.raises(SoiError, match="QEMU_PLUGIN_H"):
        ensure_plugin(tmp_path / "cache")
    monkeypatch.delenv("QEMU_PLUGIN_H")
    monkeypatch.setattr(qemu_plugin.shutil, "which", lambda name: None)
    with pytest.raises(SoiError, match="apt-get not found.*QEMU_PLUGIN_H"):
        ensure_plugin(tmp_path / "cache")
    header = tmp_path / "qemu-plugin.h"
    header.write_text("/* stand-in */\n")
    monkeypatch.setenv("QEMU_PLUGIN_H", str(header))
    with pytest.raises(SoiError, match="apt-get install gcc"):
        ensure_plugin(tmp_path / "cache")


def test_cache_dir_from_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOI_MCU_CACHE", str(tmp_path))
    assert qemu_plugin.default_cache_dir() == tmp_path / "qemu-plugin"
