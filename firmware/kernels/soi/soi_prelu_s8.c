/* TFLite's int8 PRELU, bit-exact with its reference kernel (reference_ops::BroadcastPrelu4DSlow). */
#include "soi_prelu.h"

#include "soi_requantize.h"

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
                y = soi_requantize(x, params->positive_multiplier, params->positive_shift);
            } else {
                const int32_t a = params->alpha_offset + alpha[alpha_count == 1 ? 0 : c];
                y = soi_requantize(x * a, params->negative_multiplier, params->negative_shift);
            }
            y += params->output_offset;
            y = y < -128 ? -128 : (y > 127 ? 127 : y);
            output[i * channels + c] = (int8_t)y;
        }
    }
    return ARM_CMSIS_NN_SUCCESS;
}
