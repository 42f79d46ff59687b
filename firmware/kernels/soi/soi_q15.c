/* gemmlowp's int16 fixed-point logistic and tanh, and TFLite's requantization (see soi_q15.h).
 *
 * Names follow gemmlowp's: a FixedPoint<int16, k> value is a raw int16 with 15 - k fractional bits;
 * multiplying two of them is a saturating rounding doubling high multiply. Plain additions wrap as
 * gemmlowp's int16 additions do (they are computed in int and narrowed back). */
#include "soi_q15.h"

static int16_t narrow(int32_t x)
{
    return (int16_t)x; /* wraps: gemmlowp's non-saturating int16 add/sub/neg */
}

int32_t soi_q15_rounding_shift(int32_t x, int32_t exponent)
{
    const int32_t mask = (int32_t)((1LL << exponent) - 1);
    const int32_t remainder = x & mask;
    const int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
    return (x >> exponent) + (remainder > threshold ? 1 : 0);
}

/* SaturatingRoundingDoublingHighMul on int16. */
static int16_t mul(int16_t a, int16_t b)
{
    if (a == INT16_MIN && b == INT16_MIN) {
        return INT16_MAX;
    }
    const int32_t ab = (int32_t)a * (int32_t)b;
    const int32_t nudge = ab >= 0 ? (1 << 14) : (1 - (1 << 14));
    return (int16_t)((ab + nudge) / (1 << 15));
}

static int16_t rounding_shift16(int16_t x, int32_t exponent)
{
    return (int16_t)soi_q15_rounding_shift(x, exponent);
}

/* SaturatingRoundingMultiplyByPOT with a positive exponent: a saturating left shift. */
static int16_t saturating_shift_left(int16_t x, int32_t exponent)
{
    const int32_t threshold = (1 << (15 - exponent)) - 1;
    if (x > threshold) {
        return INT16_MAX;
    }
    if (x < -threshold) {
        return INT16_MIN;
    }
    return (int16_t)(x * (1 << exponent));
}

static int16_t saturating_add(int16_t a, int16_t b)
{
    const int32_t sum = (int32_t)a + (int32_t)b;
    return (int16_t)(sum > INT16_MAX ? INT16_MAX : sum < INT16_MIN ? INT16_MIN : sum);
}

/* gemmlowp's 32-bit constants, rescaled to 16 bits as its RescaleConstantInitializer does. */
static int16_t constant16(int32_t raw32)
{
    return (int16_t)soi_q15_rounding_shift(raw32, 16);
}

/* exp(a) for a Q0.15 in [-1/4, 0): a Taylor expansion around -1/8. */
static int16_t exp_quarter(int16_t a)
{
    const int16_t constant_term = constant16(1895147668); /* exp(-1/8) */
    const int16_t one_third = constant16(715827883);
    const int16_t x = narrow(a + (1 << 12));
    const int16_t x2 = mul(x, x);
    const int16_t x3 = mul(x2, x);
    const int16_t x4 = mul(x2, x2);
    const int16_t x4_over_4 = rounding_shift16(x4, 2);
    const int16_t poly = rounding_shift16(narrow(mul(narrow(x4_over_4 + x3), one_third) + x2), 1);
    return saturating_add(constant_term, mul(constant_term, narrow(x + poly)));
}

/* exp(a) for a <= 0 with `integer_bits` integer bits, as a Q0.15. */
static int16_t exp_negative(int16_t a, int32_t integer_bits)
{
    static const int32_t multipliers[7] = {1672461947, 1302514674, 790015084, 290630308, 39332535, 720401, 242};
    const int32_t fractional_bits = 15 - integer_bits;
    const int16_t quarter = (int16_t)(1 << (fractional_bits - 2));
    const int16_t mask = narrow(quarter - 1);
    const int16_t a_mod_quarter_minus_quarter = narrow((a & mask) - quarter);
    int16_t result = exp_quarter(integer_bits > 0 ? saturating_shift_left(a_mod_quarter_minus_quarter, integer_bits)
                                                  : a_mod_quarter_minus_quarter);
    const int16_t remainder = narrow(a_mod_quarter_minus_quarter - a);
    for (int32_t exponent = -2; exponent <= 4; exponent++) { /* exp(-2^exponent) for each set bit */
        if (integer_bits > exponent && (remainder & (1 << (fractional_bits + exponent))) != 0) {
            result = mul(result, constant16(multipliers[exponent + 2]));
        }
    }
    if (integer_bits > 5 && a < constant16(-(1 << (36 - integer_bits)))) { /* below -32: zero */
        result = 0;
    }
    return a == 0 ? INT16_MAX : result;
}

/* Newton-Raphson reciprocal of (1 + a) / 2 for a in (0, 1), in Q2.13. */
static int16_t reciprocal_half(int16_t half_denominator)
{
    int16_t x = narrow(constant16(1515870810) + mul(half_denominator, constant16(-1010580540))); /* 48/17 - 32/17 d */
    for (int i = 0; i < 3; i++) {
        const int16_t one_minus = narrow((1 << 13) - mul(half_denominator, x));
        x = narrow(x + saturating_shift_left(mul(x, one_minus), 2));
    }
    return x;
}

static int16_t half_sum_with_one(int16_t a)
{
    const int32_t sum = (int32_t)a + INT16_MAX;
    return (int16_t)((sum + (sum >= 0 ? 1 : -1)) / 2); /* RoundingHalfSum */
}

int16_t soi_q15_logistic(int16_t x)
{
    if (x == 0) {
        return constant16(1 << 30); /* one half */
    }
    const int positive = x > 0;
    const int16_t magnitude = positive ? x : narrow(-x);
    const int16_t e = exp_negative(narrow(-magnitude), 3);
    /* 1 / (1 + e): the reciprocal in Q2.13, halved (exact) and rescaled to Q0.15 */
    const int16_t result = saturating_shift_left(reciprocal_half(half_sum_with_one(e)), 1);
    return positive ? result : narrow(INT16_MAX - result);
}

int16_t soi_q15_tanh(int16_t x, int32_t integer_bits)
{
    if (x == 0) {
        return 0;
    }
    const int negative = x < 0;
    const int16_t n = negative ? x : narrow(-x);
    const int16_t e = exp_negative(n, integer_bits + 1); /* exp(2n): the same raw value, one more integer bit */
    /* (1 - e) / (1 + e) = 1 / ((1 + e) / 2) - 1, in Q2.13, rescaled to Q0.15 */
    const int16_t t = saturating_shift_left(narrow(reciprocal_half(half_sum_with_one(e)) - (1 << 13)), 2);
    return negative ? narrow(-t) : t;
}
