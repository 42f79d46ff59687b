/* arm_elementwise_add_s8: TFLite int8 AddElementwise (no broadcasting), CMSIS-NN's API. Also runs TFLite's
 * int8 SUB, which is this arithmetic with input_2_mult negated (sub.cc).
 *
 * Fast path for the parameters TFLite derives (add.cc / sub.cc Prepare): left_shift 20, one input at
 * twice the larger scale, i.e. multiplier +-2^30 and shift 0 ("unit": its term is exactly +-(x << 19)),
 * the other with a right shift 1..22, a positive output multiplier with a right shift 1..22. Then, with
 * v = input + offset (|v| <= 384) and the unit input first:
 *     2 * sum = s_u * (v_u << 20) + 2 * requant(s_g * v_g << 20, |m_g|, r_g)
 *     output  = requant(sum, out_mult, out_shift) + out_offset
 * each requant in the three instructions of soi_ew_requant (soi_nn_elementwise.h), each signed shifted
 * input in one MLA (v * (s << k) + (s * offset << k)). A term of 2^30 with shift 0 is x / 2 exactly:
 * SRDHM(x, 2^30) = floor(x / 2 + 1/2) and x = v << 20 is even. The second input may be a unit too.
 * Anything else takes the generic loop (TFLite's arithmetic written out). */
#include "arm_nnfunctions.h"
#include "soi_nn_elementwise.h"

typedef struct
{
    int32_t su, ou;         /* unit input: v_u << 20 = x * su + ou (su = +-2^20) */
    int32_t sg, og;         /* other input: (+-v_g) << 21 (round) or << 20 (unit) = x * sg + og */
    int32_t mg, rg, kg;     /* its |multiplier|, right shift, rounding constant */
    int32_t mo, ro, ko;     /* output multiplier, right shift, rounding constant with the offset */
    int32_t lo, hi;
} soi_add_fast;

static inline int soi_add_is_unit(int32_t mult, int32_t shift) { return shift == 0 && (mult == (1 << 30) || mult == -(1 << 30)); }

/* One loop per variant (noinline: each gets the registers to itself, no constant spills to the stack). */
static inline __attribute__((always_inline)) void soi_add_fast_loop(const soi_add_fast *f, const int8_t *u,
                                                                    const int8_t *g, int8_t *out, int32_t n,
                                                                    const int g_unit, const int full)
{
    const int32_t su = f->su, ou = f->ou, sg = f->sg, og = f->og, mg = f->mg, rg = f->rg, kg = f->kg;
    const int32_t mo = f->mo, ro = f->ro, ko = f->ko, lo = f->lo, hi = f->hi;
    for (int32_t i = 0; i < n; i++)
    {
        const int32_t xg = g[i] * sg + og;
        const int32_t twice_g = g_unit ? xg : (soi_smmlar(xg, mg, kg + (xg >> 31)) >> rg) * 2;
        const int32_t twice_sum = u[i] * su + ou + twice_g;
        const int32_t y = soi_smmlar(twice_sum, mo, ko + (twice_sum >> 31)) >> ro;
        out[i] = (int8_t)(full ? soi_ew_sat8(y) : soi_ew_clamp(y, lo, hi));
    }
}

#define SOI_ADD_VARIANT(name, g_unit, full)                                                                     \
    static __attribute__((noinline)) void name(const soi_add_fast *f, const int8_t *u, const int8_t *g, int8_t *out, \
                                               int32_t n)                                                           \
    {                                                                                                               \
        soi_add_fast_loop(f, u, g, out, n, g_unit, full);                                                           \
    }
SOI_ADD_VARIANT(soi_add_round_full, 0, 1)
SOI_ADD_VARIANT(soi_add_round_clamp, 0, 0)
SOI_ADD_VARIANT(soi_add_unit_full, 1, 1)
SOI_ADD_VARIANT(soi_add_unit_clamp, 1, 0)

/* Fills `f` and returns 1 when the fast path applies; `swap` says the unit input is input 2. */
static int soi_add_fast_setup(soi_add_fast *f, int *swap, int *g_unit, int32_t o1, int32_t m1, int32_t s1, int32_t o2,
                              int32_t m2, int32_t s2, int32_t left_shift, int32_t oo, int32_t mo, int32_t so, int32_t lo,
                              int32_t hi)
{
    if (left_shift != 20 || o1 < -256 || o1 > 256 || o2 < -256 || o2 > 256 || oo < -256 || oo > 256 ||
        !soi_ew_fast_shift(mo, so))
    {
        return 0;
    }
    *swap = !soi_add_is_unit(m1, s1);
    const int32_t ou = *swap ? o2 : o1, mu = *swap ? m2 : m1, og = *swap ? o1 : o2, mg = *swap ? m1 : m2,
                  sg = *swap ? s1 : s2;
    if (!soi_add_is_unit(mu, 0))
    {
        return 0;
    }
    *g_unit = soi_add_is_unit(mg, sg);
    if (!*g_unit && (mg == INT32_MIN || mg == 0 || sg > -1 || sg < -22))
    {
        return 0;
    }
    const int32_t sign_u = mu > 0 ? 1 : -1, sign_g = mg > 0 ? 1 : -1, kshift = *g_unit ? 20 : 21;
    f->su = sign_u * (1 << 20);
    f->ou = sign_u * ou * (1 << 20);
    f->sg = sign_g * (1 << kshift);
    f->og = sign_g * og * (1 << kshift);
    f->mg = mg > 0 ? mg : -mg;
    f->rg = -sg;
    f->kg = *g_unit ? 0 : soi_ew_round_const(-sg, 0);
    f->mo = mo;
    f->ro = -so;
    f->ko = soi_ew_round_const(-so, oo);
    f->lo = lo;
    f->hi = hi;
    return 1;
}

arm_cmsis_nn_status arm_elementwise_add_s8(const int8_t *input_1_vect,
                                           const int8_t *input_2_vect,
                                           const int32_t input_1_offset,
                                           const int32_t input_1_mult,
                                           const int32_t input_1_shift,
                                           const int32_t input_2_offset,
                                           const int32_t input_2_mult,
                                           const int32_t input_2_shift,
                                           const int32_t left_shift,
                                           int8_t *output,
                                           const int32_t out_offset,
                                           const int32_t out_mult,
                                           const int32_t out_shift,
                                           const int32_t out_activation_min,
                                           const int32_t out_activation_max,
                                           const int32_t block_size)
{
    soi_add_fast f;
    int swap = 0, g_unit = 0;
    if (soi_add_fast_setup(&f, &swap, &g_unit, input_1_offset, input_1_mult, input_1_shift, input_2_offset,
                           input_2_mult, input_2_shift, left_shift, out_offset, out_mult, out_shift,
                           out_activation_min, out_activation_max))
    {
        const int8_t *u = swap ? input_2_vect : input_1_vect;
        const int8_t *g = swap ? input_1_vect : input_2_vect;
        const int full = out_activation_min == -128 && out_activation_max == 127;
        void (*const loop)(const soi_add_fast *, const int8_t *, const int8_t *, int8_t *, int32_t) =
            g_unit ? (full ? soi_add_unit_full : soi_add_unit_clamp) : (full ? soi_add_round_full : soi_add_round_clamp);
        loop(&f, u, g, output, block_size);
        return ARM_CMSIS_NN_SUCCESS;
    }
    for (int32_t i = 0; i < block_size; i++)
    {
        const int32_t a = (int32_t)((uint32_t)(input_1_vect[i] + input_1_offset) << left_shift);
        const int32_t b = (int32_t)((uint32_t)(input_2_vect[i] + input_2_offset) << left_shift);
        const int32_t sum = soi_nn_requantize(a, input_1_mult, input_1_shift) +
                            soi_nn_requantize(b, input_2_mult, input_2_shift);
        output[i] = soi_nn_clamp_s8(soi_nn_requantize(sum, out_mult, out_shift) + out_offset, out_activation_min,
                                    out_activation_max);
    }
    return ARM_CMSIS_NN_SUCCESS;
}
