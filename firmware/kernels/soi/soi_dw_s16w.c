/* soi_dw_s16w_s8 (see the header): per block of 4 channels, the words of the three frames, the stream's 19
 * words and one word store.
 *
 * Taps. Frames 0 and 1 (x and x + ystep) are paired per channel: PKHBT / PKHTB put the low / high halves of
 * the two words side by side ([a0 a1 b0 b1], [a2 a3 b2 b3]) and SXTB16 splits each into the int16 pairs
 * (a0, b0), (a1, b1), ... that SMLAD multiplies with the channel's (2 w0, 2 w1): 2 PKH + 4 SXTB16 + 4 SMLAD
 * for 8 MACs. Frame 2 is SXTB16 into (c0, c2) / (c1, c3) and one SMLABB / SMLATT per channel. The input
 * offset is in the start values, so the bytes are used raw.
 *
 * Requantization: soi_pw_s16w_s8's four instructions (the sign fix, SMMLAR, ASR, SSAT); the activation
 * range, when it is narrower than int8, is applied afterwards to the frame's bytes.
 *
 * Cycle budget of one block on the Cortex-M4 (plugin timing table: a run of n back-to-back loads costs
 * n + 1): 3 input loads (4), 5 LDM of the stream (24), 2 PKH + 6 SXTB16 + 4 SMLAD + 4 SMLAxy (16), 4 x 4
 * requantization + 3 LSR of the packed shifts (19), 3 BFI + STR (4), loop test (4): about 71 cycles per
 * 12 MACs; the requantization and the stream words it needs (9 of 19) are most of it, and no layout
 * removes them: every channel has its own start value, multiplier and rounding constant. */
#include "soi_dw_s16w.h"
#include "soi_nn_isa.h"

#if defined(__ARM_FEATURE_DSP) && !defined(SOI_NN_NO_ASM)
#define DW16_ASM 1
#endif

/* One call of the block kernel; the field order is what the assembly loads (ldm r0, {r9-r12, lr}). */
typedef struct
{
    int32_t ystep;     /* bytes from frame 0 to frame 1 (dilation x channels) */
    const int32_t *s;  /* the first block's words */
    const int8_t *x;   /* channel 0 of frame 0 */
    int8_t *out;       /* channel 0 of the output */
    const int32_t *end; /* the stream's end */
} dw16_args;

#if defined(DW16_ASM)
void soi_dw16_blocks(const dw16_args *a);

__asm__(
    "  .pushsection .text.soi_dw16_blocks,\"ax\",%progbits\n"
    "  .syntax unified\n"
    "  .thumb\n"
    "  .align 2\n"
    "  .global soi_dw16_blocks\n"
    "  .hidden soi_dw16_blocks\n"
    "  .type soi_dw16_blocks, %function\n"
    "  .thumb_func\n"
    /* r9 ystep, r10 stream, r11 input, r12 output, lr end of the stream; r0..r8 data */
    "soi_dw16_blocks:\n"
    "  push {r4-r11, lr}\n"
    "  ldm r0, {r9-r12, lr}\n"
    "  .align 2\n"
    "1:\n"
    "  ldr r1, [r11, r9]\n"         /* frame 1: b0..b3 */
    "  ldr r2, [r11, r9, lsl #1]\n" /* frame 2: c0..c3 */
    "  ldr r0, [r11], #4\n"         /* frame 0: a0..a3 */
    "  pkhbt r3, r0, r1, lsl #16\n" /* [a0 a1 b0 b1] */
    "  pkhtb r4, r1, r0, asr #16\n" /* [a2 a3 b2 b3] */
    "  sxtb16 r0, r3\n"             /* (a0, b0) */
    "  sxtb16 r1, r3, ror #8\n"     /* (a1, b1) */
    "  ldm r10!, {r3, r5, r6, r7}\n" /* S0, S1, P0, P1 */
    "  smlad r3, r0, r6, r3\n"
    "  smlad r5, r1, r7, r5\n"
    "  sxtb16 r0, r4\n"             /* (a2, b2) */
    "  sxtb16 r1, r4, ror #8\n"     /* (a3, b3) */
    "  ldm r10!, {r4, r6, r7, r8}\n" /* S2, S3, P2, P3 */
    "  smlad r4, r0, r7, r4\n"
    "  smlad r6, r1, r8, r6\n"
    "  sxtb16 r0, r2\n"             /* (c0, c2) */
    "  sxtb16 r1, r2, ror #8\n"     /* (c1, c3) */
    "  ldm r10!, {r2, r7, r8}\n"    /* Q02, Q13, M0 */
    "  smlabb r3, r0, r2, r3\n"
    "  smlatt r4, r0, r2, r4\n"
    "  smlabb r5, r1, r7, r5\n"
    "  smlatt r6, r1, r7, r6\n"
    /* accumulators: r3 c0, r5 c1, r4 c2, r6 c3 */
    "  ldm r10!, {r0, r1, r2, r7}\n" /* C0, M1, C1, R */
    "  add r0, r0, r3, asr #31\n"
    "  smmlar r3, r3, r8, r0\n"
    "  asr r3, r3, r7\n"
    "  ssat r3, #8, r3\n"
    "  add r2, r2, r5, asr #31\n"
    "  smmlar r5, r5, r1, r2\n"
    "  lsr r7, r7, #8\n"
    "  asr r5, r5, r7\n"
    "  ssat r5, #8, r5\n"
    "  ldm r10!, {r0, r1, r2, r8}\n" /* M2, C2, M3, C3 */
    "  add r1, r1, r4, asr #31\n"
    "  smmlar r4, r4, r0, r1\n"
    "  lsr r7, r7, #8\n"
    "  asr r4, r4, r7\n"
    "  ssat r4, #8, r4\n"
    "  add r8, r8, r6, asr #31\n"
    "  smmlar r6, r6, r2, r8\n"
    "  lsr r7, r7, #8\n"
    "  asr r6, r6, r7\n"
    "  ssat r6, #8, r6\n"
    "  bfi r3, r5, #8, #8\n"
    "  bfi r3, r4, #16, #8\n"
    "  bfi r3, r6, #24, #8\n"
    "  str r3, [r12], #4\n"
    "  cmp r10, lr\n"
    "  bne 1b\n"
    "  pop {r4-r11, pc}\n"
    "  .size soi_dw16_blocks, .-soi_dw16_blocks\n"
    "  .popsection\n");
#else
/* Word offsets of each channel's values in a block (the layout in the header). */
static const uint8_t DW16_S[4] = {0, 1, 4, 5}, DW16_P[4] = {2, 3, 6, 7}, DW16_M[4] = {10, 12, 15, 17},
                     DW16_C[4] = {11, 13, 16, 18};

static int32_t half(int32_t word, int32_t high)
{
    return high ? (int32_t)(int16_t)((uint32_t)word >> 16) : (int32_t)(int16_t)((uint32_t)word & 0xFFFFu);
}

/* The assembly in C (hosts, cores without DSP, SOI_NN_NO_ASM): the same sums and requantization. */
static void blocks_c(const dw16_args *a)
{
    const int8_t *x = a->x;
    int8_t *o = a->out;
    for (const int32_t *s = a->s; s != a->end; s += SOI_DW16_BLOCK_WORDS, x += 4, o += 4)
    {
        for (int32_t j = 0; j < 4; j++)
        {
            const int32_t p = s[DW16_P[j]], q = s[8 + (j & 1)];
            int32_t acc = s[DW16_S[j]] + half(p, 0) * x[j] + half(p, 1) * x[a->ystep + j] +
                          half(q, j >> 1) * x[2 * a->ystep + j];
            const int32_t c = (int32_t)((uint32_t)s[DW16_C[j]] + (uint32_t)(acc >> 31));
            const int32_t r = (int32_t)(((uint32_t)s[14] >> (8 * j)) & 0xFFu);
            const int32_t v = (int32_t)(((int64_t)c * 4294967296LL + (int64_t)acc * s[DW16_M[j]] + 0x80000000LL) >> 32);
            const int32_t y = v >> r;
            o[j] = (int8_t)(y < -128 ? -128 : (y > 127 ? 127 : y));
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
    const int32_t c = input_dims->c, dil = p->dilation.h;
    if (c <= 0 || c % 4 != 0 || p->ch_mult != 1 || dil < 1 || input_dims->w != 1 || input_dims->h != 2 * dil + 1 ||
        filter_dims->h != 3 || filter_dims->w != 1 || filter_dims->c != c || output_dims->c != c ||
        output_dims->h != 1 || output_dims->w != 1 || output_dims->n != input_dims->n || p->padding.w != 0 ||
        p->padding.h != 0 || stream == NULL || ((uintptr_t)stream & 3u) != 0u || stream[0] != SOI_DW16_MAGIC ||
        stream[1] != c || stream[2] != 3 || stream[3] != p->input_offset || stream[4] != p->output_offset)
    {
        return ARM_CMSIS_NN_ARG_ERROR;
    }
    const int32_t lo = p->activation.min, hi = p->activation.max;
    dw16_args a;
    a.ystep = dil * c;
    a.end = stream + SOI_DW16_HEADER_WORDS + (c / 4) * SOI_DW16_BLOCK_WORDS;
    for (int32_t b = 0; b < input_dims->n; b++)
    {
        a.s = stream + SOI_DW16_HEADER_WORDS;
        a.x = input + b * input_dims->h * c;
        a.out = output + b * c;
#if defined(DW16_ASM)
        soi_dw16_blocks(&a);
#else
        blocks_c(&a);
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
