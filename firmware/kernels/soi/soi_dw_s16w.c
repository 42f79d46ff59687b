/* soi_dw_s16w_s8 (see the header): per block of 4 channels, one word of each tap's frame, the stream's
 * words and one word store (the assembly in soi_dw_s16w_asm.c, its C twin here).
 *
 * Taps. Two frames (k and k + 1 taps apart) are paired per channel: PKHBT / PKHTB put the low / high halves
 * of the two words side by side ([a0 a1 b0 b1], [a2 a3 b2 b3]) and SXTB16 splits each into the int16 pairs
 * (a0, b0), (a1, b1), ... that SMLAD multiplies with the channel's (2 wk, 2 wk+1): 2 PKH + 4 SXTB16 + 4
 * SMLAD for 8 MACs. The last tap of an odd kh is SXTB16 into (c0, c2) / (c1, c3) and one SMLABB / SMLATT
 * per channel. The input offset is in the start values, so the bytes are used raw.
 *
 * Requantization: soi_pw_s16w_s8's four instructions (the sign fix, SMMLAR, ASR, SSAT); the activation
 * range, when it is narrower than int8, is applied afterwards to the frame's bytes.
 *
 * Cycle budget of one kh = 3 block on the Cortex-M4 (plugin timing table: a run of n back-to-back loads
 * costs n + 1): 3 input loads (4), 5 LDM of the stream (24), 2 PKH + 6 SXTB16 + 4 SMLAD + 4 SMLAxy (16),
 * 4 x 4 requantization + 3 LSR of the packed shifts (19), 3 BFI + STR (4), loop test (4): about 71 cycles
 * per 12 MACs; the requantization and the stream words it needs (9 of 19) are most of it, and no layout
 * removes them: every channel has its own start value, multiplier and rounding constant. A larger kh adds
 * 20 cycles per tap pair (8 MACs) and the jump into the unrolled pairs (about 5). */
#include "soi_dw_s16w.h"
#include "soi_dw_s16w_internal.h"

#include <stddef.h>

#if !defined(DW16_ASM)
static int32_t half(int32_t word, int32_t high)
{
    return high ? (int32_t)(int16_t)((uint32_t)word >> 16) : (int32_t)(int16_t)((uint32_t)word & 0xFFFFu);
}

/* The assembly in C (hosts, cores without DSP, SOI_NN_NO_ASM): the same sums and requantization, for both
 * block layouts (kh = 3: start values interleaved with the first tap pairs; other kh: the 4 start values,
 * then the pairs). */
static void blocks_c(const dw16_args *a, int32_t kh)
{
    static const uint8_t S3[4] = {0, 1, 4, 5}, P3[4] = {2, 3, 6, 7}, RQ_M[4] = {0, 2, 5, 7};
    const int32_t np = kh / 2, odd = kh % 2, words = 4 + 4 * np + 2 * odd + 9, rq = 4 + 4 * np + 2 * odd;
    const int8_t *x = a->x;
    int8_t *o = a->out;
    for (const int32_t *s = a->s; s != a->end; s += words, x += 4, o += 4)
    {
        for (int32_t j = 0; j < 4; j++)
        {
            int32_t acc = s[kh == 3 ? S3[j] : j];
            for (int32_t k = 0; k < np; k++)
            {
                const int32_t p = s[kh == 3 ? P3[j] : 4 + 4 * k + j];
                acc += half(p, 0) * x[2 * k * a->ystep + j] + half(p, 1) * x[(2 * k + 1) * a->ystep + j];
            }
            if (odd)
            {
                acc += half(s[rq - 2 + (j & 1)], j >> 1) * x[(kh - 1) * a->ystep + j];
            }
            const int32_t m = s[rq + RQ_M[j]], k = s[rq + RQ_M[j] + 1];
            const int32_t r = (int32_t)(((uint32_t)s[rq + 4] >> (8 * j)) & 0xFFu);
            const int32_t c = (int32_t)((uint32_t)k + (uint32_t)(acc >> 31));
            const int32_t v = (int32_t)(((int64_t)c * 4294967296LL + (int64_t)acc * m + 0x80000000LL) >> 32) >> r;
            o[j] = (int8_t)(v < -128 ? -128 : (v > 127 ? 127 : v));
        }
    }
}
#endif

arm_cmsis_nn_status soi_dw_s16w_s8(const cmsis_nn_dw_conv_params *dw_params,
                                   const cmsis_nn_dims *input_dims,
                                   const int8_t *input,
                                   const cmsis_nn_dims *filter_dims,
                                   const int32_t *stream,
                                   const cmsis_nn_dims *output_dims,
                                   int8_t *output)
{
    const cmsis_nn_dw_conv_params *p = dw_params;
    const int32_t c = input_dims->c, dil = p->dilation.h, kh = filter_dims->h;
    /* the shape, then the stream's header (the stream is read only when it is there and aligned) */
    if (c <= 0 || c % 4 != 0 || kh < 2 || kh > 2 * DW16_MAX_PAIRS + 1 || dil < 1 || p->ch_mult != 1 ||
        input_dims->w != 1 || input_dims->h != (kh - 1) * dil + 1 || filter_dims->w != 1 || filter_dims->c != c ||
        output_dims->c != c || output_dims->h != 1 || output_dims->w != 1 || output_dims->n != input_dims->n ||
        p->padding.w != 0 || p->padding.h != 0 || stream == NULL || ((uintptr_t)stream & 3u) != 0u ||
        stream[0] != SOI_DW16_MAGIC || stream[1] != c || stream[2] != kh || stream[3] != p->input_offset ||
        stream[4] != p->output_offset)
    {
        return ARM_CMSIS_NN_ARG_ERROR;
    }
    const int32_t lo = p->activation.min, hi = p->activation.max;
    dw16_args a;
    a.ystep = dil * c;
    a.npairs = kh / 2;
    a.odd = kh % 2;
    a.end = stream + SOI_DW16_HEADER_WORDS + (c / 4) * SOI_DW16_BLOCK_WORDS(kh);
    for (int32_t b = 0; b < input_dims->n; b++)
    {
        a.s = stream + SOI_DW16_HEADER_WORDS;
        a.x = input + b * input_dims->h * c;
        a.out = output + b * c;
#if defined(DW16_ASM)
        if (kh == 3)
        {
            soi_dw16_blocks(&a);
        }
        else
        {
            soi_dw16_taps(&a);
        }
#else
        blocks_c(&a, kh);
#endif
        if (lo > -128 || hi < 127)
        {
            /* a fused activation narrower than int8 (rare after a depthwise conv: a ReLU's output range
             * usually starts at its zero point, -128), clamped here rather than in every block */
            for (int32_t i = 0; i < c; i++)
            {
                const int32_t v = a.out[i];
                a.out[i] = (int8_t)(v < lo ? lo : (v > hi ? hi : v));
            }
        }
    }
    return ARM_CMSIS_NN_SUCCESS;
}
