/* Direct int8 matrix x vector kernel (no scratch): fully connected, unbuffered 1x1 conv, and on MVE also
 * the im2col conv core. Offsets are folded algebraically so the inner loops see raw int8 data:
 *   sum((x + io) * (w + wo)) + b = sum(x' * w) + wo * sum(x') + b,   x' = x + io      (C / DSP)
 *                                = sum(x * w) + wo * sum(x) + b + io * (sum(w) + wo * K)   (MVE)
 * Both are the same integer in 32-bit wrap-around arithmetic, so every path is bit-exact. */
#include "soi_nn_support.h"

#if defined(SOI_NN_MVE)
/* One filter row against up to 4 columns per pass: 16 int8 MACs per VMLADAVA, the row sum for the
 * offset fold comes from one VADDVA per 16 bytes; the tail is handled by tail predication. */
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
        const int8_t *w = filter;
        for (int32_t r = 0; r < rows; r++, w += k)
        {
            int32_t s0 = 0, s1 = 0, s2 = 0, s3 = 0, ws = 0;
            for (int32_t i = 0; i < k; i += 16)
            {
                const mve_pred16_t pr = vctp8q((uint32_t)(k - i));
                const int8x16_t wv = vldrbq_z_s8(w + i, pr);
                ws = vaddvaq_s8(ws, wv);
                s0 = vmladavaq_s8(s0, wv, vldrbq_z_s8(c0 + i, pr));
                s1 = vmladavaq_s8(s1, wv, vldrbq_z_s8(c1 + i, pr));
                s2 = vmladavaq_s8(s2, wv, vldrbq_z_s8(c2 + i, pr));
                s3 = vmladavaq_s8(s3, wv, vldrbq_z_s8(c3 + i, pr));
            }
            int32_t b = base ? base[r] : 0;
            if (!sums_have_offset)
            {
                b += in_off * (ws + w_off * k);
            }
            const int32_t s[4] = {s0, s1, s2, s3};
            for (int32_t j = 0; j < nc; j++)
            {
                out[j0 + j][r] = soi_nn_output(os, r, s[j] + w_off * xsum[j] + b);
            }
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
