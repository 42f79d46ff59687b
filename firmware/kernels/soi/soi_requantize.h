/* TFLite's MultiplyByQuantizedMultiplier, the one requantization of the project's own kernels (PReLU,
 * LayerNorm, LSTM, GRU): SaturatingRoundingDoublingHighMul, then a rounding right shift (double
 * rounding), bit for bit as LiteRT computes it. Written out because the kernels build with either
 * kernel library (CMSIS-NN's own helper is not part of its public API). */
#ifndef SOI_REQUANTIZE_H
#define SOI_REQUANTIZE_H

#include <stdint.h>

static inline int32_t soi_requantize(int32_t value, int32_t multiplier, int32_t shift)
{
    const int32_t left = shift > 0 ? shift : 0;
    const int32_t right = shift > 0 ? 0 : -shift;
    const int32_t a = (int32_t)((uint32_t)value << left); /* TFLite: x * (1 << left), in int32 */
    int32_t high;
    if (a == INT32_MIN && multiplier == INT32_MIN) {
        high = INT32_MAX; /* the one product that saturates */
    } else {
        const int64_t ab = (int64_t)a * (int64_t)multiplier;
        const int64_t nudge = ab >= 0 ? (1LL << 30) : (1 - (1LL << 30));
        /* (ab + nudge) / 2^31 truncated toward zero, as a shift: a 64-bit division would be a library
         * call on Cortex-M (about 600 cycles per value measured) */
        const int64_t x = ab + nudge;
        high = (int32_t)((x >= 0 ? x : x + ((1LL << 31) - 1)) >> 31);
    }
    const int32_t mask = (int32_t)((1u << right) - 1u); /* right <= 31 */
    const int32_t remainder = high & mask;
    const int32_t threshold = (mask >> 1) + (high < 0 ? 1 : 0);
    return (high >> right) + (remainder > threshold ? 1 : 0);
}

#endif
