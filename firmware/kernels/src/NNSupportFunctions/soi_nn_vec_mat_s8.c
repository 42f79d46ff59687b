/* Direct int8 matrix x vector kernel (no scratch): fully connected and, on C / DSP, the unbuffered 1x1
 * conv (the MVE conv core has its own 2x2 kernel in soi_nn_conv_core.c). Offsets are folded
 * algebraically so the inner loops see raw int8 data:
 *   sum((x + io) * (w + wo)) + b = sum(x' * w) + wo * sum(x') + b,   x' = x + io      (C / DSP)
 *                                = sum(x * w) + wo * sum(x) + b + io * (sum(w) + wo * K)   (MVE)
 * Both are the same integer in 32-bit wrap-around arithmetic, so every path is bit-exact. */
#include "soi_nn_support.h"

#if defined(SOI_NN_MVE)
/* Requantizes 4 accumulators that share one (multiplier, shift): the vector form of soi_nn_requantize.
 * VQRDMULH is (2*x*m + 2^31) >> 32 = (x*m + 2^30) >> 31 (no saturation: m < 2^31). VRSHL by -e rounds
 * halves up; subtracting 1 from negative values first turns that into TFLite's halves away from zero
 * (the AND with -e is 0 when e == 0, so nothing is subtracted then). */
static inline int32x4_t requant_x4(int32x4_t v, int32_t mult, int32_t shift)
{
    const int32_t left = shift > 0 ? shift : 0;
    const int32_t right = shift > 0 ? 0 : -shift;
    v = vshlq_s32(v, vdupq_n_s32(left));
    v = vqrdmulhq_n_s32(v, mult);
    const int32x4_t fix = vshrq_n_s32(vandq_s32(v, vdupq_n_s32(-right)), 31);
    return vrshlq_s32(vaddq_s32(v, fix), vdupq_n_s32(-right));
}

/* One filter row against 4 columns: s[j] = sum(w * c_j), and *ws = sum(w) when with_ws (a constant
 * after inlining; without it the loop is 9 instead of 10 vector instructions per 64 MACs). */
static inline __attribute__((always_inline)) void dot_1x4(const int8_t *w,
                                                           const int8_t *c0,
                                                           const int8_t *c1,
                                                           const int8_t *c2,
                                                           const int8_t *c3,
                                                           int32_t k,
                                                           int32_t s[4],
                                                           int32_t *ws,
                                                           const int with_ws)
{
#if defined(__OPTIMIZE__) && !defined(SOI_NN_NO_ASM)
    /* Tail-predicated low-overhead loop: loads + VMLADAVA (+ VADDVA) per 16 values of K. The
     * accumulators of VADDVA / VMLADAVA must be even registers ("Te"). */
    int32_t a0, a1, a2, a3, sw = 0;
#define SOI_DOT_OUTS                                                                                               \
    [a0] "=&Te"(a0), [a1] "=&Te"(a1), [a2] "=&Te"(a2), [a3] "=&Te"(a3), [w] "+r"(w), [c0] "+r"(c0), [c1] "+r"(c1), \
        [c2] "+r"(c2), [c3] "+r"(c3)
    if (with_ws)
    {
        __asm__ volatile("mov %[a0], #0\n"
                         "mov %[a1], #0\n"
                         "mov %[a2], #0\n"
                         "mov %[a3], #0\n"
                         "mov %[sw], #0\n"
                         "wlstp.8 lr, %[n], 2f\n"
                         "1:\n"
                         "vldrb.8 q0, [%[w]], #16\n"
                         "vldrb.8 q1, [%[c0]], #16\n"
                         "vaddva.s8 %[sw], q0\n"
                         "vldrb.8 q2, [%[c1]], #16\n"
                         "vmladava.s8 %[a0], q0, q1\n"
                         "vldrb.8 q3, [%[c2]], #16\n"
                         "vmladava.s8 %[a1], q0, q2\n"
                         "vldrb.8 q4, [%[c3]], #16\n"
                         "vmladava.s8 %[a2], q0, q3\n"
                         "vmladava.s8 %[a3], q0, q4\n"
                         "letp lr, 1b\n"
                         "2:\n"
                         : SOI_DOT_OUTS, [sw] "=&Te"(sw)
                         : [n] "r"(k)
                         : "q0", "q1", "q2", "q3", "q4", "lr", "memory");
    }
    else
    {
        __asm__ volatile("mov %[a0], #0\n"
                         "mov %[a1], #0\n"
                         "mov %[a2], #0\n"
                         "mov %[a3], #0\n"
                         "wlstp.8 lr, %[n], 2f\n"
                         "1:\n"
                         "vldrb.8 q0, [%[w]], #16\n"
                         "vldrb.8 q1, [%[c0]], #16\n"
                         "vldrb.8 q2, [%[c1]], #16\n"
                         "vmladava.s8 %[a0], q0, q1\n"
                         "vldrb.8 q3, [%[c2]], #16\n"
                         "vmladava.s8 %[a1], q0, q2\n"
                         "vldrb.8 q4, [%[c3]], #16\n"
                         "vmladava.s8 %[a2], q0, q3\n"
                         "vmladava.s8 %[a3], q0, q4\n"
                         "letp lr, 1b\n"
                         "2:\n"
                         : SOI_DOT_OUTS
                         : [n] "r"(k)
                         : "q0", "q1", "q2", "q3", "q4", "lr", "memory");
    }
#undef SOI_DOT_OUTS
    s[0] = a0;
    s[1] = a1;
    s[2] = a2;
    s[3] = a3;
    *ws = sw;
#else
    int32_t s0 = 0, s1 = 0, s2 = 0, s3 = 0, sw = 0;
    for (int32_t i = 0; i < k; i += 16)
    {
        const mve_pred16_t pr = vctp8q((uint32_t)(k - i));
        const int8x16_t wv = vldrbq_z_s8(w + i, pr);
        if (with_ws)
        {
            sw = vaddvaq_s8(sw, wv);
        }
        s0 = vmladavaq_s8(s0, wv, vldrbq_z_s8(c0 + i, pr));
        s1 = vmladavaq_s8(s1, wv, vldrbq_z_s8(c1 + i, pr));
        s2 = vmladavaq_s8(s2, wv, vldrbq_z_s8(c2 + i, pr));
        s3 = vmladavaq_s8(s3, wv, vldrbq_z_s8(c3 + i, pr));
    }
    s[0] = s0;
    s[1] = s1;
    s[2] = s2;
    s[3] = s3;
    *ws = sw;
#endif
}

/* One filter row against up to 4 columns per pass: 16 int8 MACs per VMLADAVA, the row sum for the
 * offset fold comes from one VADDVA per 16 bytes; the tail is handled by tail predication. The 4
 * results of a row are requantized together in one vector. */
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
                       int8_t *const *out)
{
    const int32x4_t vmin = vdupq_n_s32(os->act_min), vmax = vdupq_n_s32(os->act_max);
    if (ncols == 1 && sums_have_offset)
    {
        /* One column (FC with batch 1, a 1x1 conv of one pixel), kernel sums given: 4 rows per pass
         * against the column; the column sum (for the filter offset) comes with the same loop. Per-tensor
         * or per-channel quantization (then the 4 rows' multipliers and shifts as one vector). */
        const int8_t *x = cols[0];
        int8_t *o = out[0];
        for (int32_t r = 0; r < rows; r += 4)
        {
            const int32_t nr = rows - r < 4 ? rows - r : 4;
            const int8_t *w0 = filter + r * k;
            const int8_t *w1 = nr > 1 ? w0 + k : w0;
            const int8_t *w2 = nr > 2 ? w0 + 2 * k : w0;
            const int8_t *w3 = nr > 3 ? w0 + 3 * k : w0;
            int32_t s[4], xs;
            if (w_off != 0)
            {
                dot_1x4(x, w0, w1, w2, w3, k, s, &xs, 1);
            }
            else
            {
                dot_1x4(x, w0, w1, w2, w3, k, s, &xs, 0);
                xs = 0;
            }
            const mve_pred16_t pq = vctp32q((uint32_t)nr);
            const int32x4_t b = base != NULL ? vldrwq_z_s32(base + r, pq) : vdupq_n_s32(0); /* rows past nr: 0 */
            int32x4_t v = vaddq_s32(vaddq_n_s32(vldrwq_s32(s), w_off * xs), b);
            if (os->q_step == 0)
            {
                v = requant_x4(v, os->mult[0], os->shift[0]);
            }
            else
            {
                v = soi_mve_requant_lanes(v, vldrwq_z_s32(os->mult + r, pq), vldrwq_z_s32(os->shift + r, pq));
            }
            v = vminq_s32(vmaxq_s32(vaddq_n_s32(v, os->out_offset), vmin), vmax);
            vstrbq_p_s32(o + r, v, pq);
        }
        return;
    }
    for (int32_t j0 = 0; j0 < ncols; j0 += 4)
    {
        const int32_t nc = ncols - j0 < 4 ? ncols - j0 : 4;
        const int8_t *c0 = cols[j0];
        const int8_t *c1 = nc > 1 ? cols[j0 + 1] : c0;
        const int8_t *c2 = nc > 2 ? cols[j0 + 2] : c0;
        const int8_t *c3 = nc > 3 ? cols[j0 + 3] : c0;
        int32_t xsum[4] = {0, 0, 0, 0};
        if (w_off != 0)
        {
            for (int32_t i = 0; i < k; i += 16)
            {
                const mve_pred16_t pr = vctp8q((uint32_t)(k - i));
                xsum[0] = vaddvaq_p_s8(xsum[0], vldrbq_z_s8(c0 + i, pr), pr);
                xsum[1] = vaddvaq_p_s8(xsum[1], vldrbq_z_s8(c1 + i, pr), pr);
                xsum[2] = vaddvaq_p_s8(xsum[2], vldrbq_z_s8(c2 + i, pr), pr);
                xsum[3] = vaddvaq_p_s8(xsum[3], vldrbq_z_s8(c3 + i, pr), pr);
            }
        }
        const int32x4_t xoff = vmulq_n_s32(vldrwq_s32(xsum), w_off);
        int8_t *o0 = out[j0];
        /* Byte offsets of the other columns' outputs from column 0's (missing columns: 0, i.e. column 0
         * itself, whose lanes hold the same value since they read the same data). Address arithmetic
         * is modulo 2^32, so negative differences work as unsigned offsets. */
        uint32_t offs[4] = {0u, 0u, 0u, 0u};
        for (int32_t j = 1; j < nc; j++)
        {
            offs[j] = (uint32_t)((uintptr_t)out[j0 + j] - (uintptr_t)o0);
        }
        const uint32x4_t voffs = vldrwq_u32(offs);
        const int32_t *mult = os->mult, *shift = os->shift;
        const int32_t q_step = os->q_step, out_offset = os->out_offset;
        const int32_t wk = in_off * w_off * k;
        const int8_t *w = filter;
        for (int32_t r = 0; r < rows; r++, w += k)
        {
            int32_t s[4], ws;
            int32_t b = base ? base[r] : 0;
            if (sums_have_offset)
            {
                dot_1x4(w, c0, c1, c2, c3, k, s, &ws, 0);
            }
            else
            {
                dot_1x4(w, c0, c1, c2, c3, k, s, &ws, 1);
                b += in_off * ws + wk;
            }
            const int32_t q = r * q_step;
            int32x4_t v = vaddq_s32(vaddq_n_s32(vldrwq_s32(s), b), xoff);
            v = vaddq_n_s32(requant_x4(v, mult[q], shift[q]), out_offset);
            v = vminq_s32(vmaxq_s32(v, vmin), vmax);
            vstrbq_scatter_offset_s32(o0 + r, voffs, v);
        }
    }
}
#else
/* C / DSP: one column at a time, 2 rows per pass; the column is extended once per 4 values
 * (SXTB16 + SADD16) and shared by both rows. */
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
                       int8_t *const *out)
{
    const int32_t io = sums_have_offset ? 0 : in_off;
    const int32_t k4 = k & ~3;
    for (int32_t j = 0; j < ncols; j++)
    {
        const int8_t *x = cols[j];
        int32_t xsum = 0;
        if (w_off != 0)
        {
            for (int32_t i = 0; i < k; i++)
            {
                xsum += x[i] + io;
            }
        }
        for (int32_t r = 0; r < rows; r += 2)
        {
            const int two = r + 1 < rows;
            const int8_t *w0 = filter + r * k;
            const int8_t *w1 = two ? w0 + k : w0;
            int32_t a0 = 0, a1 = 0;
            int32_t i = 0;
#if defined(SOI_NN_DSP)
            const uint32_t off2 = ((uint32_t)io & 0xFFFFu) | ((uint32_t)io << 16);
            for (; i < k4; i += 4)
            {
                const uint32_t xw = soi_read_u32(x + i);
                const uint32_t xa = soi_sadd16(soi_sxtb16(xw), off2);
                const uint32_t xb = soi_sadd16(soi_sxtb16_ror8(xw), off2);
                const uint32_t f0 = soi_read_u32(w0 + i);
                const uint32_t f1 = soi_read_u32(w1 + i);
                a0 = soi_smlad(soi_sxtb16(f0), xa, a0);
                a0 = soi_smlad(soi_sxtb16_ror8(f0), xb, a0);
                a1 = soi_smlad(soi_sxtb16(f1), xa, a1);
                a1 = soi_smlad(soi_sxtb16_ror8(f1), xb, a1);
            }
#else
            (void)k4;
#endif
            for (; i < k; i++)
            {
                const int32_t xv = x[i] + io;
                a0 += xv * w0[i];
                a1 += xv * w1[i];
            }
            const int32_t b0 = base ? base[r] : 0;
            out[j][r] = soi_nn_output(os, r, a0 + w_off * xsum + b0);
            if (two)
            {
                const int32_t b1 = base ? base[r + 1] : 0;
                out[j][r + 1] = soi_nn_output(os, r + 1, a1 + w_off * xsum + b1);
            }
        }
    }
}
#endif
