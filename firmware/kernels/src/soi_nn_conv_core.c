/* Convolution core shared by arm_convolve_s8, the 1x1 and 1xN kernels and the wrapper.
 * Loops: batch -> group -> blocks of output pixels. Each block is gathered once (im2col) and then
 * multiplied by all output channels of the group, so the gather cost is spread over C_OUT / groups.
 *   C / DSP: 2 pixels per block, int16 pair layout, 2x2-blocked SMLAD kernel (soi_nn_mat_mult_s8_s16).
 *   MVE:     4 pixels per block, int8 columns, VMLADAVA kernel (soi_nn_vec_mat_s8).
 * 1x1 convolutions without padding read the input in place (MVE always, C / DSP without a buffer). */
#include "soi_nn_support.h"

int32_t soi_nn_conv_buffer_size(soi_nn_isa isa, int32_t k, int32_t is_1x1)
{
    if (isa == SOI_NN_ISA_MVE && is_1x1)
    {
        return 0;
    }
    /* C / DSP: 2 columns x K int16 plus 4 bytes to align the start for LDRD; MVE: 4 columns x K int8. */
    return isa == SOI_NN_ISA_MVE ? 4 * k : 4 * k + 4;
}

/* 1x1, no padding, no groups: every output pixel's column is the input pixel itself. */
static void conv_1x1_direct(const cmsis_nn_conv_params *p,
                            const cmsis_nn_dims *in_dims,
                            const int8_t *in,
                            const int8_t *filter,
                            const int32_t *bias,
                            const soi_nn_out_stage *os,
                            const cmsis_nn_dims *out_dims,
                            int8_t *out)
{
    const int32_t c_in = in_dims->c, c_out = out_dims->c;
    const int32_t n_pix = out_dims->h * out_dims->w;
    const int8_t *cols[4];
    int8_t *outs[4];
    for (int32_t b = 0; b < in_dims->n; b++)
    {
        const int8_t *in_b = in + b * in_dims->h * in_dims->w * c_in;
        int8_t *out_b = out + b * n_pix * c_out;
        for (int32_t pix = 0; pix < n_pix; pix += 4)
        {
            const int32_t n = n_pix - pix < 4 ? n_pix - pix : 4;
            for (int32_t j = 0; j < n; j++)
            {
                const int32_t oy = (pix + j) / out_dims->w, ox = (pix + j) % out_dims->w;
                cols[j] = in_b + ((oy * p->stride.h) * in_dims->w + ox * p->stride.w) * c_in;
                outs[j] = out_b + (pix + j) * c_out;
            }
            soi_nn_vec_mat_s8(filter, cols, n, c_in, c_out, p->input_offset, 0, bias, 0, os, outs);
        }
    }
}

arm_cmsis_nn_status soi_nn_conv_core(const cmsis_nn_context *ctx,
                                     const cmsis_nn_conv_params *p,
                                     const cmsis_nn_per_channel_quant_params *q,
                                     const cmsis_nn_dims *in_dims,
                                     const int8_t *in,
                                     const cmsis_nn_dims *f_dims,
                                     const int8_t *filter,
                                     const int32_t *bias,
                                     const cmsis_nn_dims *out_dims,
                                     int8_t *out)
{
    const int32_t c_in = in_dims->c, c_out = out_dims->c;
    const int32_t kh = f_dims->h, kw = f_dims->w, cg = f_dims->c;
    if (cg <= 0 || c_in % cg != 0 || c_out % (c_in / cg) != 0 || p->stride.w <= 0 || p->stride.h <= 0 ||
        p->dilation.w <= 0 || p->dilation.h <= 0)
    {
        return ARM_CMSIS_NN_ARG_ERROR;
    }
    const int32_t groups = c_in / cg, cout_g = c_out / groups;
    const int32_t k = kh * kw * cg;
    const int32_t n_pix = out_dims->h * out_dims->w;
    soi_nn_out_stage os = {q->multiplier, q->shift, 1, p->output_offset, p->activation.min, p->activation.max};
    void *buf = ctx != NULL ? ctx->buf : NULL;

    const int is_1x1 = kh == 1 && kw == 1 && groups == 1 && p->padding.w == 0 && p->padding.h == 0;
    if (is_1x1 && (SOI_NN_ISA_TARGET == SOI_NN_ISA_MVE || buf == NULL))
    {
        conv_1x1_direct(p, in_dims, in, filter, bias, &os, out_dims, out);
        return ARM_CMSIS_NN_SUCCESS;
    }
    if (buf == NULL)
    {
        return ARM_CMSIS_NN_ARG_ERROR;
    }

    for (int32_t b = 0; b < in_dims->n; b++)
    {
        const int8_t *in_b = in + b * in_dims->h * in_dims->w * c_in;
        int8_t *out_b = out + b * n_pix * c_out;
        for (int32_t g = 0; g < groups; g++)
        {
            const int32_t oc0 = g * cout_g;
            const int8_t *filt = filter + oc0 * k;
            const int32_t *bias_g = bias != NULL ? bias + oc0 : NULL;
            os.mult = q->multiplier + oc0;
            os.shift = q->shift + oc0;
#if defined(SOI_NN_MVE)
            int8_t *colbuf = (int8_t *)buf;
            const int8_t *cols[4];
            int8_t *outs[4];
            for (int32_t pix = 0; pix < n_pix; pix += 4)
            {
                const int32_t n = n_pix - pix < 4 ? n_pix - pix : 4;
                for (int32_t j = 0; j < n; j++)
                {
                    const int32_t oy = (pix + j) / out_dims->w, ox = (pix + j) % out_dims->w;
                    soi_nn_im2col_s8(colbuf + j * k, in_b, in_dims, p, kh, kw, g * cg, cg, oy, ox);
                    cols[j] = colbuf + j * k;
                    outs[j] = out_b + (pix + j) * c_out + oc0;
                }
                soi_nn_vec_mat_s8(filt, cols, n, k, cout_g, p->input_offset, 0, bias_g, 0, &os, outs);
            }
#else
            uint8_t *pair = (uint8_t *)(((uintptr_t)buf + 3u) & ~(uintptr_t)3u);
            for (int32_t pix = 0; pix < n_pix; pix += 2)
            {
                const int two = pix + 1 < n_pix;
                for (int32_t j = 0; j < 1 + two; j++)
                {
                    const int32_t oy = (pix + j) / out_dims->w, ox = (pix + j) % out_dims->w;
                    soi_nn_im2col_s16(pair, j, in_b, in_dims, p, kh, kw, g * cg, cg, oy, ox);
                }
                int8_t *o0 = out_b + pix * c_out + oc0;
                soi_nn_mat_mult_s8_s16(filt, pair, k, cout_g, bias_g, &os, o0, two ? o0 + c_out : NULL);
            }
#endif
        }
    }
    return ARM_CMSIS_NN_SUCCESS;
}
