"""Tests of soi-mcu's own CMSIS-NN subset (firmware/kernels) against an exact TFLite int8 reference.

1. the reference itself on hand-computed cases;
2. the kernels built for the host (pure C path and the DSP path with C models of the intrinsics),
   bit-exact on >= 100 random cases per kernel family;
3. (slow) the kernels cross-built for Cortex-M4 (DSP), M55 (MVE) and M3 (pure C), run in QEMU; M4 and M55
   also with -DSOI_NN_NO_ASM (C intrinsic loops instead of the inline-asm ones).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.kernels import build, cases
from tests.kernels import reference as ref

Q30 = 1 << 30


@pytest.mark.parametrize(
    ("x", "mult", "shift", "expected"),
    [
        (100, Q30, 0, 50),  # exact half of the multiplier
        (101, Q30, 0, 51),  # 50.5 rounds up
        (-101, Q30, 0, -50),  # -50.5 rounds toward +inf in the doubling high multiply
        (6, Q30, -1, 2),  # 3 / 2 = 1.5 rounds away from zero
        (-6, Q30, -1, -2),
        (3, Q30, 1, 3),  # left shift first: 6 * 0.5
        (7, (1 << 31) - 1, -31, 0),
    ],
)
def test_requantize_hand_cases(x: int, mult: int, shift: int, expected: int) -> None:
    assert ref.multiply_by_quantized_multiplier(x, mult, shift) == expected


def _geom(**kw: int) -> dict:
    base = {
        "stride_h": 1,
        "stride_w": 1,
        "pad_h": 0,
        "pad_w": 0,
        "dil_h": 1,
        "dil_w": 1,
        "input_offset": 0,
        "output_offset": 0,
        "act_min": -128,
        "act_max": 127,
        "out_h": 1,
        "out_w": 1,
    }
    return {**base, **kw}


def test_reference_conv_hand_cases() -> None:
    one = np.array([Q30], dtype=np.int64)
    # (2*3 + 3*4) + bias 2 = 20 -> * 0.5 = 10 -> + 5.
    x = np.array([1, 2], dtype=np.int8).reshape(1, 1, 2, 1)
    w = np.array([3, 4], dtype=np.int8).reshape(1, 1, 2, 1)
    out = ref.conv_s8(x, w, np.array([2]), one, np.array([0]), _geom(input_offset=1, output_offset=5))
    assert out.tolist() == [[[[15]]]]
    # 3x3 all-ones filter, pad 1 on a 1x1 input: only the centre tap counts, (5 - 2) * 2 * 0.5 = 3.
    x = np.array([5], dtype=np.int8).reshape(1, 1, 1, 1)
    w = np.ones((1, 3, 3, 1), dtype=np.int8)
    out = ref.conv_s8(x, w, None, one, np.array([1]), _geom(input_offset=-2, pad_h=1, pad_w=1))
    assert out.tolist() == [[[[3]]]]
    # Grouped: 2 groups of 1 channel, out channel g sees only input channel g.
    x = np.array([10, 20], dtype=np.int8).reshape(1, 1, 1, 2)
    w = np.array([1, 1], dtype=np.int8).reshape(2, 1, 1, 1)
    out = ref.conv_s8(x, w, None, np.array([Q30, Q30]), np.array([1, 1]), _geom())
    assert out.tolist() == [[[[10, 20]]]]
    # Clamp.
    out = ref.conv_s8(x, w, None, np.array([Q30, Q30]), np.array([1, 1]), _geom(act_min=-5, act_max=12))
    assert out.tolist() == [[[[10, 12]]]]


def test_reference_dw_fc_add_hand_cases() -> None:
    one = np.array([Q30, Q30], dtype=np.int64)
    # ch_mult 2: both outputs read input channel 0: 4*3 and 4*-1, * 2 * 0.5.
    x = np.array([4], dtype=np.int8).reshape(1, 1, 1, 1)
    w = np.array([3, -1], dtype=np.int8).reshape(1, 1, 1, 2)
    out = ref.depthwise_conv_s8(x, w, None, one, np.array([1, 1]), {**_geom(), "ch_mult": 2})
    assert out.tolist() == [[[[12, -4]]]]
    # FC: (1+1)*(2-1) + (3+1)*(4-1) + 10 = 24 -> 12 - 3.
    p = {
        "input_offset": 1,
        "filter_offset": -1,
        "output_offset": -3,
        "act_min": -128,
        "act_max": 127,
        "mult": Q30,
        "shift": 0,
    }
    out = ref.fully_connected_s8(np.array([[1, 3]], np.int8), np.array([[2, 4]], np.int8), np.array([10]), p)
    assert out.tolist() == [[9]]
    # Add: 10 + 20 with unit scales (2^20 pre-shift undone by the output shift).
    p = {
        "in1_offset": 0,
        "in1_mult": Q30,
        "in1_shift": 0,
        "in2_offset": 0,
        "in2_mult": Q30,
        "in2_shift": 0,
        "left_shift": 20,
        "out_offset": 1,
        "out_mult": Q30,
        "out_shift": -19,
        "act_min": -128,
        "act_max": 127,
    }
    out = ref.elementwise_add_s8(np.array([10], np.int8), np.array([20], np.int8), p)
    assert out.tolist() == [16]


@pytest.fixture(scope="module")
def host_cases(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[cases.Case], Path]:
    work = tmp_path_factory.mktemp("kernels_host")
    all_cases = cases.make_cases(seed=1234, per_family=120)
    cases.write_sources(all_cases, work)
    return all_cases, work


@pytest.mark.parametrize("variant", ["pure_c", "dsp_emulated"])
def test_host_kernels_bit_exact(host_cases: tuple[list[cases.Case], Path], variant: str) -> None:
    all_cases, work = host_cases
    defines = ("-DSOI_NN_EMULATE_DSP",) if variant == "dsp_emulated" else ()
    out_dir = work / variant
    out_dir.mkdir(exist_ok=True)
    (out_dir / "cases.h").write_bytes((work / "cases.h").read_bytes())
    (out_dir / "cases.c").write_bytes((work / "cases.c").read_bytes())
    exe = build.build_host(out_dir, defines)
    failures = cases.check_output(all_cases, build.run_host(exe))
    assert not failures, "\n".join(failures[:20])


@pytest.mark.slow
@pytest.mark.parametrize("target_name", ["cortex-m4", "cortex-m4-noasm", "cortex-m55", "cortex-m55-noasm", "cortex-m3"])
def test_cortex_m_kernels_bit_exact(tmp_path: Path, target_name: str) -> None:
    missing = build.cross_tools_missing()
    if missing:
        pytest.skip(f"Cortex-M kernel test needs the Arm cross toolchain and QEMU: {missing}")
    target = build.TARGETS[target_name]
    all_cases = cases.make_cases(seed=99, per_family=30)
    cases.write_sources(all_cases, tmp_path)
    elf = build.build_arm(tmp_path, target)
    failures = cases.check_output(all_cases, build.run_qemu(elf, target))
    assert not failures, "\n".join(failures[:20])
