/* Depthwise conv over one frequency bin (Conv1d TCNs, DS-TCN keyword spotters): input and output one
 * column wide, filter 1 wide, channel multiplier 1, no padding, every tap inside the input (the streaming
 * window: in_h = (kh - 1) * dilation_h + 1, out_h = 1). Only the taps in time are left, kh per channel,
 * so the per-pixel set-up of the generic kernel (tap ranges, nested loops over rows and columns) costs
 * more than the MACs; here the channels are the only loop, with the taps unrolled for kh = 3.
 *   DSP: 4 channels per step (SXTB16 splits a word into channels (0, 2) / (1, 3), SMLABB / SMLATT), the
 *        input offset added to the pairs with SADD16, the requantization soi_nn_requantize_fast.
 *   MVE: 4 channels per vector (widening byte loads, VMUL + VADD), tail predicated, requantized as one vector.
 * Bit-exact with the generic kernel (the same integer sums, requantization and clamp). */
#include "soi_nn_support.h"

int soi_nn_dw_column_applies(const cmsis_nn_dw_conv_params *p,
                             const cmsis_nn_dims *in,
                             const cmsis_nn_dims *f,
                             const cmsis_nn_dims *out)
{
    return p->ch_mult == 1 && in->w == 1 && out->w == 1 && f->w == 1 && out->h == 1 && p->padding.w == 0 &&
           p->padding.h == 0 && p->dilation.h >= 1 && f->h >= 1 && in->h == (f->h - 1) * p->dilation.h + 1 &&
           out->c == in->c;
}

#if defined(SOI_NN_MVE)
static void column(const int8_t *x, int32_t c_in, int32_t kh, int32_t ystep, const int8_t *w, const int32_t *bias,
                   const soi_nn_out_stage *os, int32_t in_off, int8_t *o)
{
    const int32x4_t vmin = vdupq_n_s32(os->act_min), vmax = vdupq_n_s32(os->act_max);
    for (int32_t c = 0; c < c_in; c += 4)
    {
        const mve_pred16_t pr = vctp32q((uint32_t)(c_in - c));
        int32x4_t acc = bias != NULL ? vldrwq_z_s32(bias + c, pr) : vdupq_n_s32(0);
        const int8_t *xp = x + c, *wp = w + c;
        for (int32_t ky = 0; ky < kh; ky++, xp += ystep, wp += c_in)
        {
            const int32x4_t xv = vaddq_n_s32(vldrbq_z_s32(xp, pr), in_off);
            acc = vaddq_s32(acc, vmulq_s32(xv, vldrbq_z_s32(wp, pr))); /* MVE has no vector x vector VMLA */
        }
        const int32x4_t m = vldrwq_z_s32(os->mult + c, pr), s = vldrwq_z_s32(os->shift + c, pr);
        int32x4_t v = vaddq_n_s32(soi_mve_requant_lanes(acc, m, s), os->out_offset);
        vstrbq_p_s32(o + c, vminq_s32(vmaxq_s32(v, vmin), vmax), pr);
    }
}
#else
#if defined(SOI_NN_DSP) && defined(__ARM_FEATURE_DSP)
#define soi_dwc_mlabb(a, b, acc) __smlabb((int32_t)(a), (int32_t)(b), (acc))
#define soi_dwc_mlatt(a, b, acc) __smlatt((int32_t)(a), (int32_t)(b), (acc))
#elif defined(SOI_NN_DSP)
static inline int32_t soi_dwc_mlabb(uint32_t a, uint32_t b, int32_t acc)
{
    return (int32_t)((uint32_t)acc + (uint32_t)((int32_t)(int16_t)(a & 0xFFFFu) * (int16_t)(b & 0xFFFFu)));
}
static inline int32_t soi_dwc_mlatt(uint32_t a, uint32_t b, int32_t acc)
{
    return (int32_t)((uint32_t)acc + (uint32_t)((int32_t)(int16_t)(a >> 16) * (int16_t)(b >> 16)));
}
#endif

/* The output stage in locals: the int8 stores may alias *os, so reading it per output reloads it. */
typedef struct
{
    const int32_t *mult, *shift;
    int32_t off, lo, hi;
} dwc_stage;

/* soi_nn_requantize for a right shift r = -shift >= 1 in fewer instructions: h = (acc * m + 2^30) >> 31
 * (TFLite's rounding doubling high multiply; m < 2^31, so no saturation case), then TFLite's rounding
 * divide (halves away from zero) as (h + 2^(r-1) - [h < 0]) >> r, the addition saturating (QADD): it can
 * only overflow for h near 2^31, whose output saturates to the maximum either way. */
static inline int32_t requant_right(int32_t acc, int32_t m, int32_t r)
{
    const int32_t h = (int32_t)(((int64_t)acc * m + (1LL << 30)) >> 31);
    const int32_t add = (int32_t)(1u << (r - 1)) + (h >> 31);
#if defined(__ARM_FEATURE_DSP)
    return __qadd(h, add) >> r;
#else
    const int64_t t = (int64_t)h + add;
    return (int32_t)(t > INT32_MAX ? INT32_MAX : t) >> r;
#endif
}

static inline int8_t out_of(const dwc_stage *st, int32_t c, int32_t acc)
{
    const int32_t shift = st->shift[c];
    const int32_t v = shift < 0 ? requant_right(acc, st->mult[c], -shift) : soi_nn_requantize(acc, st->mult[c], shift);
    return soi_nn_clamp_s8(v + st->off, st->lo, st->hi);
}

static void column(const int8_t *x, int32_t c_in, int32_t kh, int32_t ystep, const int8_t *w, const int32_t *bias,
                   const soi_nn_out_stage *os, int32_t in_off, int8_t *o)
{
    const dwc_stage stage = {os->mult, os->shift, os->out_offset, os->act_min, os->act_max};
    const dwc_stage *st = &stage;
    int32_t c = 0;
#if defined(SOI_NN_DSP)
    const uint32_t off2 = ((uint32_t)in_off & 0xFFFFu) | ((uint32_t)in_off << 16);
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
#define SOI_DWC_TAP(xp, wp)                                                                                    \
    do                                                                                                         \
    {                                                                                                          \
        const uint32_t xw = soi_read_u32(xp), fw = soi_read_u32(wp);                                           \
        const uint32_t x02 = soi_sadd16(soi_sxtb16(xw), off2), x13 = soi_sadd16(soi_sxtb16_ror8(xw), off2);    \
        const uint32_t f02 = soi_sxtb16(fw), f13 = soi_sxtb16_ror8(fw);                                        \
        a0 = soi_dwc_mlabb(x02, f02, a0);                                                                      \
        a2 = soi_dwc_mlatt(x02, f02, a2);                                                                      \
        a1 = soi_dwc_mlabb(x13, f13, a1);                                                                      \
        a3 = soi_dwc_mlatt(x13, f13, a3);                                                                      \
    } while (0)
        const int8_t *xp = x + c, *wp = w + c;
        if (kh == 3)
        {
            SOI_DWC_TAP(xp, wp);
            SOI_DWC_TAP(xp + ystep, wp + c_in);
            SOI_DWC_TAP(xp + 2 * ystep, wp + 2 * c_in);
        }
        else
        {
            for (int32_t ky = 0; ky < kh; ky++, xp += ystep, wp += c_in)
            {
                SOI_DWC_TAP(xp, wp);
            }
        }
#undef SOI_DWC_TAP
        o[c] = out_of(st, c, a0);
        o[c + 1] = out_of(st, c + 1, a1);
        o[c + 2] = out_of(st, c + 2, a2);
        o[c + 3] = out_of(st, c + 3, a3);
    }
#endif
    for (; c < c_in; c++)
    {
        int32_t acc = bias != NULL ? bias[c] : 0;
        for (int32_t ky = 0; ky < kh; ky++)
        {
            acc += (x[ky * ystep + c] + in_off) * w[ky * c_in + c];
        }
        o[c] = out_of(st, c, acc);
    }
}
#endif

void soi_nn_dw_column(const cmsis_nn_dw_conv_params *p,
                      const cmsis_nn_dims *in,
                      const int8_t *input,
                      const cmsis_nn_dims *f,
                      const int8_t *filter,
                      const int32_t *bias,
                      const soi_nn_out_stage *os,
                      int8_t *output)
{
    const int32_t c_in = in->c, ystep = p->dilation.h * c_in;
    for (int32_t b = 0; b < in->n; b++)
    {
        column(input + b * in->h * c_in, c_in, f->h, ystep, filter, bias, os, p->input_offset, output + b * c_in);
    }
}
