/* soi_pw_s16w_s8: a project-specific int8 pointwise (1x1) convolution for the DSP cores, which the code
 * generator calls on Cortex-M4, M7 and M33 instead of arm_convolve_wrapper_s8 (or one arm_fully_connected_s8
 * call per run of channels sharing a quantization) for a 1x1 conv with stride 1 and no padding over any
 * number of pixels: the pointwise convs of Conv1d TCNs and DS-TCN keyword spotters, one frequency bin, and
 * the 1x1 convs of a U-Net. One call for all output channels, per-channel requantization, bit-exact with
 * arm_convolve_s8 (TFLite int8 CONV_2D).
 *
 * A 1x1 conv of one pixel is a matrix times a vector: every weight is read once, so the weight loads bound
 * it. The weights are therefore laid out at generation time (soi_mcu/ops/s16w_layout.py: pw16_stream) as
 * sign-extended int16 pairs, doubled (2 bytes of flash per weight, the same as soi_conv_s16w_s8's stream
 * without its 3-tap widening), in the order one block of 4 output channels reads them, next to what the
 * block needs before and after: a 32-bit word
 *   header: SOI_PW16_MAGIC, cout, cin, input_offset, output_offset;
 *   then per block of 4 output channels m0..m3 (cout padded to a multiple of 4 with zero channels):
 *     4 start values 2 * (bias[m] + input_offset * sum of w[m]) (the input offset folded in);
 *     per group g of 4 input channels: (2w[mj][4g], 2w[mj][4g+2]) for j = 0..3, then
 *       (2w[mj][4g+1], 2w[mj][4g+3]) for j = 0..3 (the halves SXTB16 makes of one input word);
 *     per channel: multiplier, 2^(r-1) + output_offset * 2^r, r (right shift 1..21), as soi_conv_s16w_s8.
 * Input channels must be a multiple of 4. Same types as CMSIS-NN; no scratch. */
#ifndef SOI_PW_S16W_H
#define SOI_PW_S16W_H

#include <stdint.h>

#include "arm_nn_types.h"

#define SOI_PW16_MAGIC 0x36315750 /* "PW16" */
#define SOI_PW16_HEADER_WORDS 5

/* input_dims: n, h, w pixels of c channels; output_dims: the same pixels, c = cout; filter_dims: n = cout,
 * h = w = 1, c = cin. conv_params: offsets (which must be the stream's), no padding, stride 1 and the
 * activation range. Returns ARM_CMSIS_NN_ARG_ERROR for another shape or a stream that does not match. */
arm_cmsis_nn_status soi_pw_s16w_s8(const cmsis_nn_conv_params *conv_params,
                                   const cmsis_nn_dims *input_dims,
                                   const int8_t *input,
                                   const cmsis_nn_dims *filter_dims,
                                   const int32_t *stream,
                                   const cmsis_nn_dims *output_dims,
                                   int8_t *output);

#endif
