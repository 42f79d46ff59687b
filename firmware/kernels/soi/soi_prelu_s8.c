/* TFLite's int8 PRELU, bit-exact with its reference kernel (reference_ops::BroadcastPrelu4DSlow). */
#include "soi_prelu.h"

/* TFLite's MultiplyByQuantizedMultiplier: SaturatingRoundingDoublingHighMul, then a rounding right
 * shift (double rounding). Written out here because the kernel is built with either kernel library
 * (CMSIS-NN's own helper is not part of its public API). */
static int32_t soi_prelu_requantize(int32_t value, int32_t multiplier, int32_t shift)
{
    const int32_t left = shift > 0 ? shift : 0;
    const int32_t right = shift > 0 ? 0 : -shift;
    const int64_t a = (int64_t)value * (int64_t)(1 << left);
    int32_t high;
    if (a == INT32_MIN && multiplier == INT32_MIN) {
        high = INT32_MAX; /* the one product that saturates */
    } else {
        const int64_t ab = (int64_t)(int32_t)a * (int64_t)multiplier;
        const int64_t nudge = ab >= 0 ? (1LL << 30) : (1 - (1LL << 30));
        high = (int32_t)((ab + nudge) / (1LL << 31));
    }
    const int32_t mask = (int32_t)((1LL << right) - 1);
    const int32_t remainder = high & mask;
    const int32_t threshold = (mask >> 1) + (high < 0 ? 1 : 0);
    return (high >> right) + (remainder > threshold ? 1 : 0);
}

arm_cmsis_nn_status soi_prelu_s8(const soi_prelu_params *params, const int8_t *input, const int8_t *alpha,
                                 int32_t alpha_count, int32_t count, int32_t channels, int8_t *output)
{
    if (alpha_count != 1 && alpha_count != channels) {
        return ARM_CMSIS_NN_ARG_ERROR;
    }
    for (int32_t i = 0; i < count; i++) {
        for (int32_t c = 0; c < channels; c++) {
            const int32_t x = params->input_offset + input[i * channels + c];
            int32_t y;
            if (x >= 0) {
                y = soi_prelu_requantize(x, params->positive_multiplier, params->positive_shift);
            } else {
                const int32_t a = params->alpha_offset + alpha[alpha_count == 1 ? 0 : c];
                y = soi_prelu_requantize(x * a, params->negative_multiplier, params->negative_shift);
            }
            y += params->output_offset;
            y = y < -128 ? -128 : (y > 127 ? 127 : y);
            output[i * channels + c] = (int8_t)y;
        }
    }
    return ARM_CMSIS_NN_SUCCESS;
}
