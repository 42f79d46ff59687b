/* soi_prelu_s8: TFLite's int8 PRELU (the project's own kernel; CMSIS-NN has none). */
#ifndef SOI_PRELU_H
#define SOI_PRELU_H

#include <stdint.h>

#include "arm_nn_types.h"

/* The quantization TFLite's PRELU derives (tensorflow/lite/kernels/prelu.cc): non-negative inputs
 * (x + input_offset >= 0) are rescaled by positive_multiplier/shift, negative ones multiplied by
 * (alpha + alpha_offset) first and rescaled by negative_multiplier/shift; then output_offset. */
typedef struct {
    int32_t input_offset;
    int32_t alpha_offset;
    int32_t output_offset;
    int32_t positive_multiplier;
    int32_t positive_shift;
    int32_t negative_multiplier;
    int32_t negative_shift;
} soi_prelu_params;

/* input, output: `count` pixels of `channels` int8 values, channel fastest (may be the same buffer).
 * alpha: `alpha_count` slopes, 1 (shared) or `channels`. */
arm_cmsis_nn_status soi_prelu_s8(const soi_prelu_params *params, const int8_t *input, const int8_t *alpha,
                                 int32_t alpha_count, int32_t count, int32_t channels, int8_t *output);

#endif
