/* A LayerNorm as TFLite's int8 op sequence, bit-exact with LiteRT's reference kernels
 * (reference_ops::QuantizedMeanOrSum, reference_integer_ops Add/Sub/Mul; RSQRT as a table). */
#include "soi_layernorm.h"

#include <stddef.h>

#include "soi_requantize.h"

static int8_t soi_ln_clamp(int32_t v)
{
    return (int8_t)(v < -128 ? -128 : (v > 127 ? 127 : v));
}

static int8_t soi_ln_mean_of(const soi_ln_mean *p, const int8_t *x, int32_t count)
{
    int32_t sum = 0;
    for (int32_t i = 0; i < count; i++) {
        sum += x[i];
    }
    /* QuantizedMeanOrSum subtracts the zero point once for all values, after the sum */
    return soi_ln_clamp(soi_requantize(sum + p->input_offset * count, p->multiplier, p->shift) + p->output_offset);
}

/* The second input of an ADD / SUB, shifted and rescaled (once per group for the mean). */
static int32_t soi_ln_add_input2(const soi_ln_add *p, int32_t b)
{
    return soi_requantize((b + p->input2_offset) * (1 << 20), p->input2_multiplier, p->input2_shift);
}

/* An ADD's output from its two rescaled inputs. */
static int8_t soi_ln_add_out(const soi_ln_add *p, int32_t scaled_a, int32_t scaled_b)
{
    return soi_ln_clamp(soi_requantize(scaled_a + scaled_b, p->output_multiplier, p->output_shift) + p->output_offset);
}

static int8_t soi_ln_mul_one(const soi_ln_mul *p, int32_t a, int32_t b)
{
    const int32_t product = (a + p->input1_offset) * (b + p->input2_offset);
    return soi_ln_clamp(soi_requantize(product, p->multiplier, p->shift) + p->output_offset);
}

arm_cmsis_nn_status soi_layernorm_s8(const soi_layernorm_params *params, const soi_layernorm_tables *tables,
                                     const int8_t *input, const int8_t *gamma, int32_t gamma_count,
                                     int32_t groups, int32_t group_size, int8_t *output)
{
    const int32_t *beta = tables->beta_input2;
    const int32_t beta_count = tables->beta_count;
    if (group_size < 1 || (gamma != NULL && gamma_count != 1 && gamma_count != group_size) ||
        (beta != NULL && ((beta_count != 1 && beta_count != group_size) || tables->beta_input1 == NULL))) {
        return ARM_CMSIS_NN_ARG_ERROR;
    }
    for (int32_t g = 0; g < groups; g++) {
        const int8_t *x = input + g * group_size;
        int8_t *y = output + g * group_size;
        const int8_t m = soi_ln_mean_of(&params->mean, x, group_size);
        /* TFLite's SUB is its ADD with input2's multiplier negated (sub.cc, op_sign): rescaling m with -M
         * rounds an exact half the other way than negating m rescaled with M would */
        soi_ln_add negated = params->sub;
        negated.input2_multiplier = -negated.input2_multiplier;
        const int32_t minus_m = soi_ln_add_input2(&negated, m);
        /* d = x - m goes to the output first (x is not read again), then the squares' mean */
        int32_t sum = 0;
        for (int32_t i = 0; i < group_size; i++) {
            const int8_t d = soi_ln_add_out(&params->sub, tables->sub_input1[x[i] + 128], minus_m);
            y[i] = d;
            sum += tables->square[d + 128];
        }
        const soi_ln_mean *vp = &params->variance;
        const int8_t v = soi_ln_clamp(soi_requantize(sum + vp->input_offset * group_size, vp->multiplier, vp->shift) +
                                      vp->output_offset);
        const int8_t r = tables->rsqrt[v + 128];
        for (int32_t i = 0; i < group_size; i++) {
            int8_t out = soi_ln_mul_one(&params->normalize, y[i], r);
            if (gamma != NULL) {
                out = soi_ln_mul_one(&params->gamma, out, gamma[gamma_count == 1 ? 0 : i]);
            }
            if (beta != NULL) {
                out = soi_ln_add_out(&params->beta, tables->beta_input1[out + 128], beta[beta_count == 1 ? 0 : i]);
            }
            y[i] = out;
        }
    }
    return ARM_CMSIS_NN_SUCCESS;
}
