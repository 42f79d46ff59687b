"""Which kernel runs a conv, and the filter layouts of the project-specific kernels.

The generated code calls the CMSIS-NN API (arm_convolve_wrapper_s8 and friends), which either the user's
CMSIS-NN or the project's compatible kernels implement. On the DSP cores a conv of the right shape runs
instead as soi_conv_s16w_s8 (firmware/kernels/soi/soi_conv_s16w*.c): the same int8 arithmetic, with all it
can take from the layer prepared here, at generation time, as one stream of words in the order its loops
read them: the filter as sign-extended int16 pairs, start values with the input offset folded in, and the
requantization constants. That costs twice the flash of the int8 filter and saves the per-tap sign
extension and the per-call setup, which is what lifts a 3x3 conv past 1 MAC/cycle on a Cortex-M4 (see
bench/README.md).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

# The cores where the s16w kernel is the faster one: soi_mcu/target/cores.py (fast_kernels).
# Below this many output columns most of the kernel's 3-column minimum block would be padding.
S16W_MIN_OUT_WIDTH = 3


# Fewer input channels than 4 (an input spectrogram's 1): the kernel folds the filter rows into the
# channels when kt * cin is at most this.
S16W_MAX_FOLDED = 16


def s16w_folds(cin: int) -> bool:
    """The filter rows are folded into the channels (virtual channel ky * cin + c of one row)."""
    return cin % 4 != 0


def s16w_lanes(kt: int, cin: int) -> int:
    """Lanes of one block of soi_conv_s16w_s8: 2 per 4 (virtual) channels of each filter row."""
    return -(-kt * cin // 4) * 2 if s16w_folds(cin) else kt * cin // 2


def s16w_applies(*, kt: int, kf: int, fstride: int, cin: int, out_width: int, depthwise: bool,
                 fully_connected: bool, transposed: bool, fdilation: int = 1, same_padding: bool = True,
                 groups: int = 1) -> bool:
    """The shapes soi_conv_s16w_s8 takes (any dilation in time and window). Its blocks read 3 adjacent
    bins with one padding bin on each side for every input channel, so a conv dilated in frequency,
    padded other than 'same' or grouped keeps the CMSIS-NN call (arm_convolve_wrapper_s8 takes them all)."""
    channels_ok = cin % 4 == 0 or kt * cin <= S16W_MAX_FOLDED
    return (kf in (1, 3) and fstride == 1 and channels_ok and 1 <= kt <= 16 and out_width >= S16W_MIN_OUT_WIDTH
            and not depthwise and not fully_connected and not transposed and fdilation == 1 and same_padding
            and groups == 1)


S16W_MAGIC = 0x57363153  # "S16W", the stream's first word (firmware/kernels/soi/soi_conv_s16w.h)
# The fast requantization is exact for right shifts 1..21 and accumulators below 2^30 in magnitude.
S16W_MAX_RIGHT_SHIFT = 21
S16W_ACC_LIMIT = 1 << 30


def s16w_filter(weights: np.ndarray) -> np.ndarray:
    """int8 [cout, kh, 3, cin] (TFLite / CMSIS-NN OHWI) -> int16 in soi_conv_s16w_s8's tap order, shape
    [cout, kh * cin / 2 * 3 words, 2]: for each output channel m, filter row ky, group g of 4 input
    channels, lane l in (0, 1), tap kx: the pair (w[m, ky, kx, 4g + l], w[m, ky, kx, 4g + l + 2])."""
    w = np.asarray(weights)
    if w.ndim != 4 or w.shape[2] != 3 or w.shape[3] % 4 != 0:
        raise ValueError(f"s16w layout needs a [cout, kh, 3, cin] filter with cin % 4 == 0, got {w.shape}")
    cout, kh, kw, cin = w.shape
    # [m, ky, kx, g, half, l] with channel = 4g + 2 * half + l
    v = w.astype(np.int16).reshape(cout, kh, kw, cin // 4, 2, 2)
    # -> [m, ky, g, l, kx, half]
    return np.ascontiguousarray(v.transpose(0, 1, 3, 5, 2, 4)).reshape(cout, -1, 2)


def s16w_stream(weights: np.ndarray, bias: np.ndarray, multipliers: Sequence[int], shifts: Sequence[int],
                input_offset: int, output_offset: int) -> np.ndarray | None:
    """The int32 words soi_conv_s16w_s8 reads (layout in firmware/kernels/soi/soi_conv_s16w.h): a header, then
    per output channel the accumulator's start value 2 * (bias + input_offset * sum of weights), the
    filter as doubled int16 pairs (s16w_filter), and the constants of the fast requantization.

    None when that requantization would not be exact for some channel (a left shift or none, a right
    shift above 21, a negative multiplier, or an accumulator that could reach 2^30: |bias| + taps * 255 *
    128); the caller then keeps the CMSIS-NN call."""
    w = np.asarray(weights)
    taps = w[0].size  # kh * kw * cin, zero taps added below left out
    if w.shape[2] == 1:  # a 1-wide filter: the middle tap of a 3-wide one (the kernel pads by 1 itself)
        w = np.pad(w, ((0, 0), (0, 0), (1, 1), (0, 0)))
    cout, kh, _, cin = w.shape
    lanes = s16w_lanes(kh, cin)
    b = np.asarray(bias, dtype=np.int64)
    right = -np.asarray(shifts, dtype=np.int64)
    mult = np.asarray(multipliers, dtype=np.int64)
    if (right < 1).any() or (right > S16W_MAX_RIGHT_SHIFT).any() or (mult < 0).any():
        return None
    if (np.abs(b) + taps * 255 * 128 >= S16W_ACC_LIMIT).any():
        return None
    start = 2 * (b + input_offset * w.reshape(cout, -1).astype(np.int64).sum(axis=1))
    add = (1 << (right - 1)) + output_offset * (1 << right)
    # int16 pairs as little-endian words: low half first
    rows = w
    if s16w_folds(cin):  # one row of virtual channels v = ky * cin + c, zero taps up to 2 * lanes
        rows = np.zeros((cout, 1, 3, 2 * lanes), dtype=w.dtype)
        rows[..., :kh * cin] = w.transpose(0, 2, 1, 3).reshape(cout, 3, kh * cin)[:, None]
    pairs = (2 * s16w_filter(rows).astype(np.int32)) & 0xFFFF
    words = (pairs[..., 0] | (pairs[..., 1] << 16)).astype(np.uint32).view(np.int32)
    body = np.concatenate([start[:, None], words, mult[:, None], add[:, None],
                           right[:, None]], axis=1)
    header = np.array([S16W_MAGIC, cout, lanes, input_offset, output_offset], dtype=np.int64)
    return np.concatenate([header, body.reshape(-1)]).astype(np.int32)


PW16_MAGIC = 0x36315750  # "PW16" (firmware/kernels/soi/soi_pw_s16w.h)


def pw16_applies(*, kt: int, kf: int, fstride: int, cin: int, depthwise: bool, transposed: bool,
                 same_padding: bool = True, groups: int = 1, window: int = 1) -> bool:
    """The shapes soi_pw_s16w_s8 takes: a 1x1 conv (or a fully connected head over one bin) without state,
    stride or groups, over input channels a multiple of 4 (its groups of 4 are one input word)."""
    return (kt == 1 and kf == 1 and fstride == 1 and cin % 4 == 0 and not depthwise and not transposed
            and same_padding and groups == 1 and window == 1)


def pw16_stream(weights: np.ndarray, bias: np.ndarray, multipliers: Sequence[int], shifts: Sequence[int],
                input_offset: int, output_offset: int) -> np.ndarray | None:
    """The int32 words soi_pw_s16w_s8 reads (layout in soi_pw_s16w.h): a header, then per block of 4 output
    channels (zero channels up to a multiple of 4) the 4 start values, the taps of each group of 4 input
    channels as doubled int16 pairs, (x0, x2) of the 4 channels then (x1, x3), and the 4 channels'
    requantization constants. None where the fast requantization would not be exact (s16w_stream's rule)."""
    w = np.asarray(weights)
    cout = w.shape[0]
    w = w.reshape(cout, -1).astype(np.int64)
    cin = w.shape[1]
    b = np.asarray(bias, dtype=np.int64)
    right = -np.asarray(shifts, dtype=np.int64)
    mult = np.asarray(multipliers, dtype=np.int64)
    if cin % 4 or (right < 1).any() or (right > S16W_MAX_RIGHT_SHIFT).any() or (mult < 0).any():
        return None
    if (np.abs(b) + cin * 255 * 128 >= S16W_ACC_LIMIT).any():
        return None
    blocks = -(-cout // 4)
    pad = blocks * 4 - cout
    start = np.pad(2 * (b + input_offset * w.sum(axis=1)), (0, pad))
    add = np.pad((1 << (right - 1)) + output_offset * (1 << right), (0, pad))
    rq = np.stack([np.pad(mult, (0, pad)), add, np.pad(right, (0, pad), constant_values=1)], axis=1)
    # [block, channel j, group g, input i] -> [block, g, half (i = 2 * pair + half), j, pair]
    v = np.pad(2 * w, ((0, pad), (0, 0))).reshape(blocks, 4, cin // 4, 2, 2)
    pairs = v.transpose(0, 2, 4, 1, 3) & 0xFFFF  # (x0, x2) of the 4 channels, then (x1, x3)
    taps = (pairs[..., 0] | (pairs[..., 1] << 16)).reshape(blocks, -1).astype(np.uint32).view(np.int32)
    body = np.concatenate([start.reshape(blocks, 4), taps.astype(np.int64), rq.reshape(blocks, 12)], axis=1)
    header = np.array([PW16_MAGIC, cout, cin, input_offset, output_offset], dtype=np.int64)
    return np.concatenate([header, body.reshape(-1)]).astype(np.int32)


DW16_MAGIC = 0x36315744  # "DW16" (firmware/kernels/soi/soi_dw_s16w.h)
DW16_MAX_TAPS = 17  # 2 x DW16_MAX_PAIRS + 1 (soi_dw_s16w_internal.h: the tap pairs its assembly unrolls)


def dw16_applies(*, kt: int, kf: int, cin: int, cout: int, in_width: int, out_width: int, fstride: int,
                 depthwise: bool, pad_w: int) -> bool:
    """The shapes soi_dw_s16w_s8 takes: a depthwise conv of 2..17 taps in time (any dilation) over one bin,
    channel multiplier 1, channels a multiple of 4 (its blocks of 4 read one input word per frame)."""
    return (depthwise and cout == cin and cin % 4 == 0 and 2 <= kt <= DW16_MAX_TAPS and kf == 1 and in_width == 1
            and out_width == 1 and fstride == 1 and pad_w == 0)


def _pairs(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Doubled int16 pairs as little-endian words: (2 lo) in the low half, (2 hi) in the high half."""
    return ((2 * lo) & 0xFFFF) | (((2 * hi) & 0xFFFF) << 16)


def dw16_stream(weights: np.ndarray, bias: np.ndarray, multipliers: Sequence[int], shifts: Sequence[int],
                input_offset: int, output_offset: int) -> np.ndarray | None:
    """The int32 words soi_dw_s16w_s8 reads (layout in soi_dw_s16w.h) for a depthwise filter [1, kh, 1, c]:
    a header, then per block of 4 channels their start values, tap pairs and requantization constants.
    None where the fast requantization would not be exact (s16w_stream's rule) or the shape is not one
    the kernel takes."""
    w = np.asarray(weights).astype(np.int64)
    if w.ndim != 4 or w.shape[0] != 1 or w.shape[2] != 1 or w.shape[3] % 4 or not 2 <= w.shape[1] <= DW16_MAX_TAPS:
        return None
    kh, c = w.shape[1], w.shape[3]
    taps = w[0, :, 0, :].reshape(kh, -1, 4)  # [tap, block, j]
    b = np.asarray(bias, dtype=np.int64)
    right = -np.asarray(shifts, dtype=np.int64)
    mult = np.asarray(multipliers, dtype=np.int64)
    if (right < 1).any() or (right > S16W_MAX_RIGHT_SHIFT).any() or (mult < 0).any():
        return None
    if (np.abs(b) + kh * 255 * 128 >= S16W_ACC_LIMIT).any():
        return None
    start = (2 * (b + input_offset * taps.sum(axis=0).reshape(-1))).reshape(-1, 4)
    pairs = [_pairs(taps[2 * k], taps[2 * k + 1]) for k in range(kh // 2)]  # each [block, j]
    single = [_pairs(taps[-1][:, 0], taps[-1][:, 2]), _pairs(taps[-1][:, 1], taps[-1][:, 3])] if kh % 2 else []
    m = mult.reshape(-1, 4)
    k = ((1 << (right - 1)) + output_offset * (1 << right)).reshape(-1, 4)
    r = right.reshape(-1, 4)
    packed = r[:, 0] | (r[:, 1] << 8) | (r[:, 2] << 16) | (r[:, 3] << 24)
    rq = [m[:, 0], k[:, 0], m[:, 1], k[:, 1], packed, m[:, 2], k[:, 2], m[:, 3], k[:, 3]]
    if kh == 3:  # start values interleaved with the pair: what 9 data registers hold (soi_dw16_blocks)
        p = pairs[0]
        cols = [start[:, 0], start[:, 1], p[:, 0], p[:, 1], start[:, 2], start[:, 3], p[:, 2], p[:, 3]]
    else:
        cols = [start[:, j] for j in range(4)] + [p[:, j] for p in pairs for j in range(4)]
    body = np.stack(cols + single + rq, axis=1).astype(np.int64) & 0xFFFFFFFF
    header = np.array([DW16_MAGIC, c, kh, input_offset & 0xFFFFFFFF, output_offset & 0xFFFFFFFF], dtype=np.int64)
    return np.concatenate([header, body.reshape(-1)]).astype(np.uint32).view(np.int32)
