"""Which kernel runs a conv, and the filter layouts of the project-specific kernels.

The generated code calls the CMSIS-NN API (arm_convolve_wrapper_s8 and friends), which either the user's
CMSIS-NN or the project's compatible kernels implement. On the DSP cores a conv of the right shape runs
instead as soi_conv_s16w_s8 (firmware/runtime/soi_conv_s16w.c): the same int8 arithmetic, with its filter
laid out here, at generation time, as sign-extended int16 pairs in the order its inner loop reads them.
That costs twice the flash of the int8 filter and saves the per-tap sign extension, which is what lifts a
3x3 conv past 1 MAC/cycle on a Cortex-M4 (see bench/README.md).
"""

from __future__ import annotations

import numpy as np

# Cores where the s16w kernel is the faster one. Its assembly runs on any core with the DSP extension,
# but it groups loads into back-to-back runs for the M4 pipeline (an LDR after an LDR costs 1 cycle);
# on the dual-issue M7 that leaves loads unpaired and the CMSIS-style int8 kernel is faster at >= 32
# channels (bench/kernel_bench.py: 1.24 vs 1.46 MAC/cycle at 64 channels), so M7 keeps the CMSIS-NN call.
S16W_CORES = ("cortex-m4", "cortex-m33")
# Below this many output columns most of the kernel's 3-column minimum block would be padding.
S16W_MIN_OUT_WIDTH = 3


def s16w_applies(*, kf: int, fstride: int, cin: int, out_width: int, depthwise: bool, fully_connected: bool,
                 transposed: bool) -> bool:
    """The shapes soi_conv_s16w_s8 takes (any kt, dilation in time and window)."""
    return (kf == 3 and fstride == 1 and cin % 4 == 0 and out_width >= S16W_MIN_OUT_WIDTH and not depthwise
            and not fully_connected and not transposed)


def s16w_filter(weights: np.ndarray) -> np.ndarray:
    """int8 [cout, kh, 3, cin] (TFLite / CMSIS-NN OHWI) -> int16 words in soi_conv_s16w_s8's order:
    for each output channel m, filter row ky, group g of 4 input channels, lane l in (0, 1), tap kx:
    the pair (w[m, ky, kx, 4g + l], w[m, ky, kx, 4g + l + 2]), low half first (flat int16, 2 per word)."""
    w = np.asarray(weights)
    if w.ndim != 4 or w.shape[2] != 3 or w.shape[3] % 4 != 0:
        raise ValueError(f"s16w layout needs a [cout, kh, 3, cin] filter with cin % 4 == 0, got {w.shape}")
    cout, kh, kw, cin = w.shape
    # [m, ky, kx, g, half, l] with channel = 4g + 2 * half + l
    v = w.astype(np.int16).reshape(cout, kh, kw, cin // 4, 2, 2)
    # -> [m, ky, g, l, kx, half]
    return np.ascontiguousarray(v.transpose(0, 1, 3, 5, 2, 4)).reshape(-1)
