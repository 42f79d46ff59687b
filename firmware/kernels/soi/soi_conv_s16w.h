/* soi_conv_s16w_s8: a project-specific int8 convolution for the DSP cores that the code generator calls
 * on Cortex-M4 and M33 instead of arm_convolve_wrapper_s8 where it applies (it runs on M7 too, where the
 * dual issue favours the CMSIS-style kernel, see soi_mcu/cores.py): filter width 3 (or 1 without
 * padding, run as 3 with zero outer taps: 3x the MACs, still faster than the im2col path), stride and
 * dilation 1 in width, no groups, input channels a multiple of 4, or fewer than 4 with kh * cin <= 16
 * (then the filter rows are folded into the channels, below); any filter height (<= 16), stride and
 * dilation in height. Results are bit-exact with arm_convolve_s8 (TFLite int8 convolution).
 *
 * It is faster than a CMSIS-NN-style kernel because everything that depends only on the layer is prepared
 * at generation time (soi_mcu/ops/s16w_layout.py: s16w_stream) into one stream of 32-bit words, read front
 * to back by the inner loops:
 *   header: SOI_S16W_MAGIC, cout, lanes (kh * cin / 2; folded: ceil(kh * cin / 4) * 2), input_offset,
 *           output_offset;
 *   then for each output channel m:
 *     2 * (bias[m] + input_offset * sum of the channel's weights): the accumulator's start (the input
 *       offset folded in, so the input needs no offset added);
 *     for each filter row ky, group g of 4 input channels, lane l in {0, 1}, tap kx in {0, 1, 2}:
 *       the int16 pair (2 w[m][ky][kx][4g + l], 2 w[m][ky][kx][4g + l + 2]), low half first
 *       (doubled, so that the accumulator is ready for SMMULR with no shift); with fewer than 4 input
 *       channels the rows are folded: one row (ky = 0) of virtual channels v = ky * cin + c, padded with
 *       zero taps to a multiple of 4;
 *     the requantization constants: multiplier, 2^(r - 1) + output_offset * 2^r, r (right shift 1..21).
 * s16w_stream only builds a stream for layers whose requantization this fast form computes exactly
 * (see there); the generator keeps arm_convolve_wrapper_s8 for the others.
 * Same types as CMSIS-NN (arm_nn_types.h of whichever kernel library is linked). No heap; the scratch
 * buffer is ctx->buf of soi_conv_s16w_s8_get_buffer_size() bytes. */
#ifndef SOI_CONV_S16W_H
#define SOI_CONV_S16W_H

#include <stdint.h>

#include "arm_nn_types.h"

#define SOI_S16W_MAGIC 0x57363153 /* "S16W" */
#define SOI_S16W_HEADER_WORDS 5

/* Scratch bytes for one call (0: the shape is not supported). */
int32_t soi_conv_s16w_s8_get_buffer_size(const cmsis_nn_conv_params *conv_params,
                                         const cmsis_nn_dims *input_dims,
                                         const cmsis_nn_dims *filter_dims);

/* stream: the layer's words as above, 4-byte aligned. conv_params: offsets (which must be the ones in the
 * stream), padding, strides, dilation and the activation range. Returns ARM_CMSIS_NN_ARG_ERROR for an
 * unsupported shape, a missing or small buffer, or a stream that does not match the dims and offsets. */
arm_cmsis_nn_status soi_conv_s16w_s8(const cmsis_nn_context *ctx,
                                     const cmsis_nn_conv_params *conv_params,
                                     const cmsis_nn_dims *input_dims,
                                     const int8_t *input,
                                     const cmsis_nn_dims *filter_dims,
                                     const int32_t *stream,
                                     const cmsis_nn_dims *output_dims,
                                     int8_t *output);

#endif
