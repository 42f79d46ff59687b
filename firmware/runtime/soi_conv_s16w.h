/* soi_conv_s16w_s8: a project-specific int8 convolution for the DSP cores that the code generator calls
 * on Cortex-M4 and M33 instead of arm_convolve_wrapper_s8 where it applies (it runs on M7 too, where the
 * dual issue favours the CMSIS-style kernel, see soi_mcu/kernel_layout.py): filter width 3, stride and
 * dilation 1 in width, no groups, input channels a multiple of 4 (any filter height, stride and dilation
 * in height). Results are bit-exact with arm_convolve_s8 (TFLite int8 convolution).
 *
 * It is faster than a CMSIS-NN-style kernel because its filter is laid out at generation time
 * (soi_mcu/kernel_layout.py) as sign-extended int16 pairs in the order the inner loop reads them, so the
 * taps need no SXTB16 and stream through the same load runs as the input:
 *   for each output channel m, filter row ky, group g of 4 input channels, lane l in {0, 1},
 *   tap kx in {0, 1, 2}: one word = (w[m][ky][kx][4g + l], w[m][ky][kx][4g + l + 2]), low half first.
 * Same types as CMSIS-NN (arm_nn_types.h of whichever kernel library is linked). No heap; the scratch
 * buffer is ctx->buf of soi_conv_s16w_s8_get_buffer_size() bytes. */
#ifndef SOI_CONV_S16W_H
#define SOI_CONV_S16W_H

#include <stdint.h>

#include "arm_nn_types.h"

/* Scratch bytes for one call (0: the shape is not supported). */
int32_t soi_conv_s16w_s8_get_buffer_size(const cmsis_nn_conv_params *conv_params,
                                         const cmsis_nn_dims *input_dims,
                                         const cmsis_nn_dims *filter_dims);

/* filter: cout x kh x (cin / 2) x 3 int16 pairs in the layout above, 4-byte aligned. bias: cout values (not
 * NULL; pass zeros for a conv without bias). Returns ARM_CMSIS_NN_ARG_ERROR for an unsupported shape or a missing / small buffer. */
arm_cmsis_nn_status soi_conv_s16w_s8(const cmsis_nn_context *ctx,
                                     const cmsis_nn_conv_params *conv_params,
                                     const cmsis_nn_per_channel_quant_params *quant_params,
                                     const cmsis_nn_dims *input_dims,
                                     const int8_t *input,
                                     const cmsis_nn_dims *filter_dims,
                                     const int16_t *filter,
                                     const int32_t *bias,
                                     const cmsis_nn_dims *output_dims,
                                     int8_t *output);

#endif
