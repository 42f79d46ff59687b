/* soi_dw_s16w_s8: a project-specific int8 depthwise convolution over one frequency bin for the DSP cores,
 * which the code generator calls on Cortex-M4, M7 and M33 instead of arm_depthwise_conv_wrapper_s8 for the
 * depthwise convs of Conv1d TCNs and DS-TCN keyword spotters: kh = 2..17 taps in time (any dilation), filter
 * and input one bin wide, channel multiplier 1, channels a multiple of 4, one output frame from the
 * streaming window of in_h = (kh - 1) * dilation + 1 frames. Bit-exact with arm_depthwise_conv_s8 (TFLite
 * int8 DEPTHWISE_CONV_2D).
 *
 * Such a conv has kh MACs per channel against one per-channel requantization, so the generic kernel spends
 * most of its time outside the MACs (per-channel constants, tap set-up, TFLite's rounding). Here all that
 * depends only on the layer is prepared at generation time (soi_mcu/ops/s16w_layout.py: dw16_stream) as
 * one stream of 32-bit words that the kernel reads front to back, SOI_DW16_BLOCK_WORDS(kh) per block of 4
 * channels c0..c3 (c = 4 b + j):
 *   header: SOI_DW16_MAGIC, channels, kh, input_offset, output_offset;
 *   then per block, for kh = 3 (19 words):
 *     S0, S1, P0, P1, S2, S3, P2, P3, Q02, Q13, M0, C0, M1, C1, R, M2, C2, M3, C3
 *   and for any other kh:
 *     S0..S3, then for each tap pair k = 0 .. kh/2 - 1 its P0..P3, then (odd kh) Q02, Q13, then
 *     M0, C0, M1, C1, R, M2, C2, M3, C3
 *   where Sj = 2 * (bias + input_offset * sum of the channel's taps) of channel cj (the accumulator's start,
 *   the input offset folded in, doubled for SMMLAR as in soi_pw_s16w_s8), Pj = the int16 pair (2 w[2k],
 *   2 w[2k + 1]) of cj (the taps of frames 2k and 2k + 1 times the dilation, which SMLAD multiplies with the
 *   pair of input bytes that PKHBT / PKHTB and SXTB16 make of the two frames' words), Q02 = (2 w[kh-1] of
 *   c0, of c2) and Q13 the same for c1, c3 (the last tap of an odd kh, one SMLABB / SMLATT per channel), Mj
 *   the multiplier, Cj = 2^(r-1) + output_offset * 2^r and R the 4 right shifts r (1..21) as bytes, c0 in
 *   the low byte (ASR by a register reads its low byte). The requantization is soi_pw_s16w_s8's:
 *   SMMLAR(2 acc, M, C - [acc < 0]) >> r, saturated to int8.
 * dw16_stream only builds a stream where that is exact; the generator keeps the CMSIS-NN call otherwise.
 * Same types as CMSIS-NN; no scratch. */
#ifndef SOI_DW_S16W_H
#define SOI_DW_S16W_H

#include <stdint.h>

#include "arm_nn_types.h"

#define SOI_DW16_MAGIC 0x36315744 /* "DW16" */
#define SOI_DW16_HEADER_WORDS 5
/* Words of one block of 4 channels: start values, kh / 2 tap pairs, the last tap of an odd kh, requantization. */
#define SOI_DW16_BLOCK_WORDS(kh) (4 + 4 * ((kh) / 2) + 2 * ((kh) % 2) + 9)

/* input_dims: n, h = (kh - 1) * dilation.h + 1 frames, w = 1, c channels; filter_dims: h = kh, w = 1, c;
 * output_dims: 1 x 1 x 1 x c. dw_params: offsets (which must be the stream's), ch_mult 1, no padding, the
 * dilation in time and the activation range. Returns ARM_CMSIS_NN_ARG_ERROR for another shape or a stream
 * that does not match (nothing written then). */
arm_cmsis_nn_status soi_dw_s16w_s8(const cmsis_nn_dw_conv_params *dw_params,
                                   const cmsis_nn_dims *input_dims,
                                   const int8_t *input,
                                   const cmsis_nn_dims *filter_dims,
                                   const int32_t *stream,
                                   const cmsis_nn_dims *output_dims,
                                   int8_t *output);

#endif
