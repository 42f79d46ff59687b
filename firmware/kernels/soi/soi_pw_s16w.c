/* soi_pw_s16w_s8 (see the header): per pixel, every block of 4 output channels runs over the input column
 * once, 16 MACs per input word: the word is split by SXTB16 into the int16 pairs (x0, x2) and (x1, x3) and
 * each half meets the 4 channels' tap pairs in SMLAD. The input offset is in the start values, so the
 * input is used raw; the requantization is soi_conv_s16w_s8's (SMMLAR, shift, saturation) with the
 * activation range applied to the 4 bytes at once (SSUB8 + SEL) before one word store.
 *
 * Cycle budget of one input group on the Cortex-M4 (a run of n back-to-back LDRs costs n + 1): the input
 * word and 4 tap words in one run (6), 2 SXTB16, 4 SMLAD, 4 tap words (5), 4 SMLAD: 21 cycles per 16
 * MACs; 8 groups per pass of the loop (4 cycles of test), about 60 cycles per block around it (start
 * values, requantization constants, clamp and store). */
#include <string.h>

#include "soi_nn_isa.h"
#include "soi_pw_s16w.h"

#if defined(__ARM_FEATURE_DSP) && !defined(SOI_NN_NO_ASM)
#define PW16_ASM 1
#endif

/* Words of one block of 4 output channels in the stream: starts, taps, requantization constants. */
static int32_t block_words(int32_t cin)
{
    return 4 + 2 * cin + 12;
}

/* One call of the block kernel; the field order is what the assembly loads (ldm). */
typedef struct
{
    const int32_t *s; /* the first block's start values */
    const int8_t *x;  /* the pixel's input column */
    int32_t groups;   /* cin / 4 */
    int32_t nblocks;
    int8_t *out;      /* channel 0 of the first block */
    uint32_t lo4;     /* activation min in every byte */
    uint32_t hi4;     /* activation max in every byte */
} pw16_args;

#if defined(PW16_ASM)
void soi_pw16_blocks(const pw16_args *a);

/* Groups per pass of the unrolled loop (a power of 2); the first pass enters part way through. */
#define PW16_GROUP 8
#define PW16_STR2(v) #v
#define PW16_STR(v) PW16_STR2(v)
#define PW16_GROUP_STR PW16_STR(PW16_GROUP)

__asm__(
    "  .pushsection .text.soi_pw16_blocks,\"ax\",%progbits\n"
    "  .syntax unified\n"
    "  .thumb\n"
    /* one group: input word r8 and the (x0, x2) taps of 4 channels in one load run, SXTB16 into r9 / r8,
     * then the (x1, x3) taps; accumulators r0..r3, taps r4..r7, stream r10, input r11 */
    "  .macro PW16_GROUP\n"
    "  ldr.w r8, [r11], #4\n"
    "  ldr.w r4, [r10], #4\n"
    "  ldr.w r5, [r10], #4\n"
    "  ldr.w r6, [r10], #4\n"
    "  ldr.w r7, [r10], #4\n"
    "  sxtb16 r9, r8\n"
    "  sxtb16 r8, r8, ror #8\n"
    "  smlad r0, r4, r9, r0\n"
    "  smlad r1, r5, r9, r1\n"
    "  smlad r2, r6, r9, r2\n"
    "  smlad r3, r7, r9, r3\n"
    "  ldr.w r4, [r10], #4\n"
    "  ldr.w r5, [r10], #4\n"
    "  ldr.w r6, [r10], #4\n"
    "  ldr.w r7, [r10], #4\n"
    "  smlad r0, r4, r8, r0\n"
    "  smlad r1, r5, r8, r1\n"
    "  smlad r2, r6, r8, r2\n"
    "  smlad r3, r7, r8, r3\n"
    "  .endm\n"
    /* acc (2x the TFLite accumulator) -> int8 with multiplier rm, constant rc, shift rr (soi_conv_s16w.c:
     * requantize); lr is free here */
    "  .macro PW16_RQ ra, rm, rc, rr\n"
    "  add lr, \\rc, \\ra, asr #31\n"
    "  smmlar \\ra, \\ra, \\rm, lr\n"
    "  asr \\ra, \\ra, \\rr\n"
    "  ssat \\ra, #8, \\ra\n"
    "  .endm\n"
    "  .align 2\n"
    "  .global soi_pw16_blocks\n"
    "  .hidden soi_pw16_blocks\n"
    "  .type soi_pw16_blocks, %function\n"
    "  .thumb_func\n"
    "soi_pw16_blocks:\n"
    "  push {r4-r11, lr}\n"
    "  sub sp, sp, #28\n" /* [sp] input, +4 entry, +8 end of the input, +12 out, +16 end of the stream, +20 lo4, +24 hi4 */
    "  ldm r0, {r1-r7}\n"
    "  mov r10, r1\n"
    "  str r2, [sp]\n"
    "  add r8, r2, r3, lsl #2\n"
    "  str r8, [sp, #8]\n"
    "  str r5, [sp, #12]\n"
    /* end of the stream's blocks: blocks x (16 + 2 cin) words, cin = 4 groups */
    "  lsls r8, r3, #3\n"
    "  adds r8, r8, #16\n"
    "  mul r8, r8, r4\n"
    "  add r8, r1, r8, lsl #2\n"
    "  str r8, [sp, #16]\n"
    "  str r6, [sp, #20]\n"
    "  str r7, [sp, #24]\n"
    /* entry = first group of a pass + ((G - groups % G) % G) groups: the first pass runs groups % G of them */
    "  and r8, r3, #(" PW16_GROUP_STR " - 1)\n"
    "  rsbs r8, r8, #" PW16_GROUP_STR "\n"
    "  and r8, r8, #(" PW16_GROUP_STR " - 1)\n"
    "  movs r9, #76\n"
    "  mul r8, r8, r9\n"
    "  adr r9, 2f\n"
    "  add r8, r9, r8\n"
    "  orr r8, r8, #1\n"
    "  str r8, [sp, #4]\n"
    "1:\n"
    "  ldm r10!, {r0-r3}\n"
    "  ldr r11, [sp]\n"
    "  ldr r12, [sp, #8]\n"
    "  ldr lr, [sp, #4]\n"
    "  bx lr\n"
    "  .align 2\n"
    "2:\n"
    "  PW16_GROUP\n"
    "3:\n"
    "  .rept " PW16_GROUP_STR " - 1\n"
    "  PW16_GROUP\n"
    "  .endr\n"
    "  cmp r11, r12\n"
    "  bne 2b\n"
    "  .if 3b - 2b != 76\n"
    "  .error \"a group is not 19 32-bit instructions\"\n"
    "  .endif\n"
    "  ldm r10!, {r4-r9}\n"
    "  PW16_RQ r0, r4, r5, r6\n"
    "  PW16_RQ r1, r7, r8, r9\n"
    "  ldm r10!, {r4-r9}\n"
    "  PW16_RQ r2, r4, r5, r6\n"
    "  PW16_RQ r3, r7, r8, r9\n"
    /* 4 bytes in one word, clamped to the activation range: GE where r0 >= lo keeps r0, then where hi >= r0 */
    "  bfi r0, r1, #8, #8\n"
    "  bfi r0, r2, #16, #8\n"
    "  bfi r0, r3, #24, #8\n"
    "  ldr r4, [sp, #20]\n"
    "  ldr r5, [sp, #24]\n"
    "  ldr lr, [sp, #12]\n"
    "  ldr r7, [sp, #16]\n"
    "  ssub8 r6, r0, r4\n"
    "  sel r0, r0, r4\n"
    "  ssub8 r6, r5, r0\n"
    "  sel r0, r0, r5\n"
    "  str r0, [lr], #4\n"
    "  str lr, [sp, #12]\n"
    "  cmp r10, r7\n"
    "  bne 1b\n"
    "  add sp, sp, #28\n"
    "  pop {r4-r11, pc}\n"
    "  .size soi_pw16_blocks, .-soi_pw16_blocks\n"
    "  .purgem PW16_GROUP\n"
    "  .purgem PW16_RQ\n"
    "  .popsection\n");
#endif

#if !defined(PW16_ASM)
static inline int32_t smlad_c(uint32_t w, uint32_t x, int32_t acc)
{
    const int32_t p0 = (int32_t)(int16_t)(w & 0xFFFFu) * (int16_t)(x & 0xFFFFu);
    const int32_t p1 = (int32_t)(int16_t)(w >> 16) * (int16_t)(x >> 16);
    return (int32_t)((uint32_t)acc + (uint32_t)p0 + (uint32_t)p1);
}

/* The assembly's requantization in C: SMMLAR(acc, m, c + [acc < 0] * -1) >> r, saturated, clamped. */
static inline int8_t requantize_c(int32_t acc, const int32_t *rq, int32_t lo, int32_t hi)
{
    const int32_t c = (int32_t)((uint32_t)rq[1] + (uint32_t)(acc >> 31));
    const int32_t v = (int32_t)(((int64_t)c * 4294967296LL + (int64_t)acc * rq[0] + 0x80000000LL) >> 32) >> rq[2];
    const int32_t s = v < -128 ? -128 : (v > 127 ? 127 : v);
    return (int8_t)(s < lo ? lo : (s > hi ? hi : s));
}

/* The block kernel in C (hosts, cores without DSP, SOI_NN_NO_ASM); n: outputs of each block stored (4, or
 * fewer for the last block). */
static void blocks_c(const pw16_args *a, int32_t n, int32_t lo, int32_t hi)
{
    const int32_t *s = a->s;
    int8_t *out = a->out;
    for (int32_t b = 0; b < a->nblocks; b++, out += 4)
    {
        int32_t acc[4] = {s[0], s[1], s[2], s[3]};
        const uint32_t *w = (const uint32_t *)(const void *)(s + 4);
        for (int32_t g = 0; g < a->groups; g++, w += 8)
        {
            uint32_t xw;
            memcpy(&xw, a->x + 4 * g, 4);
            const uint32_t x02 = (uint32_t)(uint16_t)(int8_t)xw | (uint32_t)(uint16_t)(int8_t)(xw >> 16) << 16;
            const uint32_t x13 = (uint32_t)(uint16_t)(int8_t)(xw >> 8) | (uint32_t)(uint16_t)(int8_t)(xw >> 24) << 16;
            for (int32_t j = 0; j < 4; j++)
            {
                acc[j] = smlad_c(w[4 + j], x13, smlad_c(w[j], x02, acc[j]));
            }
        }
        const int32_t *rq = (const int32_t *)(const void *)w;
        for (int32_t j = 0; j < n; j++)
        {
            out[j] = requantize_c(acc[j], rq + 3 * j, lo, hi);
        }
        s = rq + 12;
    }
}
#endif

arm_cmsis_nn_status soi_pw_s16w_s8(const cmsis_nn_conv_params *conv_params,
                                   const cmsis_nn_dims *input_dims,
                                   const int8_t *input,
                                   const cmsis_nn_dims *filter_dims,
                                   const int32_t *stream,
                                   const cmsis_nn_dims *output_dims,
                                   int8_t *output)
{
    const cmsis_nn_conv_params *p = conv_params;
    const int32_t cin = input_dims->c, cout = output_dims->c;
    const int32_t pixels = input_dims->n * input_dims->h * input_dims->w;
    if (cin <= 0 || cin % 4 != 0 || filter_dims->h != 1 || filter_dims->w != 1 || filter_dims->c != cin ||
        filter_dims->n != cout || p->padding.w != 0 || p->padding.h != 0 || p->stride.w != 1 ||
        p->stride.h != 1 || output_dims->n * output_dims->h * output_dims->w != pixels || stream == NULL ||
        ((uintptr_t)stream & 3u) != 0u || stream[0] != SOI_PW16_MAGIC || stream[1] != cout ||
        stream[2] != cin || stream[3] != p->input_offset || stream[4] != p->output_offset)
    {
        return ARM_CMSIS_NN_ARG_ERROR;
    }
    const int32_t lo = p->activation.min, hi = p->activation.max;
    const int32_t full = cout / 4, rest = cout % 4;
    pw16_args a;
    a.groups = cin / 4;
    a.lo4 = (uint32_t)(uint8_t)lo * 0x01010101u;
    a.hi4 = (uint32_t)(uint8_t)hi * 0x01010101u;
    for (int32_t px = 0; px < pixels; px++)
    {
        a.s = stream + SOI_PW16_HEADER_WORDS;
        a.x = input + px * cin;
        a.out = output + px * cout;
        if (full > 0)
        {
            a.nblocks = full;
#if defined(PW16_ASM)
            soi_pw16_blocks(&a);
#else
            blocks_c(&a, 4, lo, hi);
#endif
        }
        if (rest > 0)
        {
            /* the last block's padding channels are computed and not stored */
            int8_t *dst = output + px * cout + full * 4;
            a.s = stream + SOI_PW16_HEADER_WORDS + full * block_words(cin);
            a.nblocks = 1;
#if defined(PW16_ASM)
            int8_t tmp[4];
            a.out = tmp;
            soi_pw16_blocks(&a);
            memcpy(dst, tmp, (size_t)rest);
#else
            a.out = dst;
            blocks_c(&a, rest, lo, hi);
#endif
        }
    }
    return ARM_CMSIS_NN_SUCCESS;
}
