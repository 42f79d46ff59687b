"""The one table of facts about the Cortex-M cores soi-mcu supports.

Everything that lists cores takes the list from here: board validation, the lowering's choice of the
project's faster kernels, the cycle plugin's timing ids (checked against qemu-plugin/soi_timing.c by
the tests), doctor's QEMU machine check, the core test matrices and the kernel bench.
A new core is a row here, a timing table in the plugin, and a board file for its reference machine.
"""

from __future__ import annotations

from dataclasses import dataclass

from soi_mcu.errors import SoiError


@dataclass(frozen=True)
class Core:
    name: str  # as -mcpu= and QEMU's -cpu spell it
    isa: str  # the architecture profile
    dsp: bool  # the DSP extension (SXTB16, SMLAD): CMSIS-NN's and the project's DSP paths
    mve: bool  # Helium (M-profile vector extension): the MVE paths
    fpu: str | None  # -mfpu=, None without one ("auto" where -mcpu implies it)
    plugin_timing: str  # the name of its timing table in qemu-plugin/soi_timing.c (core=...)
    reference_board: str  # the board file (and QEMU machine) the tests and benches run it on
    fast_kernels: tuple[str, ...] = ()  # the project's kernels that beat CMSIS-NN's there (bench/kernel_bench.py)

    @property
    def float_abi(self) -> str:
        return "soft" if self.fpu is None else "hard"


# soi_conv_s16w_s8 runs on any core with the DSP extension, but it groups loads into back-to-back runs
# for the M4 pipeline (an LDR after an LDR costs 1 cycle); on the dual-issue M7 that leaves loads
# unpaired and the CMSIS-style int8 kernel is faster at >= 32 channels (bench/kernel_bench.py: 1.24 vs
# 1.46 MAC/cycle at 64 channels), so the M7 keeps the CMSIS-NN call. soi_pw_s16w_s8 (1x1 convs) is faster on
# all three DSP cores (one-bin 64..256 channels: M4 0.62-0.71, M7 0.86-1.00 MAC/cycle against 0.20-0.38), and
# so is soi_dw_s16w_s8 (one-bin depthwise, 3 taps: M4 0.14-0.15, M7 0.18-0.20 against 0.04 / 0.08; on the M55,
# whose MVE path reaches 0.08-0.09, its DSP assembly runs at 0.14-0.15 too).
# soi_add_table_s8 (int8 ADD / SUB from two tables, plain Thumb-2) is faster on every core.
CORES: dict[str, Core] = {c.name: c for c in (
    Core("cortex-m3", "armv7-m", dsp=False, mve=False, fpu=None, plugin_timing="cortex-m3",
         reference_board="mps2-an385", fast_kernels=("soi_add_table_s8",)),
    Core("cortex-m4", "armv7e-m", dsp=True, mve=False, fpu="fpv4-sp-d16", plugin_timing="cortex-m4",
         reference_board="mps2-an386", fast_kernels=("soi_conv_s16w_s8", "soi_pw_s16w_s8", "soi_dw_s16w_s8",
                                                    "soi_add_table_s8")),
    Core("cortex-m7", "armv7e-m", dsp=True, mve=False, fpu="fpv5-d16", plugin_timing="cortex-m7",
         reference_board="mps2-an500", fast_kernels=("soi_pw_s16w_s8", "soi_dw_s16w_s8", "soi_add_table_s8")),
    Core("cortex-m33", "armv8-m.main", dsp=True, mve=False, fpu="fpv5-sp-d16", plugin_timing="cortex-m33",
         reference_board="mps2-an505", fast_kernels=("soi_conv_s16w_s8", "soi_pw_s16w_s8", "soi_dw_s16w_s8",
                                                    "soi_add_table_s8")),
    Core("cortex-m55", "armv8.1-m.main", dsp=True, mve=True, fpu="auto", plugin_timing="cortex-m55",
         reference_board="mps3-an547", fast_kernels=("soi_dw_s16w_s8", "soi_add_table_s8")),
)}
NAMES: tuple[str, ...] = tuple(CORES)


def core(name: str) -> Core:
    try:
        return CORES[name]
    except KeyError:
        raise SoiError(f"core '{name}' is not supported; use one of {', '.join(NAMES)}") from None


def kernel_is_fast(kernel: str, core_name: str | None) -> bool:
    """The project's `kernel` is the faster one on that core (None: any core, so no)."""
    return core_name is not None and kernel in CORES[core_name].fast_kernels


def reference_boards() -> dict[str, str]:
    """core name -> the board its tests and benches run on."""
    return {c.name: c.reference_board for c in CORES.values()}
