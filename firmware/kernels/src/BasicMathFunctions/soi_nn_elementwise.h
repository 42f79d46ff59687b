/* Private helpers of the elementwise kernels (arm_elementwise_add_s8, arm_elementwise_mul_s8): TFLite's
 * requantization, MultiplyByQuantizedMultiplier with a right shift r, in three single-cycle instructions
 * where the operands are small, and the DSP instructions the packed loops use (C models on the host).
 *
 * Why the generic loops were slow (~100 cycles per added value on M4): soi_nn_requantize three times per
 * value, each a 64-bit multiply, a branch on the shift's sign and a rounding divide with its own masks;
 * 16 arguments and ~12 loop constants spill to the stack and are reloaded on every value.
 *
 * The fast form. With |x| < 2^30 and m > 0, TFLite's SaturatingRoundingDoublingHighMul(x, m) is
 * floor((x*m + 2^30) / 2^31) = floor((2x*m + 2^31) / 2^32), which is SMMULR(2x, m) (no saturation:
 * m < 2^31). The rounding divide by 2^r (r >= 1, halves away from zero) is (h + 2^(r-1) - [h < 0]) >> r.
 * SMMLAR adds an accumulator to the high word, so with ra = 2^(r-1) + zo * 2^r - [x < 0]:
 *     requant(x) + zo = SMMLAR(2x, m, ra) >> r.
 * [x < 0] stands for [h < 0]: x < 0 gives h <= 0, and where h == 0 the -1 does not change the result
 * (r >= 1); x >= 0 gives h >= 0. zo * 2^r is a multiple of 2^r, so adding it before the shift is exact. */
#ifndef SOI_NN_ELEMENTWISE_H
#define SOI_NN_ELEMENTWISE_H

#include "soi_nn_support.h"
#if defined(__ARM_FEATURE_DSP)
#include <arm_acle.h>
#endif

/* SMMLAR: acc + ((a * b + 2^31) >> 32). */
static inline int32_t soi_smmlar(int32_t a, int32_t b, int32_t acc)
{
#if defined(__ARM_FEATURE_DSP)
    int32_t r;
    __asm__("smmlar %0, %1, %2, %3" : "=r"(r) : "r"(a), "r"(b), "r"(acc));
    return r;
#else
    return (int32_t)((uint32_t)acc + (uint32_t)(int32_t)(((int64_t)a * b + (1LL << 31)) >> 32));
#endif
}

/* The fast form's constant for a right shift r (1..22) and an offset zo added after it. */
static inline int32_t soi_ew_round_const(int32_t r, int32_t zo) { return (1 << (r - 1)) + zo * (1 << r); }

/* requant(x, m, -r) + zo with the constant k = soi_ew_round_const(r, zo); needs |x| < 2^30, m > 0. */
static inline __attribute__((always_inline)) int32_t soi_ew_requant(int32_t x, int32_t m, int32_t r, int32_t k)
{
    return soi_smmlar(x * 2, m, k + (x >> 31)) >> r;
}

/* The fast form applies: m > 0 and a right shift of 1..22 (the offset folded into the constant stays
 * far from overflow: |zo| * 2^22 + 2^21 < 2^30). */
static inline int soi_ew_fast_shift(int32_t m, int32_t shift) { return m > 0 && shift <= -1 && shift >= -22; }

/* Clamp to int8: SSAT on DSP targets (GCC does not form it from the comparisons). */
static inline int32_t soi_ew_sat8(int32_t v)
{
#if defined(__ARM_FEATURE_DSP)
    return __ssat(v, 8);
#else
    return v < -128 ? -128 : (v > 127 ? 127 : v);
#endif
}

static inline int32_t soi_ew_clamp(int32_t v, int32_t lo, int32_t hi)
{
    v = v < lo ? lo : v;
    return v > hi ? hi : v;
}

#if defined(SOI_NN_DSP)
#if defined(__ARM_FEATURE_DSP)
#define soi_sxtab16(acc, x) ((uint32_t)__sxtab16((acc), (x)))
/* SXTAB16 with its built-in ROR #8 (bytes 1 and 3); GCC does not fold a separate rotate into it. */
static inline uint32_t soi_sxtab16_ror8(uint32_t acc, uint32_t x)
{
    uint32_t r;
    __asm__("sxtab16 %0, %1, %2, ror #8" : "=r"(r) : "r"(acc), "r"(x));
    return r;
}
#else
/* C models for the host build (SOI_NN_EMULATE_DSP). */
static inline uint32_t soi_sxtab16(uint32_t acc, uint32_t x)
{
    const uint32_t lo = (acc + (uint32_t)(int32_t)(int8_t)(x & 0xFFu)) & 0xFFFFu;
    const uint32_t hi = ((acc >> 16) + (uint32_t)(int32_t)(int8_t)((x >> 16) & 0xFFu)) & 0xFFFFu;
    return lo | (hi << 16);
}
static inline uint32_t soi_sxtab16_ror8(uint32_t acc, uint32_t x) { return soi_sxtab16(acc, (x >> 8) | (x << 24)); }
#endif
/* SMULBB / SMULTT: GCC emits them for these products of halves (its arm_acle.h lacks the intrinsics). */
static inline int32_t soi_smulbb(uint32_t a, uint32_t b) { return (int32_t)(int16_t)(a & 0xFFFFu) * (int16_t)(b & 0xFFFFu); }
static inline int32_t soi_smultt(uint32_t a, uint32_t b) { return ((int32_t)a >> 16) * ((int32_t)b >> 16); }
/* Two int16 lanes of one value each (low lane a, high lane b). */
static inline uint32_t soi_pack16(int32_t lo, int32_t hi) { return ((uint32_t)lo & 0xFFFFu) | ((uint32_t)hi << 16); }
#endif

#endif
