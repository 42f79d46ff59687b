/* The assembly of soi_dw_s16w_s8 (DSP cores; the C path in soi_dw_s16w.c computes the same):
 *   soi_dw16_blocks: kh = 3, the layout of soi_dw_s16w.h (start values interleaved with the tap pairs so
 *     that 9 data registers hold a block), about 71 cycles per 4 channels on the M4;
 *   soi_dw16_taps: any other kh up to 2 * DW16_MAX_PAIRS + 1: per block the 4 start values, kh / 2 tap
 *     pairs (frames 2k and 2k + 1, 20 cycles per 8 MACs), the single last tap of an odd kh and the same
 *     requantization; the pairs are unrolled DW16_MAX_PAIRS times and each block jumps to the one that
 *     leaves kh / 2 of them, so there is no tap loop to test (one copy of the loop for odd, one for even kh).
 * Registers: r9 ystep, r10 stream, r11 input, r12 output; r0..r8 data (soi_dw16_taps: lr the tap's frame,
 * [sp] the stream's end, [sp, #4] the entry into the pairs). */
#include "soi_dw_s16w_internal.h"

#if defined(DW16_ASM)
#define DW16_STR2(v) #v
#define DW16_STR(v) DW16_STR2(v)

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

__asm__(
    "  .pushsection .text.soi_dw16_taps,\"ax\",%progbits\n"
    "  .syntax unified\n"
    "  .thumb\n"
    /* one tap pair (frames 2k, 2k + 1) of the block's 4 channels, accumulators r3 c0, r4 c1, r5 c2, r6 c3;
     * 15 32-bit instructions (the entry offset is computed from that) */
    "  .macro DW16_PAIR\n"
    "  ldr.w r1, [lr, r9]\n"
    "  ldr.w r0, [lr]\n"
    "  add.w lr, lr, r9, lsl #1\n"
    "  pkhbt r2, r0, r1, lsl #16\n"
    "  pkhtb r7, r1, r0, asr #16\n"
    "  sxtb16 r0, r2\n"
    "  sxtb16 r1, r2, ror #8\n"
    "  ldm.w r10!, {r2, r8}\n"
    "  smlad r3, r0, r2, r3\n"
    "  smlad r4, r1, r8, r4\n"
    "  sxtb16 r0, r7\n"
    "  sxtb16 r1, r7, ror #8\n"
    "  ldm.w r10!, {r2, r8}\n"
    "  smlad r5, r0, r2, r5\n"
    "  smlad r6, r1, r8, r6\n"
    "  .endm\n"
    /* the last tap of an odd kh: (c0, c2) and (c1, c3) of its frame with Q02, Q13 */
    "  .macro DW16_SINGLE\n"
    "  ldr r0, [lr]\n"
    "  sxtb16 r1, r0\n"
    "  sxtb16 r0, r0, ror #8\n"
    "  ldm r10!, {r2, r8}\n"
    "  smlabb r3, r1, r2, r3\n"
    "  smlatt r5, r1, r2, r5\n"
    "  smlabb r4, r0, r8, r4\n"
    "  smlatt r6, r0, r8, r6\n"
    "  .endm\n"
    /* M0 C0 M1 C1 R, M2 C2 M3 C3: 4 bytes, one word store */
    "  .macro DW16_RQ\n"
    "  ldm r10!, {r0, r1, r2, r7, r8}\n"
    "  add r1, r1, r3, asr #31\n"
    "  smmlar r3, r3, r0, r1\n"
    "  asr r3, r3, r8\n"
    "  ssat r3, #8, r3\n"
    "  add r7, r7, r4, asr #31\n"
    "  smmlar r4, r4, r2, r7\n"
    "  lsr r8, r8, #8\n"
    "  asr r4, r4, r8\n"
    "  ssat r4, #8, r4\n"
    "  ldm r10!, {r0, r1, r2, r7}\n"
    "  add r1, r1, r5, asr #31\n"
    "  smmlar r5, r5, r0, r1\n"
    "  lsr r8, r8, #8\n"
    "  asr r5, r5, r8\n"
    "  ssat r5, #8, r5\n"
    "  add r7, r7, r6, asr #31\n"
    "  smmlar r6, r6, r2, r7\n"
    "  lsr r8, r8, #8\n"
    "  asr r6, r6, r8\n"
    "  ssat r6, #8, r6\n"
    "  bfi r3, r4, #8, #8\n"
    "  bfi r3, r5, #16, #8\n"
    "  bfi r3, r6, #24, #8\n"
    "  str r3, [r12], #4\n"
    "  .endm\n"
    "  .macro DW16_LOOP odd, top, seq, seqend\n"
    "\\top:\n"
    "  ldm r10!, {r3-r6}\n" /* S0..S3 */
    "  mov lr, r11\n"
    "  add r11, r11, #4\n"
    "  ldr r0, [sp, #4]\n"
    "  bx r0\n"
    "  .align 2\n"
    "\\seq:\n"
    "  .rept " DW16_STR(DW16_MAX_PAIRS) "\n"
    "  DW16_PAIR\n"
    "  .endr\n"
    "\\seqend:\n"
    "  .if \\seqend - \\seq != 60 * " DW16_STR(DW16_MAX_PAIRS) "\n"
    "  .error \"a tap pair is not 15 32-bit instructions\"\n"
    "  .endif\n"
    "  .if \\odd\n"
    "  DW16_SINGLE\n"
    "  .endif\n"
    "  DW16_RQ\n"
    "  ldr r0, [sp]\n"
    "  cmp r10, r0\n"
    "  bne \\top\n"
    "  b 9f\n"
    "  .endm\n"
    "  .align 2\n"
    "  .global soi_dw16_taps\n"
    "  .hidden soi_dw16_taps\n"
    "  .type soi_dw16_taps, %function\n"
    "  .thumb_func\n"
    "soi_dw16_taps:\n"
    "  push {r4-r11, lr}\n"
    "  sub sp, sp, #8\n"
    "  ldr r1, [r0, #16]\n"
    "  str r1, [sp]\n"
    /* entry = first pair + (DW16_MAX_PAIRS - npairs) pairs of 60 bytes, Thumb bit set */
    "  ldr r1, [r0, #20]\n"
    "  rsb r1, r1, #" DW16_STR(DW16_MAX_PAIRS) "\n"
    "  movs r2, #60\n"
    "  mul r1, r1, r2\n"
    "  ldr r3, [r0, #24]\n"
    "  ldm r0, {r9-r12}\n"
    "  cbnz r3, 5f\n"
    "  adr.w r2, .Ldw16_even_seq\n"
    "  add r1, r1, r2\n"
    "  orr r1, r1, #1\n"
    "  str r1, [sp, #4]\n"
    "  b .Ldw16_even\n"
    "5:\n"
    "  adr.w r2, .Ldw16_odd_seq\n"
    "  add r1, r1, r2\n"
    "  orr r1, r1, #1\n"
    "  str r1, [sp, #4]\n"
    "  b .Ldw16_odd\n"
    "  DW16_LOOP 0, .Ldw16_even, .Ldw16_even_seq, .Ldw16_even_end\n"
    "  DW16_LOOP 1, .Ldw16_odd, .Ldw16_odd_seq, .Ldw16_odd_end\n"
    "9:\n"
    "  add sp, sp, #8\n"
    "  pop {r4-r11, pc}\n"
    "  .size soi_dw16_taps, .-soi_dw16_taps\n"
    "  .purgem DW16_PAIR\n"
    "  .purgem DW16_SINGLE\n"
    "  .purgem DW16_RQ\n"
    "  .purgem DW16_LOOP\n"
    "  .popsection\n");
#endif
