/* One GRU step as TFLite's int8 op sequence, bit-exact with LiteRT's reference kernels (see soi_gru.h):
 * LiteRT's per-channel FULLY_CONNECTED for the six products (its single rounding, below), arm_elementwise_add_s8 /
 * arm_elementwise_mul_s8 (TFLite's AddElementwise / MulElementwise, in either kernel library) for ADD,
 * SUB and MUL, and LOGISTIC / TANH as the 256-entry tables LiteRT's own kernels index. */
#include "soi_gru.h"

#include "arm_nnfunctions.h"
#include "soi_q15.h"

/* LiteRT's reference per-channel FULLY_CONNECTED requantizes with one rounding, not TFLite's usual two
 * (rounding doubling high multiply, then rounding shift): acc x multiplier / 2^(31 - shift), rounded half
 * up, in 64 bits. Measured: the two-rounding form misses about 0.2% of its outputs, this one none. */
static inline int32_t product_requantize(int32_t acc, int32_t multiplier, int32_t shift)
{
    const int32_t total = 31 - shift; /* 1..62: shift is -31..30 */
    return (int32_t)(((int64_t)acc * multiplier + ((int64_t)1 << (total - 1))) >> total);
}

/* out[r] = clamp8(requantize(bias[r] + W[r] . x) + offset): a per-channel FULLY_CONNECTED. */
static void product(const int8_t *x, int32_t cols, const int8_t *weights, const int32_t *bias,
                    const int32_t *multipliers, const int32_t *shifts, int32_t offset, int32_t rows, int8_t *out)
{
    for (int32_t r = 0; r < rows; r++) {
        const int32_t acc = soi_dot_s8(x, weights + r * cols, cols, bias[r]);
        const int32_t v = product_requantize(acc, multipliers[r], shifts[r]) + offset;
        out[r] = (int8_t)(v > 127 ? 127 : v < -128 ? -128 : v);
    }
}

static arm_cmsis_nn_status add(const soi_gru_add *p, const int8_t *a, const int8_t *b, int8_t *out, int32_t n)
{
    return arm_elementwise_add_s8(a, b, p->input1_offset, p->input1_multiplier, p->input1_shift, p->input2_offset,
                                  p->input2_multiplier, p->input2_shift, 20, out, p->output_offset,
                                  p->output_multiplier, p->output_shift, -128, 127, n);
}

static arm_cmsis_nn_status mul(const soi_gru_mul *p, const int8_t *a, const int8_t *b, int8_t *out, int32_t n)
{
    return arm_elementwise_mul_s8(a, b, p->input1_offset, p->input2_offset, out, p->output_offset,
                                  p->output_multiplier, p->output_shift, -128, 127, n);
}

static void lookup(const int8_t *table, int8_t *x, int32_t n)
{
    for (int32_t i = 0; i < n; i++) {
        x[i] = table[x[i] + 128];
    }
}

arm_cmsis_nn_status soi_gru_step_s8(const soi_gru_params *params, const int8_t *input, int32_t batches,
                                    const int8_t *input_weights, const int8_t *recurrent_weights,
                                    const int32_t *bias, const int32_t *multipliers, const int32_t *shifts,
                                    const int8_t *tables, int8_t *hidden, int8_t *scratch)
{
    const int32_t cols = params->input_size;
    const int32_t size = params->hidden_size;
    if (cols <= 0 || size <= 0) {
        return ARM_CMSIS_NN_ARG_ERROR;
    }
    /* scratch: the products gx_r, gx_z, gx_n, gh_r, gh_z, gh_n; the later values of the step overwrite
     * those no longer read (the elementwise ops run in place: an output value depends only on the
     * inputs at its own index) */
    int8_t *gx_r = scratch, *gx_z = scratch + size, *gx_n = scratch + 2 * size;
    int8_t *gh_r = scratch + 3 * size, *gh_z = scratch + 4 * size, *gh_n = scratch + 5 * size;
    int failed = 0;
    for (int32_t b = 0; b < batches && !failed; b++) {
        const int8_t *x = input + b * cols;
        int8_t *h = hidden + b * size;
        for (int32_t g = 0; g < 3; g++) { /* all six products read the old hidden state */
            const int32_t gi = g * size, hi = (3 + g) * size;
            product(x, cols, input_weights + g * size * cols, bias + gi, multipliers + gi, shifts + gi,
                    params->product_offset[g], size, scratch + gi);
            product(h, size, recurrent_weights + g * size * size, bias + hi, multipliers + hi, shifts + hi,
                    params->product_offset[3 + g], size, scratch + hi);
        }
        int8_t *r = gx_r, *z = gx_z, *m = gh_n, *n = gx_n, *d = gh_r, *e = gh_z;
        failed |= add(&params->add_r, gx_r, gh_r, r, size) != ARM_CMSIS_NN_SUCCESS; /* r = sigmoid(gx_r + gh_r) */
        lookup(tables, r, size);
        failed |= add(&params->add_z, gx_z, gh_z, z, size) != ARM_CMSIS_NN_SUCCESS; /* z = sigmoid(gx_z + gh_z) */
        lookup(tables + 256, z, size);
        failed |= mul(&params->mul_r, r, gh_n, m, size) != ARM_CMSIS_NN_SUCCESS; /* m = r * gh_n */
        failed |= add(&params->add_n, gx_n, m, n, size) != ARM_CMSIS_NN_SUCCESS; /* n = tanh(gx_n + m) */
        lookup(tables + 512, n, size);
        failed |= add(&params->sub, h, n, d, size) != ARM_CMSIS_NN_SUCCESS;   /* d = h - n */
        failed |= mul(&params->mul_z, z, d, e, size) != ARM_CMSIS_NN_SUCCESS; /* e = z * d */
        failed |= add(&params->add_h, n, e, h, size) != ARM_CMSIS_NN_SUCCESS; /* h = n + e */
    }
    return failed ? ARM_CMSIS_NN_ARG_ERROR : ARM_CMSIS_NN_SUCCESS;
}
