/* C / DSP: direct ("sliding window") convolution for KW = 3, stride_w 1, dilation_w 1, no groups and
 * C_IN a multiple of 8, the shape of a streaming step (input H = time window, output H = 1, short W).
 *
 * Instead of an im2col column per output pixel, each input value is converted to int16 (+ input offset)
 * once per block of 8 output columns, and every loaded input word feeds up to 3 output columns (the 3
 * taps of a filter row). Per output channel and channel pair (one SMLAD lane), the 3 tap weights stay in
 * registers while a row of 10 input words streams past 8 accumulators: 24 SMLAD (48 MACs) for 10 input
 * loads. The int8 filter is read in place (CMSIS-NN layout): a chunk of 8, 16 or 32 input channels x 3 taps
 * (6, 12 or 24 words) is loaded into FPU registers s0-s23 with VLDM and moved to core registers with single
 * VMOVs (1 cycle each), which frees the weight pointer register for the 8th accumulator (those kernels:
 * soi_nn_conv_row_asm.c; the C one, for the host and unaligned filters, is here).
 *
 * Scratch layout for one block (SOI_ROW_WORDS words per filter row and channel pair): for filter row ky,
 * channel group g (channels 4g..4g+3), lane l (0: channels 4g, 4g+2; 1: 4g+1, 4g+3, i.e. SXTB16 of a
 * filter word and SXTB16 ROR 8), word i (0..9) = input column ix0 + i as int16 pair (+ offset; 0 for
 * padding), low half = the lower channel. Blocks past out_w compute on padding and are not stored. */
#include "soi_nn_conv_row_internal.h"

/* Scratch of soi_nn_conv_row for a KH x KW filter (0 where it does not apply); the same for every ISA so
 * that the size functions agree with their twins. */
int32_t soi_nn_conv_row_buffer_size(int32_t kh, int32_t kw, int32_t cin)
{
    if (kw != 3 || kh < 1 || kh > 8 || cin <= 0 || cin % 8 != 0)
    {
        return 0;
    }
    /* Block layout (kh rows x cin/2 lanes x 10 words) + 4 bytes to align it. */
    return kh * (cin / 2) * (8 + 2) * 4 + 4;
}

#if defined(SOI_NN_DSP)

/* The same computation in C (host DSP emulation, -DSOI_NN_NO_ASM, unaligned filters). */
static void row8_c(const soi_row_args *a)
{
    const int32_t cin = a->cin, k = a->kh * 3 * cin, st = a->stride;
    const int32_t cols = st == 1 ? SOI_ROW_COLS : SOI_ROW_COLS_S2;
    const int32_t words = st == 1 ? SOI_ROW_WORDS : SOI_ROW_WORDS_S2;
    for (int32_t m = 0; m < a->nm; m++)
    {
        int32_t acc[SOI_ROW_COLS];
        for (int32_t j = 0; j < SOI_ROW_COLS; j++)
        {
            acc[j] = a->bias[m];
        }
        const uint32_t *x = a->x;
        for (int32_t ky = 0; ky < a->kh; ky++)
        {
            const int8_t *wr = a->w + m * k + ky * 3 * cin;
            for (int32_t g = 0; g < cin / 4; g++)
            {
                const uint32_t r0 = soi_read_u32(wr + 4 * g);
                const uint32_t r1 = soi_read_u32(wr + cin + 4 * g);
                const uint32_t r2 = soi_read_u32(wr + 2 * cin + 4 * g);
                for (int32_t lane = 0; lane < 2; lane++, x += words)
                {
                    const uint32_t w0 = lane ? soi_sxtb16_ror8(r0) : soi_sxtb16(r0);
                    const uint32_t w1 = lane ? soi_sxtb16_ror8(r1) : soi_sxtb16(r1);
                    const uint32_t w2 = lane ? soi_sxtb16_ror8(r2) : soi_sxtb16(r2);
                    for (int32_t j = 0; j < cols; j++)
                    {
                        int32_t s = soi_smlad(w0, x[st * j], acc[j]);
                        s = soi_smlad(w1, x[st * j + 1], s);
                        acc[j] = soi_smlad(w2, x[st * j + 2], s);
                    }
                }
            }
        }
        memcpy(a->acc + m * SOI_ROW_COLS, acc, sizeof(acc));
    }
}

/* Fills the block layout (wl words per lane) for input columns ix0 .. ix0 + wl - 1 of the rows iy[0..kh)
 * (-1: padding row). */
static inline __attribute__((always_inline)) void build_block(uint32_t *x,
                                                 const int8_t *in_b,
                                                 int32_t in_w,
                                                 int32_t cin,
                                                 int32_t kh,
                                                 const int32_t *iy,
                                                 int32_t ix0,
                                                 int32_t in_off,
                                                 int32_t wl)
{
    const uint32_t off2 = ((uint32_t)in_off & 0xFFFFu) | ((uint32_t)in_off << 16);
    const int32_t groups = cin / 4;
    const int32_t row_words = groups * 2 * wl;
    /* Valid columns i in [i0, i1). */
    const int32_t i0 = ix0 < 0 ? -ix0 : 0;
    const int32_t i1 = in_w - ix0 < wl ? in_w - ix0 : wl;
    for (int32_t ky = 0; ky < kh; ky++, x += row_words)
    {
        if (iy[ky] < 0 || i0 >= i1)
        {
            memset(x, 0, (size_t)row_words * 4u);
            continue;
        }
        /* Padding columns at the edges (strided stores, one column at a time). */
        for (int32_t i = 0; i < wl; i++)
        {
            if (i == i0)
            {
                i = i1;
                if (i >= wl)
                {
                    break;
                }
            }
            for (uint32_t *d = x + i; d < x + row_words; d += wl)
            {
                *d = 0u;
            }
        }
        const int8_t *src0 = in_b + (iy[ky] * in_w + ix0 + i0) * cin;
        /* 16 channels (4 groups, 8 lanes) per pass, columns inner; a last pass of 8 when cin % 16 == 8. */
        const int32_t cin16 = cin & ~15;
        for (int32_t c = 0; c < cin16; c += 16)
        {
            const int8_t *src = src0 + c;
            uint32_t *d = x + (c / 4) * 2 * wl + i0;
            for (int32_t i = i0; i < i1; i++, src += cin, d++)
            {
                const uint32_t v0 = soi_read_u32(src), v1 = soi_read_u32(src + 4);
                const uint32_t v2 = soi_read_u32(src + 8), v3 = soi_read_u32(src + 12);
                d[0] = soi_sadd16(soi_sxtb16(v0), off2);
                d[wl] = soi_sadd16(soi_sxtb16_ror8(v0), off2);
                d[2 * wl] = soi_sadd16(soi_sxtb16(v1), off2);
                d[3 * wl] = soi_sadd16(soi_sxtb16_ror8(v1), off2);
                d[4 * wl] = soi_sadd16(soi_sxtb16(v2), off2);
                d[5 * wl] = soi_sadd16(soi_sxtb16_ror8(v2), off2);
                d[6 * wl] = soi_sadd16(soi_sxtb16(v3), off2);
                d[7 * wl] = soi_sadd16(soi_sxtb16_ror8(v3), off2);
            }
        }
        if (cin16 != cin)
        {
            const int8_t *src = src0 + cin16;
            uint32_t *d = x + (cin16 / 4) * 2 * wl + i0;
            for (int32_t i = i0; i < i1; i++, src += cin, d++)
            {
                const uint32_t v0 = soi_read_u32(src), v1 = soi_read_u32(src + 4);
                d[0] = soi_sadd16(soi_sxtb16(v0), off2);
                d[wl] = soi_sadd16(soi_sxtb16_ror8(v0), off2);
                d[2 * wl] = soi_sadd16(soi_sxtb16(v1), off2);
                d[3 * wl] = soi_sadd16(soi_sxtb16_ror8(v1), off2);
            }
        }
    }
}

/* build_block with the word count of each stride as a constant. */
static __attribute__((noinline)) void build_block_s1(uint32_t *x, const int8_t *in_b, int32_t in_w, int32_t cin,
                                                    int32_t kh, const int32_t *iy, int32_t ix0, int32_t in_off)
{
    build_block(x, in_b, in_w, cin, kh, iy, ix0, in_off, SOI_ROW_WORDS);
}

static __attribute__((noinline)) void build_block_s2(uint32_t *x, const int8_t *in_b, int32_t in_w, int32_t cin,
                                                    int32_t kh, const int32_t *iy, int32_t ix0, int32_t in_off)
{
    build_block(x, in_b, in_w, cin, kh, iy, ix0, in_off, SOI_ROW_WORDS_S2);
}

/* Requantizes and stores the nm channels x n columns of one kernel call (accumulators 8 apart). */
static __attribute__((noinline)) void requant_block(const int32_t *acc,
                                                   int32_t nm,
                                                   int32_t n,
                                                   const int32_t *mult,
                                                   const int32_t *shift,
                                                   int8_t *o,
                                                   int32_t step,
                                                   const cmsis_nn_conv_params *p)
{
    const int32_t off = p->output_offset, lo = p->activation.min, hi = p->activation.max;
    for (int32_t m = 0; m < nm; m++)
    {
        soi_nn_requant_store_s8(acc + m * SOI_ROW_COLS, n, mult[m], shift[m], o + m, step, off, lo, hi);
    }
}

int soi_nn_conv_row(const cmsis_nn_context *ctx,
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
    const int32_t cin = in_dims->c, cout = out_dims->c, kh = f_dims->h;
    const int32_t need = soi_nn_conv_row_buffer_size(kh, f_dims->w, f_dims->c);
    const int32_t st = p->stride.w;
    if (need == 0 || f_dims->c != cin || (st != 1 && st != 2) || p->dilation.w != 1 ||
        out_dims->w < (st == 1 ? 4 : 2) || ctx == NULL || ctx->buf == NULL || ctx->size < need)
    {
        return 0;
    }
    const int32_t cols = st == 1 ? SOI_ROW_COLS : SOI_ROW_COLS_S2;
    uint32_t *x = (uint32_t *)(((uintptr_t)ctx->buf + 3u) & ~(uintptr_t)3u);
    const int32_t k = kh * 3 * cin;
    int32_t acc[SOI_ROW_CH * SOI_ROW_COLS];
    int32_t zeros[SOI_ROW_CH] = {0};
    int32_t iy[8];
    soi_row_args a;
    a.x = x;
    a.acc = acc;
    a.cin = cin;
    a.kh = kh;
    a.stride = st;
#if defined(SOI_ROW_ASM)
    const int use_asm = ((uintptr_t)filter & 3u) == 0u;
#endif
    for (int32_t b = 0; b < in_dims->n; b++)
    {
        const int8_t *in_b = in + b * in_dims->h * in_dims->w * cin;
        for (int32_t oy = 0; oy < out_dims->h; oy++)
        {
            for (int32_t ky = 0; ky < kh; ky++)
            {
                const int32_t y = oy * p->stride.h - p->padding.h + ky * p->dilation.h;
                iy[ky] = y >= 0 && y < in_dims->h ? y : -1;
            }
            int8_t *out_row = out + ((b * out_dims->h + oy) * out_dims->w) * cout;
            for (int32_t ox0 = 0; ox0 < out_dims->w; ox0 += cols)
            {
                const int32_t ncols = out_dims->w - ox0 < cols ? out_dims->w - ox0 : cols;
                (st == 1 ? build_block_s1 : build_block_s2)(x, in_b, in_dims->w, cin, kh, iy, ox0 * st - p->padding.w,
                                                            p->input_offset);
                for (int32_t m0 = 0; m0 < cout; m0 += SOI_ROW_CH)
                {
                    const int32_t nm = cout - m0 < SOI_ROW_CH ? cout - m0 : SOI_ROW_CH;
                    a.w = filter + m0 * k;
                    a.bias = bias != NULL ? bias + m0 : zeros;
                    a.nm = nm;
#if defined(SOI_ROW_ASM)
                    if (use_asm)
                    {
                        if (st == 1)
                        {
                            if (cin % 32 == 0)
                            {
                                soi_nn_row8_g8(&a);
                            }
                            else if (cin % 16 == 0)
                            {
                                soi_nn_row8_g4(&a);
                            }
                            else
                            {
                                soi_nn_row8_g2(&a);
                            }
                        }
                        else if (cin % 32 == 0)
                        {
                            soi_nn_row4s2_g8(&a);
                        }
                        else if (cin % 16 == 0)
                        {
                            soi_nn_row4s2_g4(&a);
                        }
                        else
                        {
                            soi_nn_row4s2_g2(&a);
                        }
                    }
                    else
#endif
                    {
                        row8_c(&a);
                    }
                    requant_block(acc, nm, ncols, q->multiplier + m0, q->shift + m0, out_row + ox0 * cout + m0, cout,
                                  p);
                }
            }
        }
    }
    return 1;
}

#endif
