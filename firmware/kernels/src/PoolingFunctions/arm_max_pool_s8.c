/* Max pooling, int8 NHWC (TFLite reference MaxPool semantics): the largest of the valid
 * (non-padding) taps of each window, clamped to the activation range. Input and output share
 * quantization (TFLite requires it), so no requantization happens. */
#include "arm_nnfunctions.h"

arm_cmsis_nn_status arm_max_pool_s8(const cmsis_nn_context *ctx,
                                    const cmsis_nn_pool_params *pool_params,
                                    const cmsis_nn_dims *input_dims,
                                    const int8_t *input,
                                    const cmsis_nn_dims *filter_dims,
                                    const cmsis_nn_dims *output_dims,
                                    int8_t *output)
{
    (void)ctx;
    const int32_t in_h = input_dims->h, in_w = input_dims->w, ch = input_dims->c;
    const int32_t out_h = output_dims->h, out_w = output_dims->w;
    if (input_dims->n < 1) {
        return ARM_CMSIS_NN_ARG_ERROR;
    }
    for (int32_t n = 0; n < input_dims->n; n++) {
        const int8_t *in = input + n * in_h * in_w * ch;
        int8_t *out = output + n * out_h * out_w * ch;
        for (int32_t oy = 0; oy < out_h; oy++) {
            const int32_t y0 = oy * pool_params->stride.h - pool_params->padding.h;
            const int32_t ky0 = y0 < 0 ? -y0 : 0;
            const int32_t ky1 = (in_h - y0) < filter_dims->h ? (in_h - y0) : filter_dims->h;
            for (int32_t ox = 0; ox < out_w; ox++) {
                const int32_t x0 = ox * pool_params->stride.w - pool_params->padding.w;
                const int32_t kx0 = x0 < 0 ? -x0 : 0;
                const int32_t kx1 = (in_w - x0) < filter_dims->w ? (in_w - x0) : filter_dims->w;
                for (int32_t c = 0; c < ch; c++) {
                    /* TFLite starts from the lowest int8 value: a window with no valid tap gives -128 */
                    int32_t max = -128;
                    for (int32_t ky = ky0; ky < ky1; ky++) {
                        const int8_t *row = in + ((y0 + ky) * in_w + x0) * ch + c;
                        for (int32_t kx = kx0; kx < kx1; kx++) {
                            max = row[kx * ch] > max ? row[kx * ch] : max;
                        }
                    }
                    max = max < pool_params->activation.min ? pool_params->activation.min : max;
                    max = max > pool_params->activation.max ? pool_params->activation.max : max;
                    out[(oy * out_w + ox) * ch + c] = (int8_t)max;
                }
            }
        }
    }
    return ARM_CMSIS_NN_SUCCESS;
}
