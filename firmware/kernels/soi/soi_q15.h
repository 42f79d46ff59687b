/* Fixed-point helpers shared by the project's recurrent kernels (LSTM, GRU): TFLite's requantization,
 * the int8 dot product of their matrix-vector products, and the int16 logistic and tanh its integer
 * LSTM applies to the gates (gemmlowp's fixed-point functions, written out step by step so that every
 * rounding matches: the firmware must equal LiteRT bit for bit). */
#ifndef SOI_Q15_H
#define SOI_Q15_H

#include <stdint.h>
#include <string.h>

#include "soi_requantize.h"

#if defined(__ARM_FEATURE_DSP)
#include <arm_acle.h>
#endif

/* acc + a . b over n int8 pairs: with the DSP extension four per word (two SXTB16 pairs into SMLAD).
 * Inline: it is the inner loop of every row of the recurrent kernels. */
static inline int32_t soi_dot_s8(const int8_t *a, const int8_t *b, int32_t n, int32_t acc)
{
    int32_t i = 0;
#if defined(__ARM_FEATURE_DSP)
    for (; i + 4 <= n; i += 4) {
        uint32_t x, w;
        memcpy(&x, a + i, 4); /* unaligned word loads */
        memcpy(&w, b + i, 4);
        acc = __smlad(__sxtb16(x), __sxtb16(w), acc);
        acc = __smlad(__sxtb16((x >> 8) | (x << 24)), __sxtb16((w >> 8) | (w << 24)), acc); /* bytes 1, 3 */
    }
#endif
    for (; i < n; i++) {
        acc += (int32_t)a[i] * (int32_t)b[i];
    }
    return acc;
}


/* gemmlowp's RoundingDivideByPOT on int32: x / 2^exponent rounded to nearest, ties away from zero. */
int32_t soi_q15_rounding_shift(int32_t x, int32_t exponent);

/* logistic(x) for x a Q3.12 value, as a Q0.15 value (gemmlowp::logistic on FixedPoint<int16, 3>). */
int16_t soi_q15_logistic(int16_t x);

/* tanh(x) for x with `integer_bits` integer bits (0..6), as a Q0.15 value (gemmlowp::tanh). */
int16_t soi_q15_tanh(int16_t x, int32_t integer_bits);

#endif
