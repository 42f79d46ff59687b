/* arm_depthwise_conv_s8: generic depthwise conv (batches, ch_mult, stride, padding, dilation).
 * Filter [1, KH, KW, C_IN * ch_mult], oc = ic * ch_mult + m. The valid tap window is computed once per
 * output pixel, so the inner loop has no bounds checks. Plain C on every target. */
#include "arm_nnfunctions.h"
#include "soi_nn_support.h"

/* First tap index whose position (o * stride - pad + t * dil) is >= 0, and the end index < size. */
static void tap_range(int32_t o, int32_t stride, int32_t pad, int32_t dil, int32_t taps, int32_t size,
                      int32_t *t0, int32_t *t1)
{
    const int32_t base = o * stride - pad;
    int32_t lo = 0, hi = taps;
    while (lo < taps && base + lo * dil < 0)
    {
        lo++;
    }
    while (hi > lo && base + (hi - 1) * dil >= size)
    {
        hi--;
    }
    *t0 = lo;
    *t1 = hi;
}

arm_cmsis_nn_status arm_depthwise_conv_s8(const cmsis_nn_context *ctx,
                                          const cmsis_nn_dw_conv_params *dw_conv_params,
                                          const cmsis_nn_per_channel_quant_params *quant_params,
                                          const cmsis_nn_dims *input_dims,
                                          const int8_t *input_data,
                                          const cmsis_nn_dims *filter_dims,
                                          const int8_t *filter_data,
                                          const cmsis_nn_dims *bias_dims,
                                          const int32_t *bias_data,
                                          const cmsis_nn_dims *output_dims,
                                          int8_t *output_data)
{
    (void)ctx;
    (void)bias_dims;
    const cmsis_nn_dw_conv_params *p = dw_conv_params;
    const int32_t in_h = input_dims->h, in_w = input_dims->w, c_in = input_dims->c;
    const int32_t kh = filter_dims->h, kw = filter_dims->w;
    const int32_t out_h = output_dims->h, out_w = output_dims->w, c_out = output_dims->c;
    const int32_t cm = p->ch_mult;
    if (cm <= 0 || c_out != c_in * cm || p->stride.w <= 0 || p->stride.h <= 0 || p->dilation.w <= 0 ||
        p->dilation.h <= 0)
    {
        return ARM_CMSIS_NN_ARG_ERROR;
    }
    const soi_nn_out_stage os = {quant_params->multiplier, quant_params->shift, 1, p->output_offset,
                                 p->activation.min, p->activation.max};
    for (int32_t b = 0; b < input_dims->n; b++)
    {
        const int8_t *in_b = input_data + b * in_h * in_w * c_in;
        int8_t *out = output_data + b * out_h * out_w * c_out;
        for (int32_t oy = 0; oy < out_h; oy++)
        {
            int32_t ky0, ky1;
            tap_range(oy, p->stride.h, p->padding.h, p->dilation.h, kh, in_h, &ky0, &ky1);
            const int32_t iy0 = oy * p->stride.h - p->padding.h;
            for (int32_t ox = 0; ox < out_w; ox++, out += c_out)
            {
                int32_t kx0, kx1;
                tap_range(ox, p->stride.w, p->padding.w, p->dilation.w, kw, in_w, &kx0, &kx1);
                const int32_t ix0 = ox * p->stride.w - p->padding.w;
                for (int32_t oc = 0; oc < c_out; oc++)
                {
                    const int32_t ic = oc / cm;
                    int32_t acc = bias_data != NULL ? bias_data[oc] : 0;
                    for (int32_t ky = ky0; ky < ky1; ky++)
                    {
                        const int8_t *row = in_b + ((iy0 + ky * p->dilation.h) * in_w + ix0) * c_in + ic;
                        const int8_t *f = filter_data + ky * kw * c_out + oc;
                        for (int32_t kx = kx0; kx < kx1; kx++)
                        {
                            acc += (row[kx * p->dilation.w * c_in] + p->input_offset) * f[kx * c_out];
                        }
                    }
                    out[oc] = soi_nn_output(&os, oc, acc);
                }
            }
        }
    }
    return ARM_CMSIS_NN_SUCCESS;
}
