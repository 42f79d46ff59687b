/* soi_conv_s16w_s8 (see the header): direct convolution over blocks of C output columns (C = 3..6).
 *
 * For one block, every input value of the window is converted once to int16 into the block layout: lane
 * k = (ky, g, l) in the stream's order holds C + 2 words, word i = input column ix0 - pad + i, channels
 * (4g + l, 4g + l + 2) as an int16 pair (-input_offset where the column is padding, which the offset folded
 * into the stream's start value turns into 0). One lane of one output channel is then, per column j,
 * acc[j] += SMLAD(tap0, x[j]) + SMLAD(tap1, x[j+1]) + SMLAD(tap2, x[j+2]): 3C SMLAD for C + 2 input words
 * and 3 tap words.
 *
 * This file: the public functions (the shapes it takes and the scratch size; the call), with the driver,
 * which builds each block's layout (soi_conv_s16w_block.c; the folded one here) and runs the lanes in
 * assembly (soi_conv_s16w_asm.c, with their cycle budget) or in C (lanes_c, here), then the activation
 * clamp. The size query stays in this file because the driver calls it: GCC compiles the call knowing
 * which registers the function uses (-fipa-ra), and in another file the driver's code would change. */
#include "soi_conv_s16w_internal.h"

/* Fewer than 4 input channels (an input spectrogram's 1, say): the filter rows are folded into the
 * channels, virtual channel v = ky * cin + c of a single row, padded with zero taps to a multiple of 4
 * (soi_mcu/ops/s16w_layout.py does the same with the filter). */
#define S16W_MAX_FOLDED 16

static int folded(const cmsis_nn_dims *in)
{
    return in->c % 4 != 0;
}

/* Lanes of one block: 2 per 4 (virtual) channels of each filter row. */
static int32_t lanes_of(const cmsis_nn_dims *in, const cmsis_nn_dims *f)
{
    return folded(in) ? (f->h * in->c + 3) / 4 * 2 : f->h * in->c / 2;
}

static int supported(const cmsis_nn_conv_params *p, const cmsis_nn_dims *in, const cmsis_nn_dims *f)
{
    /* a 1-wide filter runs as a 3-wide one with zero outer taps (s16w_stream), its window one column wider
     * on each side than the unpadded input */
    const int width_ok = f->w == 3 || (f->w == 1 && p->padding.w == 0);
    return width_ok && f->c == in->c && in->c > 0 && (in->c % 4 == 0 || f->h * in->c <= S16W_MAX_FOLDED) &&
           f->h >= 1 && f->h <= 16 && p->stride.w == 1 && p->dilation.w == 1 && p->stride.h >= 1 &&
           p->dilation.h >= 1;
}

int32_t soi_conv_s16w_s8_get_buffer_size(const cmsis_nn_conv_params *conv_params,
                                         const cmsis_nn_dims *input_dims,
                                         const cmsis_nn_dims *filter_dims)
{
    if (!supported(conv_params, input_dims, filter_dims))
    {
        return 0;
    }
    /* the block layout, plus alignment */
    return lanes_of(input_dims, filter_dims) * (S16W_MAX_COLS + 2) * 4 + 4;
}

static inline int32_t smlad(uint32_t a, uint32_t b, int32_t acc)
{
#if defined(__ARM_FEATURE_DSP)
    return __smlad(a, b, acc);
#else
    const int32_t p0 = (int32_t)(int16_t)(a & 0xFFFFu) * (int16_t)(b & 0xFFFFu);
    const int32_t p1 = (int32_t)(int16_t)(a >> 16) * (int16_t)(b >> 16);
    return (int32_t)((uint32_t)acc + (uint32_t)p0 + (uint32_t)p1);
#endif
}

/* The stream's requantization: acc is 2x the TFLite accumulator, so SMMULR(acc, mult) = (acc/2 * mult +
 * 2^30) >> 31 = h, TFLite's rounding doubling high multiply (exact: s16w_stream keeps |acc/2| < 2^30);
 * the rounding divide by 2^r (halves away from zero) and the output offset fold into
 * (h - [h < 0] + 2^(r-1) + output_offset * 2^r) >> r, then saturation to int8. The assembly takes
 * [acc < 0] for [h < 0] (SMMLAR then adds the whole constant): with mult >= 0 they differ only where
 * h = 0, and there both give (2^(r-1) - 1 or 2^(r-1)) >> r = 0. */
static inline int32_t requantize(int32_t acc, const int32_t *rq)
{
#if defined(__ARM_FEATURE_DSP)
    int32_t h;
    __asm__("smmulr %0, %1, %2" : "=r"(h) : "r"(acc), "r"(rq[0]));
#else
    const int32_t h = (int32_t)(((int64_t)acc * rq[0] + 0x80000000LL) >> 32);
#endif
    const int32_t v = (h + (h >> 31) + rq[1]) >> rq[2];
    return v < -128 ? -128 : (v > 127 ? 127 : v);
}

/* The lane kernels in C (hosts, cores without DSP, SOI_NN_NO_ASM, blocks wider than the frame): every
 * output channel of a block of cols columns, the first n stored. */
static void lanes_c(const s16w_args *a, int32_t cols, int32_t n)
{
    const int32_t *s = a->s;
    for (int32_t m = 0; m < a->nchan; m++)
    {
        int32_t acc[S16W_MAX_COLS];
        for (int32_t j = 0; j < cols; j++)
        {
            acc[j] = s[0];
        }
        const uint32_t *w = (const uint32_t *)(const void *)(s + 1);
        const uint32_t *x = a->x;
        for (int32_t k = 0; k < a->lanes; k++, w += 3, x += cols + 2)
        {
            for (int32_t j = 0; j < cols; j++)
            {
                acc[j] = smlad(w[2], x[j + 2], smlad(w[1], x[j + 1], smlad(w[0], x[j], acc[j])));
            }
        }
        const int32_t *rq = (const int32_t *)(const void *)w;
        int8_t *d = a->out + m;
        for (int32_t j = 0; j < n; j++, d += a->step)
        {
            *d = (int8_t)requantize(acc[j], rq);
        }
        s = rq + 3;
    }
}

/* build_block (soi_conv_s16w_block.c) for folded rows: lane k = (g, l) holds virtual channels (4g + l, 4g + l + 2), one word per
 * input column; a virtual channel past kh * cin has zero taps (any value will do), padding holds
 * -input_offset. Small (lanes <= 8), so plain C. */
static void build_block_folded(uint32_t *x, const int8_t *in_b, int32_t in_w, int32_t cin, int32_t kh,
                               const int32_t *iy, int32_t ix0, uint32_t pad, int32_t wl, int32_t lanes)
{
    for (int32_t k = 0; k < lanes; k++, x += wl)
    {
        const int32_t v0 = 4 * (k / 2) + k % 2;
        for (int32_t i = 0; i < wl; i++)
        {
            const int32_t col = ix0 + i;
            uint32_t word = 0u;
            for (int32_t h = 0; h < 2; h++)
            {
                const int32_t v = v0 + 2 * h, ky = v / cin;
                uint32_t half = pad & 0xFFFFu;
                if (ky < kh && iy[ky] >= 0 && col >= 0 && col < in_w)
                {
                    half = (uint32_t)(int32_t)in_b[(iy[ky] * in_w + col) * cin + v % cin] & 0xFFFFu;
                }
                word |= half << (16 * h);
            }
            x[i] = word;
        }
    }
}

#if defined(S16W_DSP) && !defined(__ARM_FEATURE_DSP)
/* C model of the two SSUB8 + SEL below (the host under SOI_NN_EMULATE_DSP): each byte of v is kept where
 * it is >= lo's (else lo's) and then where hi's is >= it (else hi's), as signed bytes. */
static inline uint32_t clamp4(uint32_t v, uint32_t lo4, uint32_t hi4)
{
    uint32_t r = 0u;
    for (int i = 0; i < 32; i += 8)
    {
        const int8_t x = (int8_t)(v >> i), lo = (int8_t)(lo4 >> i), hi = (int8_t)(hi4 >> i);
        const int8_t y = x >= lo ? x : lo;
        r |= (uint32_t)(uint8_t)(hi >= y ? y : hi) << i;
    }
    return r;
}
#endif

/* Clamps n bytes to the activation range [lo, hi] (the kernels only saturate to int8); 4 at a time with
 * SSUB8 + SEL on the DSP cores. */
static void clamp_span(int8_t *o, int32_t n, int32_t lo, int32_t hi)
{
#if defined(S16W_DSP)
    const uint32_t lo4 = (uint32_t)(uint8_t)lo * 0x01010101u, hi4 = (uint32_t)(uint8_t)hi * 0x01010101u;
    for (; n >= 4; n -= 4, o += 4)
    {
#if defined(__ARM_FEATURE_DSP)
        uint32_t v = rd32(o), t;
        /* GE[i] where v[i] >= lo: keep v[i], else lo; then GE[i] where hi >= v[i]: keep v[i], else hi */
        __asm__("ssub8 %0, %1, %2\n\tsel %1, %1, %2" : "=&r"(t), "+r"(v) : "r"(lo4) : "cc");
        __asm__("ssub8 %0, %2, %1\n\tsel %1, %1, %2" : "=&r"(t), "+r"(v) : "r"(hi4) : "cc");
#else
        const uint32_t v = clamp4(rd32(o), lo4, hi4);
#endif
        memcpy(o, &v, 4);
    }
#endif
    for (; n > 0; n--, o++)
    {
        *o = (int8_t)(*o < lo ? lo : (*o > hi ? hi : *o));
    }
}

/* Output columns of the next block given how many are left: 6 wide, and the last 7..11 split as 4+3,
 * 5+3, 5+4, 5+5, 6+5, which the lanes' cycle budget (soi_conv_s16w_asm.c) favours over a 6 followed by a
 * narrow rest. Fewer than 3 left (a frame narrower than 3): a 3-wide block whose extra columns are
 * computed on padding and not stored. */
static int32_t block_cols(int32_t left)
{
    if (left >= 11 || left == 6)
    {
        return 6;
    }
    if (left >= 8)
    {
        return 5;
    }
    if (left == 7)
    {
        return 4;
    }
    return left >= 3 ? left : 3;
}

/* The stream's header matches the call. */
static int stream_matches(const int32_t *s, const cmsis_nn_conv_params *p, int32_t cout, int32_t lanes)
{
    return s[0] == SOI_S16W_MAGIC && s[1] == cout && s[2] == lanes && s[3] == p->input_offset &&
           s[4] == p->output_offset;
}

arm_cmsis_nn_status soi_conv_s16w_s8(const cmsis_nn_context *ctx,
                                     const cmsis_nn_conv_params *conv_params,
                                     const cmsis_nn_dims *input_dims,
                                     const int8_t *input,
                                     const cmsis_nn_dims *filter_dims,
                                     const int32_t *stream,
                                     const cmsis_nn_dims *output_dims,
                                     int8_t *output)
{
    const cmsis_nn_conv_params *p = conv_params;
    const int32_t need = soi_conv_s16w_s8_get_buffer_size(p, input_dims, filter_dims);
    const int32_t cin = input_dims->c, cout = output_dims->c, kh = filter_dims->h;
    const int32_t lanes = need == 0 ? 0 : lanes_of(input_dims, filter_dims);
    const int fold = folded(input_dims);
    const int32_t pad_w = filter_dims->w == 1 ? 1 : p->padding.w;
    if (need == 0 || ctx == NULL || ctx->buf == NULL || ctx->size < need || filter_dims->n != cout ||
        stream == NULL || ((uintptr_t)stream & 3u) != 0u || !stream_matches(stream, p, cout, lanes))
    {
        return ARM_CMSIS_NN_ARG_ERROR;
    }
    uint32_t *x = (uint32_t *)(((uintptr_t)ctx->buf + 3u) & ~(uintptr_t)3u);
    const uint32_t pad = ((uint32_t)-p->input_offset & 0xFFFFu) * 0x00010001u;
    const int clamp = p->activation.min > -128 || p->activation.max < 127;
    int32_t iy[16];
    s16w_args a;
    a.s = stream + SOI_S16W_HEADER_WORDS;
    a.x = x;
    a.lanes = lanes;
    a.nchan = cout;
    a.step = cout;
    for (int32_t b = 0; b < input_dims->n; b++)
    {
        const int8_t *in_b = input + b * input_dims->h * input_dims->w * cin;
        for (int32_t oy = 0; oy < output_dims->h; oy++)
        {
            for (int32_t ky = 0; ky < kh; ky++)
            {
                const int32_t y = oy * p->stride.h - p->padding.h + ky * p->dilation.h;
                iy[ky] = y >= 0 && y < input_dims->h ? y : -1;
            }
            int8_t *out_row = output + (b * output_dims->h + oy) * output_dims->w * cout;
            for (int32_t ox0 = 0; ox0 < output_dims->w;)
            {
                const int32_t left = output_dims->w - ox0;
                const int32_t cols = block_cols(left);
                const int32_t n = left < cols ? left : cols;
                static const s16w_build_fn build[4] = {soi_s16w_build_block_5, soi_s16w_build_block_6,
                                                        soi_s16w_build_block_7, soi_s16w_build_block_8};
                if (fold)
                {
                    build_block_folded(x, in_b, input_dims->w, cin, kh, iy, ox0 - pad_w, pad, cols + 2, lanes);
                }
                else
                {
                    build[cols - 3](x, in_b, input_dims->w, cin, kh, iy, ox0 - pad_w, pad);
                }
                a.out = out_row + ox0 * cout;
                ox0 += n;
#if defined(S16W_ASM)
                if (n == cols)
                {
                    static void (*const lanes_asm[4])(const s16w_args *) = {soi_s16w_c3, soi_s16w_c4, soi_s16w_c5,
                                                                           soi_s16w_c6};
                    lanes_asm[cols - 3](&a);
                    continue;
                }
#endif
                lanes_c(&a, cols, n);
            }
            if (clamp)
            {
                clamp_span(out_row, output_dims->w * cout, p->activation.min, p->activation.max);
            }
        }
    }
    return ARM_CMSIS_NN_SUCCESS;
}
