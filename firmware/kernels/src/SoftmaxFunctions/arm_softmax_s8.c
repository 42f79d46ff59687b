/* arm_softmax_s8: TFLite's int8 SOFTMAX (reference_ops::Softmax, the fixed-point form LiteRT's reference
 * kernel runs), one row of row_size values at a time. Per row: the differences to the row's maximum,
 * rescaled by mult/shift to Q5.26, exp() in gemmlowp's fixed point for the differences >= diff_min,
 * their sum in Q12.19, its reciprocal by Newton-Raphson, and each exp times the reciprocal on the output
 * scale 1/256 (zero point -128). Written from TFLite's reference arithmetic (gemmlowp fixedpoint.h). */
#include "arm_nnfunctions.h"
#include "soi_nn_support.h"

#define SOI_SOFTMAX_DIFF_BITS 5   /* integer bits of the rescaled differences (Q5.26) */
#define SOI_SOFTMAX_ACCUM_BITS 12 /* integer bits of the sum of exps (Q12.19) */

/* gemmlowp SaturatingRoundingDoublingHighMul: (a * b * 2 + 2^31) >> 32, rounding halves away from zero. */
static int32_t soi_srdhm(int32_t a, int32_t b)
{
    if (a == INT32_MIN && b == INT32_MIN)
    {
        return INT32_MAX;
    }
    const int64_t ab = (int64_t)a * b;
    const int64_t nudge = ab >= 0 ? (1LL << 30) : (1 - (1LL << 30));
    return (int32_t)((ab + nudge) / (1LL << 31)); /* C division: truncates toward zero, as gemmlowp */
}

/* gemmlowp RoundingDivideByPOT: x / 2^exponent, halves away from zero. */
static int32_t soi_rdbpot(int32_t x, int32_t exponent)
{
    const int32_t mask = (int32_t)((1LL << exponent) - 1);
    const int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
    return (x >> exponent) + ((x & mask) > threshold ? 1 : 0);
}

/* gemmlowp SaturatingRoundingMultiplyByPOT for a positive exponent: x * 2^exponent, saturating. */
static int32_t soi_sat_shl(int32_t x, int32_t exponent)
{
    const int32_t threshold = (int32_t)((1LL << (31 - exponent)) - 1);
    if (x > threshold)
    {
        return INT32_MAX;
    }
    if (x < -threshold)
    {
        return INT32_MIN;
    }
    return (int32_t)((uint32_t)x << exponent);
}

/* exp(a) for a in [-1/4, 0), Q0.31 in and out: a fourth-order Taylor expansion around -1/8. */
static int32_t soi_exp_quarter(int32_t a)
{
    const int32_t exp_minus_one_eighth = 1895147668; /* exp(-1/8) */
    const int32_t one_third = 715827883;
    const int32_t x = a + (1 << 28); /* x = a + 1/8 */
    const int32_t x2 = soi_srdhm(x, x);
    const int32_t x3 = soi_srdhm(x2, x);
    const int32_t x4_over_4 = soi_rdbpot(soi_srdhm(x2, x2), 2);
    const int32_t poly = soi_rdbpot(soi_srdhm(x4_over_4 + x3, one_third) + x2, 1); /* x^4/24 + x^3/6 + x^2/2 */
    return exp_minus_one_eighth + soi_srdhm(exp_minus_one_eighth, x + poly);
}

/* exp(a) for a <= 0 in Q5.26, the result in Q0.31 (gemmlowp exp_on_negative_values): a's part in
 * [-1/4, 0) by soi_exp_quarter, then a factor exp(-2^k) for each bit k of the rest. */
static int32_t soi_exp_on_negative(int32_t a)
{
    static const int32_t factors[7] = {1672461947, 1302514674, 790015084, 290630308, 39332535, 720401, 242};
    const int32_t frac_bits = 31 - SOI_SOFTMAX_DIFF_BITS;
    const int32_t quarter = 1 << (frac_bits - 2);
    const int32_t a_mod_quarter_minus_quarter = (a & (quarter - 1)) - quarter;
    int32_t result = soi_exp_quarter(soi_sat_shl(a_mod_quarter_minus_quarter, SOI_SOFTMAX_DIFF_BITS));
    const int32_t remainder = a_mod_quarter_minus_quarter - a;
    for (int32_t k = 0; k < 7; k++) /* exponents -2 .. +4: every bit a Q5.26 value below 32 can have */
    {
        if (remainder & (1 << (frac_bits - 2 + k)))
        {
            result = soi_srdhm(result, factors[k]);
        }
    }
    return a == 0 ? INT32_MAX : result;
}

/* 1 / (1 + x) for x in [0, 1), Q0.31 in and out (gemmlowp one_over_one_plus_x_for_x_in_0_1): three
 * Newton-Raphson steps on the half denominator, in Q2.29. */
static int32_t soi_one_over_one_plus_x(int32_t x)
{
    const int64_t sum = (int64_t)x + INT32_MAX;
    const int32_t half_denominator = (int32_t)((sum + (sum >= 0 ? 1 : -1)) / 2); /* RoundingHalfSum(x, 1) */
    const int32_t c48_over_17 = 1515870810;
    const int32_t c_neg32_over_17 = -1010580540;
    int32_t r = c48_over_17 + soi_srdhm(half_denominator, c_neg32_over_17);
    for (int32_t i = 0; i < 3; i++)
    {
        const int32_t one_minus = (1 << 29) - soi_srdhm(half_denominator, r);
        r = r + soi_sat_shl(soi_srdhm(r, one_minus), 2);
    }
    return soi_sat_shl(r >> 1, 2);
}

void arm_softmax_s8(const int8_t *input,
                    const int32_t num_rows,
                    const int32_t row_size,
                    const int32_t mult,
                    const int32_t shift,
                    const int32_t diff_min,
                    int8_t *output)
{
    for (int32_t row = 0; row < num_rows; row++)
    {
        const int8_t *in = input + row * row_size;
        int8_t *out = output + row * row_size;
        int32_t max = -128;
        for (int32_t c = 0; c < row_size; c++)
        {
            max = in[c] > max ? in[c] : max;
        }
        int32_t sum = 0; /* Q12.19 */
        for (int32_t c = 0; c < row_size; c++)
        {
            const int32_t diff = in[c] - max;
            if (diff >= diff_min)
            {
                /* MultiplyByQuantizedMultiplierGreaterThanOne: shift >= 0, no rounding shift after */
                const int32_t scaled = soi_srdhm((int32_t)((uint32_t)diff << shift), mult);
                sum += soi_rdbpot(soi_exp_on_negative(scaled), SOI_SOFTMAX_ACCUM_BITS);
            }
        }
        /* GetReciprocal: normalise the sum to [1, 2) as 1 + x, x in Q0.31, and count the bits over 1 */
        const int32_t headroom_plus_one = __builtin_clz((uint32_t)sum);
        const int32_t bits_over_unit = SOI_SOFTMAX_ACCUM_BITS - headroom_plus_one;
        const int32_t shifted_sum_minus_one = (int32_t)(((uint32_t)sum << headroom_plus_one) - (1u << 31));
        const int32_t scale = soi_one_over_one_plus_x(shifted_sum_minus_one);
        for (int32_t c = 0; c < row_size; c++)
        {
            const int32_t diff = in[c] - max;
            if (diff >= diff_min)
            {
                const int32_t scaled = soi_srdhm((int32_t)((uint32_t)diff << shift), mult);
                const int32_t e = soi_exp_on_negative(scaled);
                const int32_t y = soi_rdbpot(soi_srdhm(scale, e), bits_over_unit + 31 - 8) - 128;
                out[c] = soi_nn_clamp_s8(y, -128, 127);
            }
            else
            {
                out[c] = -128;
            }
        }
    }
}
