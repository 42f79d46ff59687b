/* arm_depthwise_conv_s8: generic depthwise conv (batches, ch_mult, stride, padding, dilation).
 * Filter [1, KH, KW, C_IN * ch_mult], oc = ic * ch_mult + m. The valid tap window is computed once per
 * output pixel, so the inner loop has no bounds checks. With ch_mult 1 the channels are the inner loop
 * (SXTB16 + SMLABB / SMLATT on DSP targets). */
#include "arm_nnfunctions.h"
#include "soi_nn_support.h"

/* Channels per accumulator chunk of the ch_mult == 1 path (4 bytes of stack each). */
#define SOI_DW_CHUNK 64

/* acc[c] += (x[c] + in_off) * f[c] for c < n. DSP: 4 channels per step, SXTB16 splits each word into
 * channels (0, 2) and (1, 3), SMLABB / SMLATT multiply the matching halves. */
static inline void dw_tap(int32_t *acc, const int8_t *x, const int8_t *f, int32_t n, int32_t in_off)
{
    int32_t c = 0;
#if defined(SOI_NN_DSP) && defined(__ARM_FEATURE_DSP)
    const uint32_t off2 = ((uint32_t)in_off & 0xFFFFu) | ((uint32_t)in_off << 16);
    for (; c + 4 <= n; c += 4)
    {
        const uint32_t xw = soi_read_u32(x + c), fw = soi_read_u32(f + c);
        const uint32_t x02 = soi_sadd16(soi_sxtb16(xw), off2), x13 = soi_sadd16(soi_sxtb16_ror8(xw), off2);
        const uint32_t f02 = soi_sxtb16(fw), f13 = soi_sxtb16_ror8(fw);
        acc[c] = __smlabb((int32_t)x02, (int32_t)f02, acc[c]);
        acc[c + 2] = __smlatt((int32_t)x02, (int32_t)f02, acc[c + 2]);
        acc[c + 1] = __smlabb((int32_t)x13, (int32_t)f13, acc[c + 1]);
        acc[c + 3] = __smlatt((int32_t)x13, (int32_t)f13, acc[c + 3]);
    }
#endif
    for (; c < n; c++)
    {
        acc[c] += (x[c] + in_off) * f[c];
    }
}

#if defined(SOI_NN_DSP)
#if defined(__ARM_FEATURE_DSP)
#define soi_smlabb(a, b, acc) __smlabb((int32_t)(a), (int32_t)(b), (acc))
#define soi_smlatt(a, b, acc) __smlatt((int32_t)(a), (int32_t)(b), (acc))
#else
static inline int32_t soi_smlabb(uint32_t a, uint32_t b, int32_t acc)
{
    return (int32_t)((uint32_t)acc + (uint32_t)((int32_t)(int16_t)(a & 0xFFFFu) * (int16_t)(b & 0xFFFFu)));
}
static inline int32_t soi_smlatt(uint32_t a, uint32_t b, int32_t acc)
{
    return (int32_t)((uint32_t)acc + (uint32_t)((int32_t)(int16_t)(a >> 16) * (int16_t)(b >> 16)));
}
#endif

/* ch_mult 1, DSP: one output pixel, channels in groups of 4 with the 4 accumulators in registers over
 * all valid taps (SXTB16 splits a word into channels (0, 2) / (1, 3), SMLABB / SMLATT multiply the
 * matching halves), then requantized and stored; leftover channels (C % 4) in plain C. */
static __attribute__((noinline)) void dw_pixel_dsp(const int8_t *in_b,
                         int32_t in_w,
                         int32_t c_in,
                         const int8_t *filter,
                         int32_t kw,
                         const int32_t *bias,
                         const cmsis_nn_dw_conv_params *p,
                         const soi_nn_out_stage *os,
                         int32_t iy0,
                         int32_t ky0,
                         int32_t ky1,
                         int32_t ix0,
                         int32_t kx0,
                         int32_t kx1,
                         int8_t *out)
{
    const int32_t in_off = p->input_offset;
    const uint32_t off2 = ((uint32_t)in_off & 0xFFFFu) | ((uint32_t)in_off << 16);
    const int32_t xstep = p->dilation.w * c_in, ystep = p->dilation.h * in_w * c_in;
    const int8_t *x0 = in_b + ((iy0 + ky0 * p->dilation.h) * in_w + ix0 + kx0 * p->dilation.w) * c_in;
    const int8_t *f0 = filter + (ky0 * kw + kx0) * c_in;
    const int32_t nky = ky1 - ky0, nkx = kx1 - kx0;
    int32_t c = 0;
    for (; c + 4 <= c_in; c += 4)
    {
        int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
        if (bias != NULL)
        {
            a0 = bias[c];
            a1 = bias[c + 1];
            a2 = bias[c + 2];
            a3 = bias[c + 3];
        }
        const int8_t *xr = x0 + c, *fr = f0 + c;
#define SOI_DW_TAP(xp, fp)                                                                                     \
    do                                                                                                         \
    {                                                                                                          \
        const uint32_t xw = soi_read_u32(xp), fw = soi_read_u32(fp);                                           \
        const uint32_t x02 = soi_sadd16(soi_sxtb16(xw), off2), x13 = soi_sadd16(soi_sxtb16_ror8(xw), off2);    \
        const uint32_t f02 = soi_sxtb16(fw), f13 = soi_sxtb16_ror8(fw);                                        \
        a0 = soi_smlabb(x02, f02, a0);                                                                         \
        a2 = soi_smlatt(x02, f02, a2);                                                                         \
        a1 = soi_smlabb(x13, f13, a1);                                                                         \
        a3 = soi_smlatt(x13, f13, a3);                                                                         \
    } while (0)
        if (nkx == 3)
        {
            /* The usual 3-tap row, unrolled. */
            for (int32_t ky = 0; ky < nky; ky++, xr += ystep, fr += kw * c_in)
            {
                SOI_DW_TAP(xr, fr);
                SOI_DW_TAP(xr + xstep, fr + c_in);
                SOI_DW_TAP(xr + 2 * xstep, fr + 2 * c_in);
            }
        }
        else
        {
            for (int32_t ky = 0; ky < nky; ky++, xr += ystep, fr += kw * c_in)
            {
                const int8_t *x = xr, *f = fr;
                for (int32_t kx = 0; kx < nkx; kx++, x += xstep, f += c_in)
                {
                    SOI_DW_TAP(x, f);
                }
            }
        }
#undef SOI_DW_TAP
        const int32_t acc[4] = {a0, a1, a2, a3};
        for (int32_t j = 0; j < 4; j++)
        {
            out[c + j] = soi_nn_clamp_s8(soi_nn_requantize_fast(acc[j], os->mult[c + j], os->shift[c + j]) +
                                             os->out_offset,
                                         os->act_min, os->act_max);
        }
    }
    for (; c < c_in; c++)
    {
        int32_t acc = bias != NULL ? bias[c] : 0;
        const int8_t *xr = x0 + c, *fr = f0 + c;
        for (int32_t ky = 0; ky < nky; ky++, xr += ystep, fr += kw * c_in)
        {
            for (int32_t kx = 0; kx < nkx; kx++)
            {
                acc += (xr[kx * xstep] + in_off) * fr[kx * c_in];
            }
        }
        out[c] = soi_nn_output(os, c, acc);
    }
}
#endif

#if defined(SOI_NN_DSP)
/* Longest output row of dw_row3_dsp (stack: 4 bytes per output and 2 per input column, ~440 bytes). 72
 * rather than 64: with 64 / 65, GCC 12 -O2 laid out this function ~10% slower on M4 (measured). */
#define SOI_DW_ROW_MAX 72

/* a[x] = addend[x * astep] + the 3 taps at column x: SMLAD (v[x], v[x+1]) x (w0, w1), SMLABB v[x+2] x w2.
 * Inlined with astep 0 (one bias for the row) or 1 (a itself). */
static inline __attribute__((always_inline)) int32_t dw_tap3(const int16_t *v, uint32_t w01, uint32_t w2, int32_t a)
{
    return soi_smlabb((uint32_t)(uint16_t)v[2], w2, soi_smlad(soi_read_u32(v), w01, a));
}

static inline __attribute__((always_inline)) void dw_row_taps(const int16_t *v, uint32_t w01, uint32_t w2,
                                                              const int32_t *addend, int32_t astep, int32_t *a,
                                                              int32_t out_w)
{
    int32_t x = 0;
    for (; x + 4 <= out_w; x += 4, v += 4, a += 4, addend += 4 * astep)
    {
        a[0] = dw_tap3(v, w01, w2, addend[0]);
        a[1] = dw_tap3(v + 1, w01, w2, addend[astep]);
        a[2] = dw_tap3(v + 2, w01, w2, addend[2 * astep]);
        a[3] = dw_tap3(v + 3, w01, w2, addend[3 * astep]);
    }
    for (; x < out_w; x++, v++, a++, addend += astep)
    {
        a[0] = dw_tap3(v, w01, w2, addend[0]);
    }
}

/* ch_mult 1, KW 3, stride_w 1, dilation_w 1, DSP: one output row, one channel at a time. Each valid
 * filter row's input (+ offset, 0 for padding) is laid out once as int16 v[0 .. out_w + 2), so that one
 * unaligned word load at v + x is the pair (v[x], v[x+1]) for SMLAD with (w0, w1) and v[x+2] goes to
 * SMLABB with w2: 3 MACs in 2 instructions, the running sums of the row in acc[]. */
static void dw_row3_dsp(const int8_t *in_b,
                        int32_t in_h,
                        int32_t in_w,
                        int32_t c_in,
                        const int8_t *filter,
                        int32_t kh,
                        const int32_t *bias,
                        const cmsis_nn_dw_conv_params *p,
                        const soi_nn_out_stage *os,
                        int32_t oy,
                        int32_t out_w,
                        int8_t *out)
{
    int32_t acc[SOI_DW_ROW_MAX];
    int16_t v[SOI_DW_ROW_MAX + 2];
    const int32_t in_off = p->input_offset, pad = p->padding.w;
    /* Valid input columns: v index i holds input column i - pad. */
    const int32_t n = out_w + 2;
    const int32_t i0 = pad < n ? pad : n;
    const int32_t i1 = in_w + pad < n ? in_w + pad : n;
    for (int32_t c = 0; c < c_in; c++)
    {
        const int32_t b = bias != NULL ? bias[c] : 0;
        int first = 1;
        for (int32_t ky = 0; ky < kh; ky++)
        {
            const int32_t iy = oy * p->stride.h - p->padding.h + ky * p->dilation.h;
            if (iy < 0 || iy >= in_h)
            {
                continue;
            }
            const int8_t *src = in_b + (iy * in_w + (i0 - pad)) * c_in + c;
            for (int32_t i = 0; i < i0; i++)
            {
                v[i] = 0;
            }
            int32_t i = i0;
            for (; i + 4 <= i1; i += 4, src += 4 * c_in)
            {
                v[i] = (int16_t)(src[0] + in_off);
                v[i + 1] = (int16_t)(src[c_in] + in_off);
                v[i + 2] = (int16_t)(src[2 * c_in] + in_off);
                v[i + 3] = (int16_t)(src[3 * c_in] + in_off);
            }
            for (; i < i1; i++, src += c_in)
            {
                v[i] = (int16_t)(*src + in_off);
            }
            for (i = i1 > i0 ? i1 : i0; i < n; i++)
            {
                v[i] = 0;
            }
            const int8_t *f = filter + ky * 3 * c_in + c;
            const uint32_t w01 = ((uint32_t)(uint16_t)(int16_t)f[0]) | ((uint32_t)(uint16_t)(int16_t)f[c_in] << 16);
            const uint32_t w2 = (uint32_t)(uint16_t)(int16_t)f[2 * c_in];
            /* the first valid row starts from the bias, the others add to the row's sums */
            if (first)
            {
                dw_row_taps(v, w01, w2, &b, 0, acc, out_w);
            }
            else
            {
                dw_row_taps(v, w01, w2, acc, 1, acc, out_w);
            }
            first = 0;
        }
        if (first)
        {
            for (int32_t x = 0; x < out_w; x++)
            {
                acc[x] = b;
            }
        }
        soi_nn_requant_store_s8(acc, out_w, os->mult[c], os->shift[c], out + c, c_in, os->out_offset, os->act_min,
                                os->act_max);
    }
}
#endif

#if defined(SOI_NN_MVE)
/* One tap into 4 channels' accumulator: int8 loads widened to int32 lanes, the input offset added,
 * VMUL + VADD (MVE has no vector-by-vector VMLA). `full` (a constant after inlining): all 4 lanes are
 * channels, so no predicate is set in the tap loop. */
static inline __attribute__((always_inline)) int32x4_t dw_tap_mve(int32x4_t a, const int8_t *x, const int8_t *w,
                                                                 int32_t in_off, mve_pred16_t pr, const int full)
{
    const int32x4_t xv = full ? vldrbq_s32(x) : vldrbq_z_s32(x, pr);
    const int32x4_t wv = full ? vldrbq_s32(w) : vldrbq_z_s32(w, pr);
    return vaddq_s32(a, vmulq_s32(vaddq_n_s32(xv, in_off), wv));
}

/* Every tap of the window into 16 channels' accumulators a[0..3]. */
static inline __attribute__((always_inline)) void dw_window_mve(int32x4_t a[4], const int8_t *row, const int8_t *frow,
                                                               int32_t rows, int32_t cols, int32_t row_step,
                                                               int32_t f_row, int32_t x_step, int32_t c,
                                                               int32_t in_off, const mve_pred16_t pr[4], const int full)
{
    int32x4_t a0 = a[0], a1 = a[1], a2 = a[2], a3 = a[3]; /* in registers through the loops */
    for (int32_t ky = 0; ky < rows; ky++, row += row_step, frow += f_row)
    {
        const int8_t *x = row, *w = frow;
        for (int32_t kx = 0; kx < cols; kx++, x += x_step, w += c)
        {
            a0 = dw_tap_mve(a0, x, w, in_off, pr[0], full);
            a1 = dw_tap_mve(a1, x + 4, w + 4, in_off, pr[1], full);
            a2 = dw_tap_mve(a2, x + 8, w + 8, in_off, pr[2], full);
            a3 = dw_tap_mve(a3, x + 12, w + 12, in_off, pr[3], full);
        }
    }
    a[0] = a0;
    a[1] = a1;
    a[2] = a2;
    a[3] = a3;
}

/* One output pixel of a ch_mult 1 depthwise conv on MVE: 16 channels at a time in four vectors of
 * int32 lanes, every tap of the window, then TFLite's requantization per channel as vectors. The same
 * int32 sums and the same requantization as the scalar path, lane by lane. */
static void dw_pixel_mve(const int8_t *in_b, int32_t in_w, int32_t c, const int8_t *filter, int32_t kw,
                         const int32_t *bias, const cmsis_nn_dw_conv_params *p, const soi_nn_out_stage *os,
                         int32_t iy0, int32_t ky0, int32_t ky1, int32_t ix0, int32_t kx0, int32_t kx1, int8_t *out)
{
    const int32x4_t vmin = vdupq_n_s32(os->act_min), vmax = vdupq_n_s32(os->act_max);
    const int32_t in_off = p->input_offset;
    const int32_t x_step = p->dilation.w * c, row_step = p->dilation.h * in_w * c, f_row = kw * c;
    for (int32_t c0 = 0; c0 < c; c0 += 16)
    {
        const int32_t n = c - c0;
        const mve_pred16_t pr[4] = {vctp32q((uint32_t)n), vctp32q((uint32_t)(n > 4 ? n - 4 : 0)),
                                    vctp32q((uint32_t)(n > 8 ? n - 8 : 0)), vctp32q((uint32_t)(n > 12 ? n - 12 : 0))};
        int32x4_t acc[4];
        for (int32_t k = 0; k < 4; k++)
        {
            acc[k] = bias != NULL ? vldrwq_z_s32(bias + c0 + 4 * k, pr[k]) : vdupq_n_s32(0);
        }
        const int8_t *row = in_b + ((iy0 + ky0 * p->dilation.h) * in_w + ix0 + kx0 * p->dilation.w) * c + c0;
        const int8_t *frow = filter + ky0 * f_row + kx0 * c + c0;
        if (n >= 16)
        {
            dw_window_mve(acc, row, frow, ky1 - ky0, kx1 - kx0, row_step, f_row, x_step, c, in_off, pr, 1);
        }
        else
        {
            dw_window_mve(acc, row, frow, ky1 - ky0, kx1 - kx0, row_step, f_row, x_step, c, in_off, pr, 0);
        }
        for (int32_t k = 0; k < 4 && 4 * k < n; k++)
        {
            const int32_t ch = c0 + 4 * k;
            int32x4_t v = soi_mve_requant_lanes(acc[k], vldrwq_z_s32(os->mult + ch, pr[k]),
                                                vldrwq_z_s32(os->shift + ch, pr[k]));
            v = vminq_s32(vmaxq_s32(vaddq_n_s32(v, os->out_offset), vmin), vmax);
            vstrbq_p_s32(out + ch, v, pr[k]);
        }
    }
}
#endif

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
    if (soi_nn_dw_column_applies(p, input_dims, filter_dims, output_dims))
    {
        /* one frequency bin: taps in time only (Conv1d models) */
        soi_nn_dw_column(p, input_dims, input_data, filter_dims, filter_data, bias_data, &os, output_data);
        return ARM_CMSIS_NN_SUCCESS;
    }
    for (int32_t b = 0; b < input_dims->n; b++)
    {
        const int8_t *in_b = input_data + b * in_h * in_w * c_in;
        int8_t *out = output_data + b * out_h * out_w * c_out;
#if defined(SOI_NN_DSP)
        if (cm == 1 && kw == 3 && p->stride.w == 1 && p->dilation.w == 1 && out_w <= SOI_DW_ROW_MAX)
        {
            for (int32_t oy = 0; oy < out_h; oy++)
            {
                dw_row3_dsp(in_b, in_h, in_w, c_in, filter_data, kh, bias_data, p, &os, oy, out_w,
                            out + oy * out_w * c_out);
            }
            continue;
        }
#endif
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
#if defined(SOI_NN_DSP)
                if (cm == 1)
                {
                    dw_pixel_dsp(in_b, in_w, c_in, filter_data, kw, bias_data, p, &os, iy0, ky0, ky1, ix0, kx0, kx1,
                                 out);
                    continue;
                }
#endif
#if defined(SOI_NN_MVE)
                if (cm == 1)
                {
                    dw_pixel_mve(in_b, in_w, c_in, filter_data, kw, bias_data, p, &os, iy0, ky0, ky1, ix0, kx0, kx1,
                                 out);
                    continue;
                }
#endif
                if (cm == 1)
                {
                    /* Channels innermost: contiguous input / filter runs per tap, accumulators for up to
                     * SOI_DW_CHUNK channels at a time on the stack. */
                    for (int32_t c0 = 0; c0 < c_out; c0 += SOI_DW_CHUNK)
                    {
                        const int32_t nc = c_out - c0 < SOI_DW_CHUNK ? c_out - c0 : SOI_DW_CHUNK;
                        int32_t acc[SOI_DW_CHUNK];
                        for (int32_t c = 0; c < nc; c++)
                        {
                            acc[c] = bias_data != NULL ? bias_data[c0 + c] : 0;
                        }
                        for (int32_t ky = ky0; ky < ky1; ky++)
                        {
                            const int8_t *row = in_b + ((iy0 + ky * p->dilation.h) * in_w + ix0) * c_in + c0;
                            const int8_t *frow = filter_data + ky * kw * c_out + c0;
                            for (int32_t kx = kx0; kx < kx1; kx++)
                            {
                                dw_tap(acc, row + kx * p->dilation.w * c_in, frow + kx * c_out, nc, p->input_offset);
                            }
                        }
                        for (int32_t c = 0; c < nc; c++)
                        {
                            out[c0 + c] = soi_nn_output(&os, c0 + c, acc[c]);
                        }
                    }
                    continue;
                }
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
