/* Private helpers of the soi-mcu kernels: ISA selection, DSP intrinsics, requantization and the shared
 * convolution / matrix-multiply building blocks. Not part of the CMSIS-NN API. */
#ifndef SOI_NN_SUPPORT_H
#define SOI_NN_SUPPORT_H

#include <stdint.h>
#include <string.h>

#include "arm_nn_types.h"
/* ISA selection (SOI_NN_MVE, SOI_NN_DSP; SOI_NN_EMULATE_DSP on the host): in kernels/soi/soi_nn_isa.h,
 * shared with the project's own kernels there, which are built with either kernel library. */
#include "soi_nn_isa.h"

#if defined(SOI_NN_MVE)
#include <arm_mve.h>
#elif defined(__ARM_FEATURE_DSP)
#include <arm_acle.h>
#endif

/* Which scratch layout a size query is for (the _dsp / _mve twins ask for a fixed one). */
typedef enum
{
    SOI_NN_ISA_C = 0,
    SOI_NN_ISA_DSP = 1,
    SOI_NN_ISA_MVE = 2
} soi_nn_isa;

#if defined(SOI_NN_MVE)
#define SOI_NN_ISA_TARGET SOI_NN_ISA_MVE
#elif defined(SOI_NN_DSP)
#define SOI_NN_ISA_TARGET SOI_NN_ISA_DSP
#else
#define SOI_NN_ISA_TARGET SOI_NN_ISA_C
#endif

/* Unaligned little-endian word access (LDR/STR on Cortex-M, which allow unaligned single loads). */
static inline uint32_t soi_read_u32(const void *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

static inline void soi_write_u32(void *p, uint32_t v) { memcpy(p, &v, 4); }

#if defined(SOI_NN_DSP)
#if defined(__ARM_FEATURE_DSP)
#define soi_sxtb16(x) ((uint32_t)__sxtb16(x))
#define soi_smlad(a, b, acc) __smlad((a), (b), (acc))
#define soi_sadd16(a, b) ((uint32_t)__sadd16((a), (b)))
#else
/* C models of SXTB16 / SMLAD / SADD16 for the host build. */
static inline uint32_t soi_sxtb16(uint32_t x)
{
    const uint32_t lo = (uint32_t)(int32_t)(int8_t)(x & 0xFFu) & 0xFFFFu;
    const uint32_t hi = (uint32_t)(int32_t)(int8_t)((x >> 16) & 0xFFu) & 0xFFFFu;
    return lo | (hi << 16);
}
static inline int32_t soi_smlad(uint32_t a, uint32_t b, int32_t acc)
{
    const int32_t p0 = (int32_t)(int16_t)(a & 0xFFFFu) * (int16_t)(b & 0xFFFFu);
    const int32_t p1 = (int32_t)(int16_t)(a >> 16) * (int16_t)(b >> 16);
    return (int32_t)((uint32_t)acc + (uint32_t)p0 + (uint32_t)p1);
}
static inline uint32_t soi_sadd16(uint32_t a, uint32_t b)
{
    const uint32_t lo = (a + b) & 0xFFFFu;
    const uint32_t hi = ((a >> 16) + (b >> 16)) & 0xFFFFu;
    return lo | (hi << 16);
}
#endif
static inline uint32_t soi_ror8(uint32_t x) { return (x >> 8) | (x << 24); }
#if defined(__ARM_FEATURE_DSP)
/* SXTB16 with its built-in ROR #8 (bytes 1 and 3); GCC does not fold a separate rotate into it. */
static inline uint32_t soi_sxtb16_ror8(uint32_t x)
{
    uint32_t r;
    __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(x));
    return r;
}
#else
static inline uint32_t soi_sxtb16_ror8(uint32_t x) { return soi_sxtb16(soi_ror8(x)); }
#endif
#endif

#if defined(SOI_NN_MVE)
/* Tail-predicated byte copy / fill: a low-overhead loop of 16 bytes per iteration (n may be 0). */
static inline __attribute__((always_inline)) void soi_mve_copy_s8(int8_t *dst, const int8_t *src, int32_t n)
{
#if defined(__OPTIMIZE__) && !defined(SOI_NN_NO_ASM)
    __asm__ volatile("wlstp.8 lr, %[n], 2f\n"
                     "1:\n"
                     "vldrb.8 q0, [%[s]], #16\n"
                     "vstrb.8 q0, [%[d]], #16\n"
                     "letp lr, 1b\n"
                     "2:\n"
                     : [d] "+r"(dst), [s] "+r"(src)
                     : [n] "r"(n)
                     : "q0", "lr", "memory");
#else
    for (; n > 0; n -= 16, dst += 16, src += 16)
    {
        const mve_pred16_t pr = vctp8q((uint32_t)n);
        vstrbq_p_s8(dst, vldrbq_z_s8(src, pr), pr);
    }
#endif
}

static inline __attribute__((always_inline)) void soi_mve_fill_s8(int8_t *dst, int8_t v, int32_t n)
{
#if defined(__OPTIMIZE__) && !defined(SOI_NN_NO_ASM)
    __asm__ volatile("vdup.8 q0, %[v]\n"
                     "wlstp.8 lr, %[n], 2f\n"
                     "1:\n"
                     "vstrb.8 q0, [%[d]], #16\n"
                     "letp lr, 1b\n"
                     "2:\n"
                     : [d] "+r"(dst)
                     : [n] "r"(n), [v] "r"((int32_t)v)
                     : "q0", "lr", "memory");
#else
    const int8x16_t vv = vdupq_n_s8(v);
    for (; n > 0; n -= 16, dst += 16)
    {
        vstrbq_p_s8(dst, vv, vctp8q((uint32_t)n));
    }
#endif
}
#endif

#if defined(SOI_NN_MVE)
/* Requantizes 4 accumulators with per-lane (multiplier, shift): the vector form of soi_nn_requantize.
 * VQRDMULH is (2*x*m + 2^31) >> 32 = (x*m + 2^30) >> 31 (no saturation: m < 2^31). VRSHL by -e rounds
 * halves up; subtracting 1 from negative values first gives TFLite's halves away from zero (the AND
 * with -e is 0 where e == 0, so nothing is subtracted there). */
static inline int32x4_t soi_mve_requant_lanes(int32x4_t v, int32x4_t mult, int32x4_t shift)
{
    const int32x4_t zero = vdupq_n_s32(0);
    const int32x4_t neg_right = vminq_s32(shift, zero);
    v = vshlq_s32(v, vmaxq_s32(shift, zero));
    v = vqrdmulhq_s32(v, mult);
    const int32x4_t fix = vshrq_n_s32(vandq_s32(v, neg_right), 31);
    return vrshlq_s32(vaddq_s32(v, fix), neg_right);
}

#endif

/* TFLite MultiplyByQuantizedMultiplier: x * 2^max(shift,0), rounding doubling high multiply by the Q31
 * multiplier ((x*m + 2^30) >> 31), then rounding divide by 2^max(-shift,0), halves away from zero.
 * The left shift wraps in 32 bits like the int32 reference arithmetic does in practice. */
static inline int32_t soi_nn_requantize(int32_t val, int32_t mult, int32_t shift)
{
    const int32_t left = shift > 0 ? shift : 0;
    const int32_t right = shift > 0 ? 0 : -shift;
    const int32_t x = (int32_t)((uint32_t)val << left);
    const int32_t hi = (int32_t)(((int64_t)x * mult + (1LL << 30)) >> 31);
    if (right == 0)
    {
        return hi;
    }
    const int32_t mask = (int32_t)((1u << right) - 1u);
    const int32_t threshold = (mask >> 1) + (hi < 0 ? 1 : 0);
    return (hi >> right) + ((hi & mask) > threshold ? 1 : 0);
}

/* soi_nn_requantize, bit-exact, with the rounding divide folded into the 64-bit product for shift < 0:
 * with V = val * mult + 2^30 and r = -shift >= 1,
 *   result = (V + 2^(30+r) - [V < 0] * 2^31) >> (31 + r)   (= high word >> (r - 1)).
 * One SMLAL and a few single-cycle instructions on DSP targets. */
static inline int32_t soi_nn_requantize_fast(int32_t val, int32_t mult, int32_t shift)
{
    if (shift >= 0)
    {
        return soi_nn_requantize(val, mult, shift);
    }
    const int32_t r1 = -shift - 1;
    const uint32_t nl = r1 == 0 ? 1u << 31 : 0u;
    const int32_t nh = r1 == 0 ? 0 : (int32_t)(1u << (r1 - 1));
#if defined(__ARM_FEATURE_DSP)
    uint32_t vl = 1u << 30;
    int32_t vh = 0, t;
    __asm__("smlal %[vl], %[vh], %[a], %[m]\n\t"
            "asr %[t], %[vh], #31\n\t"
            "adds %[vl], %[vl], %[t], lsl #31\n\t"
            "adc %[vh], %[vh], %[t]\n\t"
            "adds %[vl], %[vl], %[nl]\n\t"
            "adc %[vh], %[vh], %[nh]"
            : [vl] "+&r"(vl), [vh] "+&r"(vh), [t] "=&r"(t)
            : [a] "r"(val), [m] "r"(mult), [nl] "r"(nl), [nh] "r"(nh)
            : "cc");
    return vh >> r1;
#else
    int64_t w = (int64_t)val * mult + (1LL << 30);
    w += (w < 0 ? -(1LL << 31) : 0) + (int64_t)(((uint64_t)(uint32_t)nh << 32) | nl);
    return (int32_t)(w >> 32 >> r1);
#endif
}

static inline int8_t soi_nn_clamp_s8(int32_t v, int32_t lo, int32_t hi)
{
    v = v < lo ? lo : v;
    return (int8_t)(v > hi ? hi : v);
}

/* Requantizes n accumulators of one channel (soi_nn_requantize + output offset, clamp) and stores them
 * with stride `step`. For a right shift r >= 1 the doubling high multiply and the rounding divide (halves away from
 * zero) are folded into one 64-bit sum: with V = acc * m + 2^30,
 *   result = (V + 2^(30+r) - [V < 0] * 2^31) >> (31 + r) = high word >> (r - 1)
 * (floor((floor(V / 2^31) + 2^(r-1) - [V < 0]) / 2^r) written as one floor division). */
static inline __attribute__((always_inline)) void soi_nn_requant_store_s8(const int32_t *acc,
                                                               int32_t n,
                                                               int32_t mult,
                                                               int32_t shift,
                                                               int8_t *o,
                                                               int32_t step,
                                                               int32_t off,
                                                               int32_t lo,
                                                               int32_t hi)
{
    if (shift < 0)
    {
        const int32_t r1 = -shift - 1;
        const uint32_t nl = r1 == 0 ? 1u << 31 : 0u;
        const int32_t nh = r1 == 0 ? 0 : (int32_t)(1u << (r1 - 1));
#if defined(SOI_NN_DSP) && defined(__ARM_FEATURE_DSP)
#define SOI_ROW_RQ(v)                                                                                          \
    do                                                                                                         \
    {                                                                                                          \
        uint32_t vl = 1u << 30;                                                                                \
        int32_t vh = 0, t;                                                                                     \
        __asm__("smlal %[vl], %[vh], %[a], %[m]\n\t"                                                            \
                "asr %[t], %[vh], #31\n\t"                                                                     \
                "adds %[vl], %[vl], %[t], lsl #31\n\t"                                                         \
                "adc %[vh], %[vh], %[t]\n\t"                                                                   \
                "adds %[vl], %[vl], %[nl]\n\t"                                                                 \
                "adc %[vh], %[vh], %[nh]"                                                                      \
                : [vl] "+&r"(vl), [vh] "+&r"(vh), [t] "=&r"(t)                                                 \
                : [a] "r"(acc[j]), [m] "r"(mult), [nl] "r"(nl), [nh] "r"(nh)                                   \
                : "cc");                                                                                       \
        (v) = (vh >> r1) + off;                                                                                \
    } while (0)
        if (lo == -128 && hi == 127)
        {
            for (int32_t j = 0; j < n; j++, o += step)
            {
                int32_t v;
                SOI_ROW_RQ(v);
                *o = (int8_t)__ssat(v, 8);
            }
            return;
        }
#else
#define SOI_ROW_RQ(v)                                                                                          \
    do                                                                                                         \
    {                                                                                                          \
        int64_t w = (int64_t)acc[j] * mult + (1LL << 30);                                                      \
        w += (w < 0 ? -(1LL << 31) : 0) + (int64_t)(((uint64_t)(uint32_t)nh << 32) | nl);                      \
        (v) = (int32_t)(w >> 32 >> r1) + off;                                                                  \
    } while (0)
#endif
        for (int32_t j = 0; j < n; j++, o += step)
        {
            int32_t v;
            SOI_ROW_RQ(v);
            v = v < lo ? lo : v;
            v = v > hi ? hi : v;
            *o = (int8_t)v;
        }
        return;
#undef SOI_ROW_RQ
    }
    for (int32_t j = 0; j < n; j++, o += step)
    {
        *o = soi_nn_clamp_s8(soi_nn_requantize(acc[j], mult, shift) + off, lo, hi);
    }
}

/* Output stage shared by the matrix kernels: quant params of the first row, output offset and clamp.
 * q_step is 1 for per-channel quantization and 0 for per-tensor. */
typedef struct
{
    const int32_t *mult;
    const int32_t *shift;
    int32_t q_step;
    int32_t out_offset;
    int32_t act_min;
    int32_t act_max;
} soi_nn_out_stage;

static inline int8_t soi_nn_output(const soi_nn_out_stage *os, int32_t row, int32_t acc)
{
    const int32_t i = row * os->q_step;
    return soi_nn_clamp_s8(soi_nn_requantize(acc, os->mult[i], os->shift[i]) + os->out_offset,
                           os->act_min,
                           os->act_max);
}

/* Scratch bytes used by the im2col convolution core for a K = KH*KW*C_IN/groups dot product length.
 * C / DSP: two int16 columns (4*K + 4 alignment bytes); MVE: two int8 columns (2*K). MVE 1x1 reads the
 * input in place and needs none. */
int32_t soi_nn_conv_buffer_size(soi_nn_isa isa, int32_t k, int32_t is_1x1);

/* Scratch of the direct KW = 3 convolution (soi_nn_conv_row) for a KH x KW x C_IN filter, 0 where that
 * kernel does not apply (KW != 3, C_IN not a multiple of 8, KH > 8). Same value for every ISA. */
int32_t soi_nn_conv_row_buffer_size(int32_t kh, int32_t kw, int32_t cin);

/* C / DSP: direct convolution for KW = 3, stride_w 1, dilation_w 1, no groups, C_IN % 8 == 0 (see
 * soi_nn_conv_row.c). Returns 1 when it did the work, 0 when it does not apply (the caller falls back). */
int soi_nn_conv_row(const cmsis_nn_context *ctx,
                    const cmsis_nn_conv_params *p,
                    const cmsis_nn_per_channel_quant_params *q,
                    const cmsis_nn_dims *in_dims,
                    const int8_t *in,
                    const cmsis_nn_dims *f_dims,
                    const int8_t *filter,
                    const int32_t *bias,
                    const cmsis_nn_dims *out_dims,
                    int8_t *out);

/* Depthwise conv over one frequency bin (soi_nn_dw_column.c): the shapes it takes, and the call. */
int soi_nn_dw_column_applies(const cmsis_nn_dw_conv_params *p,
                             const cmsis_nn_dims *in,
                             const cmsis_nn_dims *f,
                             const cmsis_nn_dims *out);
void soi_nn_dw_column(const cmsis_nn_dw_conv_params *p,
                      const cmsis_nn_dims *in,
                      const int8_t *input,
                      const cmsis_nn_dims *f,
                      const int8_t *filter,
                      const int32_t *bias,
                      const soi_nn_out_stage *os,
                      int8_t *output);

/* The convolution core behind every conv entry point (validated arguments). */
arm_cmsis_nn_status soi_nn_conv_core(const cmsis_nn_context *ctx,
                                     const cmsis_nn_conv_params *p,
                                     const cmsis_nn_per_channel_quant_params *q,
                                     const cmsis_nn_dims *in_dims,
                                     const int8_t *in,
                                     const cmsis_nn_dims *f_dims,
                                     const int8_t *filter,
                                     const int32_t *bias,
                                     const cmsis_nn_dims *out_dims,
                                     int8_t *out);

/* C / DSP: rows x (1 or 2) columns of an im2col pair buffer (see soi_nn_im2col_s16), outputs at out0/out1
 * (out1 NULL: one column). Row r of the filter starts at filter + r * k. */
void soi_nn_mat_mult_s8_s16(const int8_t *filter,
                            const uint8_t *cols,
                            int32_t k,
                            int32_t rows,
                            const int32_t *bias,
                            const soi_nn_out_stage *os,
                            int8_t *out0,
                            int8_t *out1);

/* Writes value column `col` (0/1) of the pair layout (cols must be 4-byte aligned): for k < K4 = K & ~3, group g = k/4 holds 16 bytes:
 * column 0 as int16 (x0, x2, x1, x3), then column 1 likewise; the K - K4 tail values follow as plain
 * int16, column 0 then column 1. Values already include input_offset; padding is 0. */
void soi_nn_im2col_s16(uint8_t *cols,
                       int32_t col,
                       const int8_t *in,
                       const cmsis_nn_dims *in_dims,
                       const cmsis_nn_conv_params *p,
                       int32_t kh,
                       int32_t kw,
                       int32_t c0,
                       int32_t cg,
                       int32_t oy,
                       int32_t ox);

/* MVE: column of K int8 values without offset; padding is -input_offset (the input zero point). */
void soi_nn_im2col_s8(int8_t *dst,
                      const int8_t *in,
                      const cmsis_nn_dims *in_dims,
                      const cmsis_nn_conv_params *p,
                      int32_t kh,
                      int32_t kw,
                      int32_t c0,
                      int32_t cg,
                      int32_t oy,
                      int32_t ox);

/* Direct int8 matrix x vectors: out[j][r] for rows r < rows and up to 4 int8 columns col[j] of length k
 * (no scratch). acc = sum((x + in_off) * (w + w_off)) + base[r], base = bias (or kernel sums when
 * sums_have_offset, which already include in_off * sum(w)). out[j] + r * out_step is written. */
void soi_nn_vec_mat_s8(const int8_t *filter,
                       const int8_t *const *cols,
                       int32_t ncols,
                       int32_t k,
                       int32_t rows,
                       int32_t in_off,
                       int32_t w_off,
                       const int32_t *base,
                       int32_t sums_have_offset,
                       const soi_nn_out_stage *os,
                       int8_t *const *out);

#endif
