/* soi_conv_s16w_s8's block layout builders (the layout is described in soi_conv_s16w.c): the input
 * columns of one block converted once to int16 pairs, 16 channels per pass, one instance per block width
 * so that the lane offsets are immediates. The folded layout (fewer than 4 input channels) is built in
 * soi_conv_s16w.c, where it inlines into the driver. */
#include "soi_conv_s16w_internal.h"

/* int8 -> int16 pairs (bytes 0 and 2, bytes 1 and 3). */
static inline uint32_t pair_even(uint32_t v)
{
#if defined(__ARM_FEATURE_DSP)
    return (uint32_t)__sxtb16(v);
#else
    return ((uint32_t)(int32_t)(int8_t)(v & 0xFFu) & 0xFFFFu) | ((uint32_t)(int32_t)(int8_t)((v >> 16) & 0xFFu) << 16);
#endif
}

static inline uint32_t pair_odd(uint32_t v)
{
#if defined(__ARM_FEATURE_DSP)
    uint32_t r;
    __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(v));
    return r;
#else
    return pair_even(v >> 8);
#endif
}

/* Converts columns [i0, i1) of `nch` channels (a multiple of 4, at most 16) starting at src (columns cin
 * bytes apart) into the lanes at d (lane k at d + k * wl; word i of a lane at d + i). */
static inline __attribute__((always_inline)) void convert_columns(uint32_t *d,
                                                                 const int8_t *src,
                                                                 int32_t cin,
                                                                 int32_t nch,
                                                                 int32_t i0,
                                                                 int32_t i1,
                                                                 int32_t wl)
{
    d += i0;
    for (int32_t i = i0; i < i1; i++, src += cin, d++)
    {
        const uint32_t v0 = rd32(src);
        d[0] = pair_even(v0);
        d[wl] = pair_odd(v0);
        if (nch >= 8)
        {
            const uint32_t v1 = rd32(src + 4);
            d[2 * wl] = pair_even(v1);
            d[3 * wl] = pair_odd(v1);
        }
        if (nch >= 16)
        {
            const uint32_t v2 = rd32(src + 8), v3 = rd32(src + 12);
            d[4 * wl] = pair_even(v2);
            d[5 * wl] = pair_odd(v2);
            d[6 * wl] = pair_even(v3);
            d[7 * wl] = pair_odd(v3);
        }
    }
}

/* Fills the block layout for input columns ix0 .. ix0 + wl - 1 (wl = C + 2 words per lane) of the rows
 * iy[0..kh) (-1: a padding row): 16 channels per pass over the columns, so that the lane offsets are
 * immediates (wl is a constant in each instance below). pad: the padding word. */
static inline __attribute__((always_inline)) void build_block(uint32_t *x,
                                                             const int8_t *in_b,
                                                             int32_t in_w,
                                                             int32_t cin,
                                                             int32_t kh,
                                                             const int32_t *iy,
                                                             int32_t ix0,
                                                             uint32_t pad,
                                                             int32_t wl)
{
    const int32_t row_words = cin / 2 * wl;
    const int32_t i0 = ix0 < 0 ? -ix0 : 0; /* valid columns: [i0, i1) */
    const int32_t i1 = in_w - ix0 < wl ? in_w - ix0 : wl;
    for (int32_t ky = 0; ky < kh; ky++, x += row_words)
    {
        if (iy[ky] < 0 || i0 >= i1)
        {
            for (int32_t k = 0; k < row_words; k++)
            {
                x[k] = pad;
            }
            continue;
        }
        for (int32_t i = 0; i < wl; i++) /* padding columns at the edges */
        {
            if (i == i0)
            {
                i = i1 - 1;
                continue;
            }
            for (uint32_t *d = x + i; d < x + row_words; d += wl)
            {
                *d = pad;
            }
        }
        const int8_t *src = in_b + (iy[ky] * in_w + ix0 + i0) * cin;
        int32_t c = 0;
        for (; c + 16 <= cin; c += 16)
        {
            convert_columns(x + c / 2 * wl, src + c, cin, 16, i0, i1, wl);
        }
        if (c + 8 <= cin)
        {
            convert_columns(x + c / 2 * wl, src + c, cin, 8, i0, i1, wl);
            c += 8;
        }
        if (c < cin)
        {
            convert_columns(x + c / 2 * wl, src + c, cin, 4, i0, i1, wl);
        }
    }
}

#define S16W_BUILD(W)                                                                                          \
    __attribute__((noinline)) void soi_s16w_build_block_##W(uint32_t *x, const int8_t *in_b, int32_t in_w,     \
                                                            int32_t cin, int32_t kh, const int32_t *iy,        \
                                                            int32_t ix0, uint32_t pad)                         \
    {                                                                                                          \
        build_block(x, in_b, in_w, cin, kh, iy, ix0, pad, W);                                                  \
    }
S16W_BUILD(5)
S16W_BUILD(6)
S16W_BUILD(7)
S16W_BUILD(8)
#undef S16W_BUILD
