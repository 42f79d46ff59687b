/* soi_layernorm_s8: a LayerNorm as the int8 op sequence TFLite's converter makes of it (the project's
 * own kernel; CMSIS-NN has none): per group of values (a bin's channels, or a whole frame)
 *   m = MEAN(x), d = SUB(x, m), v = MEAN(MUL(d, d)), r = RSQRT(ADD(v, eps)), y = MUL(d, r),
 *   then optionally MUL(y, gamma) and ADD(., beta),
 * each op computed as LiteRT's reference kernel does (its own quantization, rounding and clamping). */
#ifndef SOI_LAYERNORM_H
#define SOI_LAYERNORM_H

#include <stdint.h>

#include "arm_nn_types.h"

/* MEAN of a group: (sum + input_offset * count) requantized (1/count folded into multiplier/shift). */
typedef struct {
    int32_t input_offset;
    int32_t multiplier;
    int32_t shift;
    int32_t output_offset;
} soi_ln_mean;

/* ADD / SUB: both inputs shifted left by 20 and rescaled to a common scale, then the output rescale. */
typedef struct {
    int32_t input1_offset;
    int32_t input2_offset;
    int32_t input1_multiplier;
    int32_t input1_shift;
    int32_t input2_multiplier;
    int32_t input2_shift;
    int32_t output_multiplier;
    int32_t output_shift;
    int32_t output_offset;
} soi_ln_add;

/* MUL: (x1 + input1_offset) * (x2 + input2_offset), rescaled. */
typedef struct {
    int32_t input1_offset;
    int32_t input2_offset;
    int32_t multiplier;
    int32_t shift;
    int32_t output_offset;
} soi_ln_mul;

typedef struct {
    soi_ln_mean mean;
    soi_ln_add sub;
    soi_ln_mul square;
    soi_ln_mean variance;
    soi_ln_mul normalize;
    soi_ln_mul gamma; /* used when gamma != NULL */
    soi_ln_add beta;  /* used when beta != NULL */
} soi_layernorm_params;

/* What depends on one int8 value only, computed at generation time (soi_mcu/ops/layernorm.py:
 * layernorm_tables) so that each value takes four requantizations instead of eight; entry v + 128. */
typedef struct {
    const int8_t *rsqrt;       /* [256] RSQRT(ADD(v, eps)) of a variance v */
    const int8_t *square;      /* [256] MUL(d, d) of a difference d */
    const int32_t *sub_input1; /* [256] SUB's first input x shifted left by 20 and rescaled */
    const int32_t *beta_input1; /* [256] the beta ADD's first input rescaled (NULL without beta) */
    const int32_t *beta_input2; /* beta_count values: beta rescaled, 1 (shared) or group_size (NULL: no beta) */
    int32_t beta_count;
} soi_layernorm_tables;

/* input, output: `groups` x `group_size` int8 values (may be the same buffer); statistics per group.
 * gamma: NULL, or `gamma_count` values: 1 (shared) or group_size. */
arm_cmsis_nn_status soi_layernorm_s8(const soi_layernorm_params *params, const soi_layernorm_tables *tables,
                                     const int8_t *input, const int8_t *gamma, int32_t gamma_count,
                                     int32_t groups, int32_t group_size, int8_t *output);

#endif
