/* im2col for the convolution core: gathers the receptive field of one output pixel into scratch.
 * C / DSP: int16 pair layout with input_offset added (see soi_nn_support.h); the matrix kernel then
 * feeds it to SMLAD without any per-use conversion. MVE: plain int8 (soi_nn_im2col_s8).
 * Runs are as long as possible (a whole filter row when dilation_w == 1 and there are no groups), and
 * whole 4-value groups are converted a word at a time, so the gather costs ~2-3 instructions per value. */
#include "soi_nn_support.h"

/* Byte offset of value t of column `col` inside the pair layout. The (0, 2, 1, 3) order inside a
 * group matches SXTB16 of a filter word: low lanes = bytes 0 and 2, high lanes = bytes 1 and 3. */
/* Longest column (K) gathered through a stack buffer first (see soi_nn_im2col_s16). */
#define SOI_IM2COL_SMALL_K 256

static inline int32_t pair_pos(int32_t t, int32_t col, int32_t k, int32_t k4)
{
    static const uint8_t perm[4] = {0u, 2u, 1u, 3u};
    if (t < k4)
    {
        return (t >> 2) * 16 + col * 8 + (int32_t)perm[t & 3] * 2;
    }
    return 4 * k4 + (col * (k - k4) + (t - k4)) * 2;
}

static inline void put_s16(uint8_t *cols, int32_t pos, int32_t v)
{
    const int16_t s = (int16_t)v;
    memcpy(cols + pos, &s, 2);
}

/* Whole groups: 4 int8 -> two words of int16 (+offset) per group, 16 bytes apart per group. */
static void put_groups(uint32_t *dst, const int8_t *src, int32_t groups, int32_t off)
{
    if (src == NULL)
    {
        for (; groups > 0; groups--, dst += 4)
        {
            dst[0] = 0u;
            dst[1] = 0u;
        }
        return;
    }
#if defined(SOI_NN_DSP)
    const uint32_t off2 = ((uint32_t)off & 0xFFFFu) | ((uint32_t)off << 16);
    for (; groups > 0; groups--, dst += 4, src += 4)
    {
        const uint32_t w = soi_read_u32(src);
        dst[0] = soi_sadd16(soi_sxtb16(w), off2);
        dst[1] = soi_sadd16(soi_sxtb16_ror8(w), off2);
    }
#else
    for (; groups > 0; groups--, dst += 4, src += 4)
    {
        int16_t v[4] = {(int16_t)(src[0] + off), (int16_t)(src[2] + off), (int16_t)(src[1] + off),
                        (int16_t)(src[3] + off)};
        memcpy(dst, v, 8);
    }
#endif
}

/* Writes the run src[0..n) (+offset) or n padding zeros (src NULL) as values t0..t0+n of column col:
 * scalar head up to a group boundary, whole groups, scalar tail. */
static void put_run(uint8_t *cols, int32_t col, int32_t k, int32_t k4, int32_t t0, const int8_t *src, int32_t n,
                    int32_t off)
{
    int32_t i = 0;
    for (; i < n && ((t0 + i) & 3) != 0; i++)
    {
        put_s16(cols, pair_pos(t0 + i, col, k, k4), src ? src[i] + off : 0);
    }
    int32_t groups = (n - i) >> 2;
    const int32_t room = (k4 - (t0 + i)) >> 2;
    groups = groups < room ? groups : room;
    if (groups > 0)
    {
        put_groups((uint32_t *)(void *)(cols + ((t0 + i) >> 2) * 16 + col * 8), src ? src + i : NULL, groups, off);
        i += 4 * groups;
    }
    for (; i < n; i++)
    {
        put_s16(cols, pair_pos(t0 + i, col, k, k4), src ? src[i] + off : 0);
    }
}

void soi_nn_im2col_s16(uint8_t *cols,
                       int32_t col,
                       const int8_t *in,
                       const cmsis_nn_dims *in_dims,
                       const cmsis_nn_conv_params *p,
                       int32_t kh,
                       int32_t kw,
                       int32_t c0,
                       int32_t cg,
                       int32_t oy,
                       int32_t ox)
{
    const int32_t k = kh * kw * cg;
    const int32_t k4 = k & ~3;
    const int32_t in_w = in_dims->w, in_c = in_dims->c;
    const int32_t dw = p->dilation.w, ix0 = ox * p->stride.w - p->padding.w;
    /* Valid tap range in x: kx in [kx0, kx1). */
    int32_t kx0 = 0, kx1 = kw;
    while (kx0 < kw && ix0 + kx0 * dw < 0)
    {
        kx0++;
    }
    while (kx1 > kx0 && ix0 + (kx1 - 1) * dw >= in_w)
    {
        kx1--;
    }
    const int contiguous = dw == 1 && cg == in_c;
    if (contiguous && kx0 == 0 && kx1 == kw && k <= SOI_IM2COL_SMALL_K)
    {
        /* Short columns (few input channels): the per-run head / tail handling would dominate, so the
         * int8 column is first gathered contiguously (rows outside the input hold the zero point,
         * which the offset turns into 0), then converted a whole group at a time. */
        uint32_t tmp_w[SOI_IM2COL_SMALL_K / 4];
        int8_t *tmp = (int8_t *)tmp_w;
        const int8_t pad = (int8_t)(-p->input_offset);
        const int32_t run = kw * cg;
        int8_t *dst = tmp;
        for (int32_t ky = 0; ky < kh; ky++, dst += run)
        {
            const int32_t iy = oy * p->stride.h - p->padding.h + ky * p->dilation.h;
            if (iy < 0 || iy >= in_dims->h)
            {
                for (int32_t i = 0; i < run; i++)
                {
                    dst[i] = pad;
                }
                continue;
            }
            const int8_t *src = in + (iy * in_w + ix0) * in_c + c0;
            int32_t i = 0;
            for (; i + 4 <= run; i += 4)
            {
                soi_write_u32(dst + i, soi_read_u32(src + i));
            }
            for (; i < run; i++)
            {
                dst[i] = src[i];
            }
        }
        if (k4 > 0)
        {
            put_groups((uint32_t *)(void *)(cols + col * 8), tmp, k4 >> 2, p->input_offset);
        }
        for (int32_t t = k4; t < k; t++)
        {
            put_s16(cols, pair_pos(t, col, k, k4), tmp[t] + p->input_offset);
        }
        return;
    }
    int32_t t = 0;
    for (int32_t ky = 0; ky < kh; ky++, t += kw * cg)
    {
        const int32_t iy = oy * p->stride.h - p->padding.h + ky * p->dilation.h;
        if (iy < 0 || iy >= in_dims->h || kx0 == kx1)
        {
            put_run(cols, col, k, k4, t, NULL, kw * cg, 0);
            continue;
        }
        const int8_t *row = in + iy * in_w * in_c + c0;
        put_run(cols, col, k, k4, t, NULL, kx0 * cg, 0);
        if (contiguous)
        {
            put_run(cols, col, k, k4, t + kx0 * cg, row + (ix0 + kx0) * in_c, (kx1 - kx0) * cg, p->input_offset);
        }
        else
        {
            for (int32_t kx = kx0; kx < kx1; kx++)
            {
                put_run(cols, col, k, k4, t + kx * cg, row + (ix0 + kx * dw) * in_c, cg, p->input_offset);
            }
        }
        put_run(cols, col, k, k4, t + kx1 * cg, NULL, (kw - kx1) * cg, 0);
    }
}

#if defined(SOI_NN_MVE)
#define copy_s8 soi_mve_copy_s8
#define fill_s8 soi_mve_fill_s8
#else
static inline void copy_s8(int8_t *dst, const int8_t *src, int32_t n) { memcpy(dst, src, (size_t)n); }
static inline void fill_s8(int8_t *dst, int8_t v, int32_t n) { memset(dst, v, (size_t)n); }
#endif

/* MVE: column of K int8 values without offset; padding is -input_offset (= input zero point, always
 * representable) so that (pad + input_offset) contributes 0 once the offset is folded in via sum(w).
 * With dilation_w 1 and no groups, the valid taps of a filter row are one contiguous run of the input. */
void soi_nn_im2col_s8(int8_t *dst,
                      const int8_t *in,
                      const cmsis_nn_dims *in_dims,
                      const cmsis_nn_conv_params *p,
                      int32_t kh,
                      int32_t kw,
                      int32_t c0,
                      int32_t cg,
                      int32_t oy,
                      int32_t ox)
{
    const int8_t pad = (int8_t)(-p->input_offset);
    const int32_t in_w = in_dims->w, in_c = in_dims->c;
    const int32_t dw = p->dilation.w, ix0 = ox * p->stride.w - p->padding.w;
    int32_t kx0 = 0, kx1 = kw;
    while (kx0 < kw && ix0 + kx0 * dw < 0)
    {
        kx0++;
    }
    while (kx1 > kx0 && ix0 + (kx1 - 1) * dw >= in_w)
    {
        kx1--;
    }
    const int contiguous = dw == 1 && cg == in_c;
    for (int32_t ky = 0; ky < kh; ky++, dst += kw * cg)
    {
        const int32_t iy = oy * p->stride.h - p->padding.h + ky * p->dilation.h;
        if (iy < 0 || iy >= in_dims->h || kx0 == kx1)
        {
            fill_s8(dst, pad, kw * cg);
            continue;
        }
        const int8_t *row = in + iy * in_w * in_c + c0;
        fill_s8(dst, pad, kx0 * cg);
        if (contiguous)
        {
            copy_s8(dst + kx0 * cg, row + (ix0 + kx0) * in_c, (kx1 - kx0) * cg);
        }
        else
        {
            for (int32_t kx = kx0; kx < kx1; kx++)
            {
                copy_s8(dst + kx * cg, row + (ix0 + kx * dw) * in_c, cg);
            }
        }
        fill_s8(dst + kx1 * cg, pad, (kw - kx1) * cg);
    }
}
