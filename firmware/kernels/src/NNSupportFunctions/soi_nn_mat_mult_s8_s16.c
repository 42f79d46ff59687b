/* C / DSP matrix kernel of the convolution core: int8 filter rows x int16 im2col columns (pair layout,
 * offset already added). Register blocking is 2 output channels x 2 columns: per group of 4 K values it
 * loads 2 filter words, sign-extends them with 4 SXTB16 (no reordering needed thanks to the column
 * layout), loads 4 column words (2 LDRD), and issues 8 SMLAD = 16 MACs. That takes 13 of the 14 usable
 * core registers (4 accumulators, 4 filter halves, 2 column words, 3 pointers; the loop end stays in
 * memory), so 4x2 or 2x4 blocks would spill inside the loop. */
#include "soi_nn_support.h"

/* Accumulates rows w0/w1 (w1 may equal w0) against the pair buffer; acc = {r0c0, r0c1, r1c0, r1c1}. */
static inline __attribute__((always_inline)) void
dot_2x2(const int8_t *w0, const int8_t *w1, const uint8_t *cols, int32_t k, int32_t acc[4])
{
    const int32_t k4 = k & ~3;
    int32_t a00 = acc[0], a01 = acc[1], a10 = acc[2], a11 = acc[3];
    const uint8_t *c = cols;
    const uint8_t *const c_end = cols + 4 * k4;
#if defined(SOI_NN_DSP) && defined(__ARM_FEATURE_DSP) && defined(__OPTIMIZE__) && !defined(SOI_NN_NO_ASM)
    /* (Skipped at -O0, where the frame pointer leaves too few registers; the intrinsic loop below then
     * does all the work with the same results. Define SOI_NN_NO_ASM for -fno-omit-frame-pointer builds.)
     * Hand-scheduled loop, 2 groups (32 MACs) per iteration: 4 LDR + 8 SXTB16 + 4 LDRD + 16 SMLAD +
     * 3 loop = 35 instructions. Inline asm because GCC neither folds the ROR into SXTB16 nor keeps all
     * 13 values in registers. Needs a 4-byte aligned column buffer (LDRD). The loop end lives in memory
     * and is compared through a column temporary that is free at that point. */
    const uint8_t *const c_end2 = cols + 4 * (k4 & ~7);
    if (c != c_end2)
    {
        uint32_t f0, f1, f0a, f1a, xa, xb;
        __asm__ volatile(
            "1:\n"
            ".rept 2\n"
            "ldr %[f0], [%[w0]], #4\n"
            "ldr %[f1], [%[w1]], #4\n"
            "ldrd %[xa], %[xb], [%[c]], #8\n"
            "sxtb16 %[f0a], %[f0]\n"
            "sxtb16 %[f0], %[f0], ror #8\n"
            "sxtb16 %[f1a], %[f1]\n"
            "sxtb16 %[f1], %[f1], ror #8\n"
            "smlad %[a00], %[f0a], %[xa], %[a00]\n"
            "smlad %[a10], %[f1a], %[xa], %[a10]\n"
            "smlad %[a00], %[f0], %[xb], %[a00]\n"
            "smlad %[a10], %[f1], %[xb], %[a10]\n"
            "ldrd %[xa], %[xb], [%[c]], #8\n"
            "smlad %[a01], %[f0a], %[xa], %[a01]\n"
            "smlad %[a11], %[f1a], %[xa], %[a11]\n"
            "smlad %[a01], %[f0], %[xb], %[a01]\n"
            "smlad %[a11], %[f1], %[xb], %[a11]\n"
            ".endr\n"
            "ldr %[xa], %[end]\n"
            "cmp %[c], %[xa]\n"
            "bne 1b\n"
            : [a00] "+r"(a00), [a01] "+r"(a01), [a10] "+r"(a10), [a11] "+r"(a11), [w0] "+r"(w0), [w1] "+r"(w1),
              [c] "+r"(c), [f0] "=&r"(f0), [f1] "=&r"(f1), [f0a] "=&r"(f0a), [f1a] "=&r"(f1a), [xa] "=&r"(xa),
              [xb] "=&r"(xb)
            : [end] "m"(c_end2), "m"(*(const uint8_t(*)[c_end2 - c])c), "m"(*(const int8_t(*)[k4])w0),
              "m"(*(const int8_t(*)[k4])w1)
            : "cc");
    }
#endif
#if defined(SOI_NN_DSP)
    while (c != c_end)
    {
        const uint32_t f0 = soi_read_u32(w0);
        const uint32_t f1 = soi_read_u32(w1);
        w0 += 4;
        w1 += 4;
        const uint32_t f0a = soi_sxtb16(f0), f0b = soi_sxtb16_ror8(f0);
        const uint32_t f1a = soi_sxtb16(f1), f1b = soi_sxtb16_ror8(f1);
        uint32_t xa = soi_read_u32(c), xb = soi_read_u32(c + 4);
        a00 = soi_smlad(f0a, xa, a00);
        a10 = soi_smlad(f1a, xa, a10);
        a00 = soi_smlad(f0b, xb, a00);
        a10 = soi_smlad(f1b, xb, a10);
        xa = soi_read_u32(c + 8);
        xb = soi_read_u32(c + 12);
        a01 = soi_smlad(f0a, xa, a01);
        a11 = soi_smlad(f1a, xa, a11);
        a01 = soi_smlad(f0b, xb, a01);
        a11 = soi_smlad(f1b, xb, a11);
        c += 16;
    }
#else
    while (c != c_end)
    {
        int16_t x[8];
        memcpy(x, c, 16);
        /* x = column 0 (v0, v2, v1, v3), column 1 likewise. */
        a00 += w0[0] * x[0] + w0[1] * x[2] + w0[2] * x[1] + w0[3] * x[3];
        a10 += w1[0] * x[0] + w1[1] * x[2] + w1[2] * x[1] + w1[3] * x[3];
        a01 += w0[0] * x[4] + w0[1] * x[6] + w0[2] * x[5] + w0[3] * x[7];
        a11 += w1[0] * x[4] + w1[1] * x[6] + w1[2] * x[5] + w1[3] * x[7];
        w0 += 4;
        w1 += 4;
        c += 16;
    }
#endif
    const int32_t tail = k - k4;
    for (int32_t i = 0; i < tail; i++)
    {
        int16_t x0, x1;
        memcpy(&x0, c + 2 * i, 2);
        memcpy(&x1, c + 2 * (tail + i), 2);
        a00 += w0[i] * x0;
        a01 += w0[i] * x1;
        a10 += w1[i] * x0;
        a11 += w1[i] * x1;
    }
    acc[0] = a00;
    acc[1] = a01;
    acc[2] = a10;
    acc[3] = a11;
}

/* Requantization with the per-row constants hoisted (see soi_nn_requantize): branch-free, since with
 * e == 0 the mask and half are 0 and the rounding term is always 0. */
typedef struct
{
    int32_t mult, left, right, mask, half;
} rq_row;

static inline rq_row rq_setup(int32_t mult, int32_t shift)
{
    rq_row q;
    q.mult = mult;
    q.left = shift > 0 ? shift : 0;
    q.right = shift > 0 ? 0 : -shift;
    q.mask = (int32_t)((1u << q.right) - 1u);
    q.half = q.mask >> 1;
    return q;
}

static inline int32_t rq_apply(const rq_row *q, int32_t acc)
{
    const int32_t x = (int32_t)((uint32_t)acc << q->left);
    const int32_t hi = (int32_t)(((int64_t)x * q->mult + (1LL << 30)) >> 31);
    const int32_t thr = q->half + (int32_t)((uint32_t)hi >> 31);
    return (hi >> q->right) + ((hi & q->mask) > thr ? 1 : 0);
}

/* Requantizes and stores one 2x2 block. Kept out of line: next to the inline asm every local would be
 * spilled, and a call with its own registers is cheaper than that. */
static __attribute__((noinline)) void store_2x2(const int32_t acc[4], int32_t r, int32_t r1, const soi_nn_out_stage *os,
                                                int8_t *out0, int8_t *out1)
{
    const int32_t off = os->out_offset, lo = os->act_min, hi = os->act_max;
    const rq_row q0 = rq_setup(os->mult[r], os->shift[r]);
    out0[r] = soi_nn_clamp_s8(rq_apply(&q0, acc[0]) + off, lo, hi);
    if (out1 != NULL)
    {
        out1[r] = soi_nn_clamp_s8(rq_apply(&q0, acc[1]) + off, lo, hi);
    }
    if (r1 != r)
    {
        const rq_row q1 = rq_setup(os->mult[r1], os->shift[r1]);
        out0[r1] = soi_nn_clamp_s8(rq_apply(&q1, acc[2]) + off, lo, hi);
        if (out1 != NULL)
        {
            out1[r1] = soi_nn_clamp_s8(rq_apply(&q1, acc[3]) + off, lo, hi);
        }
    }
}

void soi_nn_mat_mult_s8_s16(const int8_t *filter,
                            const uint8_t *cols,
                            int32_t k,
                            int32_t rows,
                            const int32_t *bias,
                            const soi_nn_out_stage *os,
                            int8_t *out0,
                            int8_t *out1)
{
    for (int32_t r = 0; r < rows; r += 2)
    {
        /* An odd last row runs as both rows of the block (same pointer); its copy is dropped. */
        const int32_t r1 = r + 1 < rows ? r + 1 : r;
        const int32_t b0 = bias ? bias[r] : 0;
        const int32_t b1 = bias ? bias[r1] : 0;
        int32_t acc[4] = {b0, b0, b1, b1};
        dot_2x2(filter + r * k, filter + r1 * k, cols, k, acc);
        store_2x2(acc, r, r1, os, out0, out1);
    }
}
