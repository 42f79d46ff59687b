/* Convolution core shared by arm_convolve_s8, the 1x1 and 1xN kernels and the wrapper.
 * Loops: batch -> group -> blocks of output pixels. Each block is gathered once (im2col) and then
 * multiplied by all output channels of the group, so the gather cost is spread over C_OUT / groups.
 *   C / DSP: 2 pixels per block, int16 pair layout, 2x2-blocked SMLAD kernel (soi_nn_mat_mult_s8_s16).
 *   MVE:     2 pixels per block, int8 columns, 2x2-blocked VMLADAVA kernel (mat_mult_2x2) whose
 *            accumulators start at the kernel sums (bias + input_offset * sum(w)), computed once per
 *            call for up to SOI_MVE_SUM_ROWS output channels at a time into a stack array.
 * 1x1 convolutions without padding read the input in place (MVE always, C / DSP without a buffer). */
#include "soi_nn_support.h"

int32_t soi_nn_conv_buffer_size(soi_nn_isa isa, int32_t k, int32_t is_1x1)
{
    if (isa == SOI_NN_ISA_MVE && is_1x1)
    {
        return 0;
    }
    /* C / DSP: 2 columns x K int16 plus 4 bytes to align the start for LDRD; MVE: 2 columns x K int8. */
    return isa == SOI_NN_ISA_MVE ? 2 * k : 4 * k + 4;
}

/* Output channels whose kernel sums are computed at a time (on the stack: 4 bytes each). */
#define SOI_MVE_SUM_ROWS 64

#if defined(SOI_NN_MVE)
/* sums[r] = bias[r] + in_off * sum(w[r][0..k)): the input offset folded once per call. */
static void kernel_sums(int32_t *sums, const int8_t *w, int32_t k, int32_t rows, const int32_t *bias, int32_t in_off)
{
    if (in_off == 0) /* the offset already folded into the bias (the generator does it for pointwise convs) */
    {
        for (int32_t r = 0; r < rows; r++)
        {
            sums[r] = bias != NULL ? bias[r] : 0;
        }
        return;
    }
    for (int32_t r = 0; r < rows; r++, w += k)
    {
        int32_t ws = 0;
#if defined(__OPTIMIZE__) && !defined(SOI_NN_NO_ASM)
        const int8_t *wp = w;
        __asm__ volatile("mov %[ws], #0\n"
                         "wlstp.8 lr, %[n], 2f\n"
                         "1:\n"
                         "vldrb.8 q0, [%[wp]], #16\n"
                         "vaddva.s8 %[ws], q0\n"
                         "letp lr, 1b\n"
                         "2:\n"
                         : [ws] "=&Te"(ws), [wp] "+r"(wp)
                         : [n] "r"(k)
                         : "q0", "lr", "memory");
#else
        for (int32_t i = 0; i < k; i += 16)
        {
            const mve_pred16_t pr = vctp8q((uint32_t)(k - i));
            ws = vaddvaq_p_s8(ws, vldrbq_z_s8(w + i, pr), pr);
        }
#endif
        sums[r] = (bias != NULL ? bias[r] : 0) + in_off * ws;
    }
}
#endif
#if defined(SOI_NN_MVE)
/* MVE matrix kernel of the conv core: 2 output channels x 2 columns per pass (4 loads + 4 VMLADAVA per
 * 16 values of K, i.e. 8 vector instructions per 64 MACs). The accumulators start at the kernel sums
 * (bias + input_offset * sum(w)), so the columns are raw int8. The 4 results {r c0, r c1, r+1 c0,
 * r+1 c1} are requantized as one vector and written with one scatter store. c1 / o1 may equal c0 / o0. */
static inline __attribute__((always_inline)) int32x4_t
dot_2x2(const int8_t *w0, const int8_t *w1, const int8_t *x0, const int8_t *x1, int32_t k, int32_t s0, int32_t s1)
{
    int32_t a00 = s0, a01 = s0, a10 = s1, a11 = s1;
#if defined(__OPTIMIZE__) && !defined(SOI_NN_NO_ASM)
    int32x4_t acc;
    __asm__ volatile("wlstp.8 lr, %[n], 2f\n"
                     "1:\n"
                     "vldrb.8 q0, [%[w0]], #16\n"
                     "vldrb.8 q1, [%[x0]], #16\n"
                     "vldrb.8 q2, [%[x1]], #16\n"
                     "vmladava.s8 %[a00], q0, q1\n"
                     "vldrb.8 q3, [%[w1]], #16\n"
                     "vmladava.s8 %[a01], q0, q2\n"
                     "vmladava.s8 %[a10], q3, q1\n"
                     "vmladava.s8 %[a11], q3, q2\n"
                     "letp lr, 1b\n"
                     "2:\n"
                     "vmov %q[acc][2], %q[acc][0], %[a00], %[a10]\n"
                     "vmov %q[acc][3], %q[acc][1], %[a01], %[a11]\n"
                     : [a00] "+Te"(a00), [a01] "+Te"(a01), [a10] "+Te"(a10), [a11] "+Te"(a11), [w0] "+r"(w0),
                       [w1] "+r"(w1), [x0] "+r"(x0), [x1] "+r"(x1), [acc] "=w"(acc)
                     : [n] "r"(k)
                     : "q0", "q1", "q2", "q3", "lr", "memory");
    return acc;
#else
    for (int32_t i = 0; i < k; i += 16)
    {
        const mve_pred16_t pr = vctp8q((uint32_t)(k - i));
        const int8x16_t f0 = vldrbq_z_s8(w0 + i, pr), f1 = vldrbq_z_s8(w1 + i, pr);
        const int8x16_t v0 = vldrbq_z_s8(x0 + i, pr), v1 = vldrbq_z_s8(x1 + i, pr);
        a00 = vmladavaq_s8(a00, f0, v0);
        a01 = vmladavaq_s8(a01, f0, v1);
        a10 = vmladavaq_s8(a10, f1, v0);
        a11 = vmladavaq_s8(a11, f1, v1);
    }
    int32x4_t acc = vdupq_n_s32(a00);
    acc = vsetq_lane_s32(a01, acc, 1);
    acc = vsetq_lane_s32(a10, acc, 2);
    return vsetq_lane_s32(a11, acc, 3);
#endif
}

static void mat_mult_2x2(const int8_t *filt,
                         const int8_t *c0,
                         const int8_t *c1,
                         int32_t k,
                         int32_t rows,
                         const int32_t *sums,
                         const soi_nn_out_stage *os,
                         int8_t *o0,
                         int8_t *o1)
{
    const uint32_t d = (uint32_t)((uintptr_t)o1 - (uintptr_t)o0);
    const uint32_t offs_a[4] = {0u, d, 1u, d + 1u};
    const uint32x4_t offs = vldrwq_u32(offs_a);
    static const uint32_t q_pair_a[4] = {0u, 0u, 1u, 1u};
    const uint32x4_t q_pair = vldrwq_u32(q_pair_a);
    const int32x4_t vmin = vdupq_n_s32(os->act_min), vmax = vdupq_n_s32(os->act_max);
    const int32_t out_offset = os->out_offset;
    const int32_t *mult = os->mult, *shift = os->shift;
    const int8_t *w = filt;
    int32_t r = 0;
    for (; r + 1 < rows; r += 2, w += 2 * k)
    {
        const int32x4_t acc = dot_2x2(w, w + k, c0, c1, k, sums[r], sums[r + 1]);
        const int32x4_t m = vldrwq_gather_shifted_offset_s32(mult + r, q_pair);
        const int32x4_t sh = vldrwq_gather_shifted_offset_s32(shift + r, q_pair);
        int32x4_t v = vaddq_n_s32(soi_mve_requant_lanes(acc, m, sh), out_offset);
        vstrbq_scatter_offset_s32(o0 + r, offs, vminq_s32(vmaxq_s32(v, vmin), vmax));
    }
    if (r < rows)
    {
        /* Odd last row: run it as both rows and keep lanes 0 and 1. */
        const int32x4_t acc = dot_2x2(w, w, c0, c1, k, sums[r], sums[r]);
        int32x4_t v = vaddq_n_s32(soi_mve_requant_lanes(acc, vdupq_n_s32(mult[r]), vdupq_n_s32(shift[r])), out_offset);
        vstrbq_scatter_offset_p_s32(o0 + r, offs, vminq_s32(vmaxq_s32(v, vmin), vmax), vctp32q(2u));
    }
}
#endif

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
#if defined(SOI_NN_MVE)
    if (is_1x1)
    {
        int32_t sums[SOI_MVE_SUM_ROWS];
        for (int32_t rc = 0; rc < c_out; rc += SOI_MVE_SUM_ROWS)
        {
            const int32_t nr = c_out - rc < SOI_MVE_SUM_ROWS ? c_out - rc : SOI_MVE_SUM_ROWS;
            const int8_t *filt = filter + rc * c_in;
            kernel_sums(sums, filt, c_in, nr, bias != NULL ? bias + rc : NULL, p->input_offset);
            os.mult = q->multiplier + rc;
            os.shift = q->shift + rc;
            if (n_pix == 1)
            {
                /* One pixel (a pointwise conv over one frequency bin): 4 channels per pass against the one
                 * column, where the 2x2 kernel would compute the column twice. */
                for (int32_t b = 0; b < in_dims->n; b++)
                {
                    const int8_t *x0 = in + b * in_dims->h * in_dims->w * c_in;
                    int8_t *o0 = out + b * c_out + rc;
                    soi_nn_vec_mat_s8(filt, &x0, 1, c_in, nr, p->input_offset, 0, sums, 1, &os, &o0);
                }
                continue;
            }
            for (int32_t b = 0; b < in_dims->n; b++)
            {
                const int8_t *in_b = in + b * in_dims->h * in_dims->w * c_in;
                int8_t *out_b = out + b * n_pix * c_out + rc;
                int32_t oy = 0, ox = 0;
                for (int32_t pix = 0; pix < n_pix; pix += 2)
                {
                    const int two = pix + 1 < n_pix;
                    const int8_t *x0 = in_b + (oy * p->stride.h * in_dims->w + ox * p->stride.w) * c_in;
                    if (++ox == out_dims->w)
                    {
                        ox = 0;
                        oy++;
                    }
                    const int8_t *x1 = x0;
                    if (two)
                    {
                        x1 = in_b + (oy * p->stride.h * in_dims->w + ox * p->stride.w) * c_in;
                        if (++ox == out_dims->w)
                        {
                            ox = 0;
                            oy++;
                        }
                    }
                    int8_t *o0 = out_b + pix * c_out;
                    mat_mult_2x2(filt, x0, x1, c_in, nr, sums, &os, o0, two ? o0 + c_out : o0);
                }
            }
        }
        return ARM_CMSIS_NN_SUCCESS;
    }
#endif
    if (is_1x1 && (SOI_NN_ISA_TARGET == SOI_NN_ISA_MVE || buf == NULL))
    {
        conv_1x1_direct(p, in_dims, in, filter, bias, &os, out_dims, out);
        return ARM_CMSIS_NN_SUCCESS;
    }
    if (buf == NULL)
    {
        return ARM_CMSIS_NN_ARG_ERROR;
    }
#if defined(SOI_NN_DSP)
    if (!is_1x1 && groups == 1 && soi_nn_conv_row(ctx, p, q, in_dims, in, f_dims, filter, bias, out_dims, out))
    {
        return ARM_CMSIS_NN_SUCCESS;
    }
#endif

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
            const int fast_rows = groups == 1 && p->dilation.w == 1;
            int32_t sums[SOI_MVE_SUM_ROWS];
            for (int32_t rc = 0; rc < cout_g; rc += SOI_MVE_SUM_ROWS)
            {
                /* More than SOI_MVE_SUM_ROWS channels: the columns are gathered again per chunk. */
                const int32_t nr = cout_g - rc < SOI_MVE_SUM_ROWS ? cout_g - rc : SOI_MVE_SUM_ROWS;
                const int8_t *filt_c = filt + rc * k;
                kernel_sums(sums, filt_c, k, nr, bias_g != NULL ? bias_g + rc : NULL, p->input_offset);
                os.mult = q->multiplier + oc0 + rc;
                os.shift = q->shift + oc0 + rc;
                int32_t oy = 0, ox = 0;
                for (int32_t pix = 0; pix < n_pix; pix += 2)
                {
                    const int two = pix + 1 < n_pix;
                    for (int32_t j = 0; j < 1 + two; j++)
                    {
                        const int32_t ix0 = ox * p->stride.w - p->padding.w;
                        if (fast_rows && ix0 >= 0 && ix0 + kw <= in_dims->w)
                        {
                            /* Interior pixel, dilation_w 1, no groups: one contiguous run per filter row. */
                            int8_t *dst = colbuf + j * k;
                            int32_t iy = oy * p->stride.h - p->padding.h;
                            for (int32_t ky = 0; ky < kh; ky++, iy += p->dilation.h, dst += kw * cg)
                            {
                                if (iy >= 0 && iy < in_dims->h)
                                {
                                    soi_mve_copy_s8(dst, in_b + (iy * in_dims->w + ix0) * c_in, kw * cg);
                                }
                                else
                                {
                                    soi_mve_fill_s8(dst, (int8_t)(-p->input_offset), kw * cg);
                                }
                            }
                        }
                        else
                        {
                            soi_nn_im2col_s8(colbuf + j * k, in_b, in_dims, p, kh, kw, g * cg, cg, oy, ox);
                        }
                        if (++ox == out_dims->w)
                        {
                            ox = 0;
                            oy++;
                        }
                    }
                    int8_t *o0 = out_b + pix * c_out + oc0 + rc;
                    mat_mult_2x2(filt_c, colbuf, two ? colbuf + k : colbuf, k, nr, sums, &os, o0,
                                 two ? o0 + c_out : o0);
                }
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
