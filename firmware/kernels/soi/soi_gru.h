/* soi_gru_step_s8: one time step of a GRU (PyTorch's nn.GRU) as the int8 ops TFLite's converter makes
 * of the project's unrolled GRU cell (soi_mcu/ops/gru.py), each computed as LiteRT's reference kernel
 * does, so the firmware equals LiteRT bit for bit on every frame:
 *   gx_g = FULLY_CONNECTED(x, W_ig, b_g), gh_g = FULLY_CONNECTED(h, W_hg, b_hg)   (g = r, z, n)
 *   r = LOGISTIC(ADD(gx_r, gh_r)), z = LOGISTIC(ADD(gx_z, gh_z))
 *   n = TANH(ADD(gx_n, MUL(r, gh_n)))
 *   h = ADD(n, MUL(z, SUB(h, n)))
 * The firmware streams one frame a step; the hidden state persists between calls. */
#ifndef SOI_GRU_H
#define SOI_GRU_H

#include <stdint.h>

#include "arm_nn_types.h"

/* ADD (and SUB, input2_multiplier negated as TFLite's sub.cc does): both inputs shifted left by 20 and
 * rescaled to a common scale, summed, rescaled to the output (arm_elementwise_add_s8's parameters). */
typedef struct {
    int32_t input1_offset;
    int32_t input1_multiplier;
    int32_t input1_shift;
    int32_t input2_offset;
    int32_t input2_multiplier;
    int32_t input2_shift;
    int32_t output_offset;
    int32_t output_multiplier;
    int32_t output_shift;
} soi_gru_add;

/* MUL: (x1 + input1_offset) * (x2 + input2_offset), rescaled (arm_elementwise_mul_s8's parameters). */
typedef struct {
    int32_t input1_offset;
    int32_t input2_offset;
    int32_t output_offset;
    int32_t output_multiplier;
    int32_t output_shift;
} soi_gru_mul;

typedef struct {
    int32_t input_size;
    int32_t hidden_size;
    int32_t product_offset[6]; /* output zero points of gx_r, gx_z, gx_n, gh_r, gh_z, gh_n */
    soi_gru_add add_r;         /* gx_r + gh_r */
    soi_gru_add add_z;         /* gx_z + gh_z */
    soi_gru_add add_n;         /* gx_n + r * gh_n */
    soi_gru_add sub;           /* h - n */
    soi_gru_add add_h;         /* n + z * (h - n): the new hidden state */
    soi_gru_mul mul_r;         /* r * gh_n */
    soi_gru_mul mul_z;         /* z * (h - n) */
} soi_gru_params;

/* input: `batches` vectors of input_size int8 (one per frequency bin, channels fastest);
 * input_weights: 3 matrices hidden_size x input_size (gates r, z, n), recurrent_weights: 3 hidden_size x
 * hidden_size; bias, multipliers, shifts: 6 x hidden_size, per output of the six products in the order
 * of product_offset (the biases hold the input zero point times the weights' row sums);
 * tables: 3 x 256 int8, LOGISTIC of add_r's output, LOGISTIC of add_z's, TANH of add_n's (entry v + 128);
 * hidden: batches x hidden_size int8, the state, updated in place: after the call it is the step's output
 * frame; scratch: 6 x hidden_size int8. */
arm_cmsis_nn_status soi_gru_step_s8(const soi_gru_params *params, const int8_t *input, int32_t batches,
                                    const int8_t *input_weights, const int8_t *recurrent_weights,
                                    const int32_t *bias, const int32_t *multipliers, const int32_t *shifts,
                                    const int8_t *tables, int8_t *hidden, int8_t *scratch);

#endif
