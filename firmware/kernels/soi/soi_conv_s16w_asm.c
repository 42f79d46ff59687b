/* soi_conv_s16w_s8's lane kernels in assembly (the DSP cores; soi_conv_s16w.c calls them for full blocks
 * and runs its C lanes elsewhere). soi_s16w_cC: every output channel of one block of C = 3..6 columns.
 *
 * Cycle budget of a lane on the Cortex-M4 (TRM: a run of n back-to-back LDRs costs n + 1): registers
 * r0..r(C-1) hold the accumulators, the next 3 the taps, the rest up to r11 (9 - C) input words, r12 the
 * stream pointer and lr the block pointer. The taps and the first input words load in one run, so C = 6
 * costs 18 SMLAD + 11 loads in 3 runs = 32 cycles per 36 MACs (1.125 MAC/cycle), C = 5 27 per 30,
 * C = 4 23 per 24, C = 3 18 per 18. Blocks are 6 wide, the last ones 5, 4 or 3 (see block_cols).
 * Around the lanes, each output channel of a block costs about 75 cycles at C = 6 and 48 lanes (start
 * values, the entry jump, loop tests, requantization, stores), which is why everything that can be is
 * computed at generation time.
 *
 * Built where S16W_ASM is defined (soi_conv_s16w_internal.h): the real DSP extension, not the host's
 * SOI_NN_EMULATE_DSP, and not SOI_NN_NO_ASM. */
#include "soi_conv_s16w_internal.h"

#if defined(S16W_ASM)
/* Lanes per pass of the unrolled loop. A pass costs 5 cycles of loop test; the first pass enters part
 * way through (lanes % S16W_GROUP lanes), so no lane count needs a tail loop. */
#define S16W_GROUP 12
#define S16W_STR2(v) #v
#define S16W_STR(v) S16W_STR2(v)
#define S16W_GROUP_STR S16W_STR(S16W_GROUP)

/* The lane schedule is written once as assembler macros over C; %(expr) (altmacro) turns the register
 * arithmetic into register names. Per output channel: accumulators = the stream's start value, a jump
 * into the unrolled passes of S16W_GROUP lanes, then the C outputs requantized in registers and stored.
 * Every lane instruction is 32 bits wide, so a lane is (4C + 5) * 4 bytes of code, which the entry
 * address computed once per call relies on (the assembly checks it). The stack frame: [sp]: block,
 * [sp+4]: entry address, [sp+8]: end of the block (loaded in the last load run of a pass), [sp+12]:
 * output of the channel, [sp+16]: step, [sp+20]: end of the stream. */
__asm__(
    "  .pushsection .text.soi_s16w_macros,\"ax\",%progbits\n"
    "  .syntax unified\n"
    "  .thumb\n"
    "  .macro S16W_SMLAD ra, rw, rx\n"
    "  smlad r\\ra, r\\rw, r\\rx, r\\ra\n"
    "  .endm\n"
    "  .macro S16W_LDW rn\n"
    "  ldr.w r\\rn, [r12], #4\n"
    "  .endm\n"
    "  .macro S16W_LDX rn\n"
    "  ldr.w r\\rn, [lr], #4\n"
    "  .endm\n"
    /* The SMLADs of input word i (in register C + 3 + i mod (9 - C)): taps 0, 1, 2 into columns i, i-1, i-2. */
    "  .macro S16W_USE i, C\n"
    "  .set s16w_xr, \\C + 3 + (\\i) - ((\\i) / (9 - \\C)) * (9 - \\C)\n"
    "  .if (\\i) < \\C\n"
    "  S16W_SMLAD %(\\i), %(\\C), %(s16w_xr)\n"
    "  .endif\n"
    "  .if (\\i) >= 1 && (\\i) - 1 < \\C\n"
    "  S16W_SMLAD %((\\i) - 1), %(\\C + 1), %(s16w_xr)\n"
    "  .endif\n"
    "  .if (\\i) >= 2 && (\\i) - 2 < \\C\n"
    "  S16W_SMLAD %((\\i) - 2), %(\\C + 2), %(s16w_xr)\n"
    "  .endif\n"
    "  .endm\n"
    /* One lane: taps and the first 9 - C input words in one load run, then the rest in runs of 9 - C
     * (the last run never uses r11, which the last lane of a pass loads with the end of the block). */
    "  .macro S16W_LANE C, last=0\n"
    "  S16W_LDW %(\\C)\n"
    "  S16W_LDW %(\\C + 1)\n"
    "  S16W_LDW %(\\C + 2)\n"
    "  .set s16w_s, 0\n"
    "  .rept (\\C + 2 + 8 - \\C) / (9 - \\C)\n"
    "  .set s16w_i, s16w_s\n"
    "  .rept 9 - \\C\n"
    "  .if s16w_i < \\C + 2\n"
    "  S16W_LDX %(\\C + 3 + s16w_i - (s16w_i / (9 - \\C)) * (9 - \\C))\n"
    "  .endif\n"
    "  .set s16w_i, s16w_i + 1\n"
    "  .endr\n"
    "  .if \\last\n"
    "  .if s16w_s + 9 - \\C >= \\C + 2\n"
    "  ldr.w r11, [sp, #8]\n"
    "  .endif\n"
    "  .endif\n"
    "  .set s16w_i, s16w_s\n"
    "  .rept 9 - \\C\n"
    "  .if s16w_i < \\C + 2\n"
    "  S16W_USE %(s16w_i), \\C\n"
    "  .endif\n"
    "  .set s16w_i, s16w_i + 1\n"
    "  .endr\n"
    "  .set s16w_s, s16w_s + 9 - \\C\n"
    "  .endr\n"
    "  .endm\n"
    /* acc (2x the TFLite accumulator) -> int8 (see requantize): SMMLAR adds the rounding constant with the
     * sign correction taken from acc to the high multiply, then the shift and the saturation (the
     * activation range is applied after the row, see clamp_span). */
    "  .macro S16W_RQ rj\n"
    "  add r10, r8, r\\rj, asr #31\n"
    "  smmlar r\\rj, r\\rj, r7, r10\n"
    "  asr r\\rj, r\\rj, r9\n"
    "  ssat r\\rj, #8, r\\rj\n"
    "  .endm\n"
    "  .macro S16W_FN name, C\n"
    "  .pushsection .text.\\name,\"ax\",%progbits\n"
    "  .align 2\n"
    "  .global \\name\n"
    "  .hidden \\name\n"
    "  .type \\name, %function\n"
    "  .thumb_func\n"
    "\\name:\n"
    "  push {r4-r11, lr}\n"
    "  sub sp, sp, #24\n"
    "  ldm r0, {r1-r6}\n" /* stream, block, lanes, channels, output, step */
    "  mov r12, r1\n"
    "  str r2, [sp]\n"
    "  str r5, [sp, #12]\n"
    "  str r6, [sp, #16]\n"
    "  movs r0, #((\\C + 2) * 4)\n"
    "  mul r7, r3, r0\n"
    "  add r7, r2, r7\n"
    "  str r7, [sp, #8]\n"
    /* entry = first lane + ((G - lanes % G) % G) lanes */
    "  movs r0, #" S16W_GROUP_STR "\n"
    "  udiv r7, r3, r0\n"
    "  mls r7, r7, r0, r3\n"
    "  subs r7, r0, r7\n"
    "  cmp r7, r0\n"
    "  it eq\n"
    "  moveq r7, #0\n"
    "  movw r0, #((4 * \\C + 5) * 4)\n"
    "  mul r7, r7, r0\n"
    "  adr r0, 2f\n"
    "  add r0, r0, r7\n"
    "  orr r0, r0, #1\n"
    "  str r0, [sp, #4]\n"
    /* end of the stream: channels x (4 + 3 lanes) words */
    "  add r0, r3, r3, lsl #1\n"
    "  adds r0, r0, #4\n"
    "  mul r0, r0, r4\n"
    "  add r0, r12, r0, lsl #2\n"
    "  str r0, [sp, #20]\n"
    "1:\n"
    "  ldr r0, [r12], #4\n"
    "  ldr lr, [sp]\n"
    "  ldr r11, [sp, #4]\n"
    "  .irp j, 1, 2, 3, 4, 5\n"
    "  .if \\j < \\C\n"
    "  mov r\\j, r0\n"
    "  .endif\n"
    "  .endr\n"
    "  bx r11\n"
    "  .altmacro\n"
    "  .align 2\n"
    "2:\n"
    "  S16W_LANE \\C\n"
    "3:\n"
    "  .rept " S16W_GROUP_STR " - 2\n"
    "  S16W_LANE \\C\n"
    "  .endr\n"
    "  S16W_LANE \\C, 1\n"
    "  cmp lr, r11\n"
    "  bne 2b\n"
    "  .if 3b - 2b != (4 * \\C + 5) * 4\n"
    "  .error \"a lane is not (4C + 5) 32-bit instructions\"\n"
    "  .endif\n"
    "  .noaltmacro\n"
    "  ldr r7, [r12], #4\n" /* multiplier, rounding constant, shift; then single loads that pipeline */
    "  ldr r8, [r12], #4\n"
    "  ldr r9, [r12], #4\n"
    "  ldr lr, [sp, #12]\n"
    "  ldr r11, [sp, #16]\n"
    "  ldr r6, [sp, #20]\n"
    "  cmp r12, r6\n"
    "  add r6, lr, #1\n"
    "  str r6, [sp, #12]\n"
    "  .irp j, 0, 1, 2, 3, 4, 5\n"
    "  .if \\j < \\C\n"
    "  S16W_RQ \\j\n"
    "  .endif\n"
    "  .endr\n"
    "  strb r0, [lr]\n"
    "  strb r1, [lr, r11]\n"
    "  add lr, lr, r11, lsl #1\n"
    "  strb r2, [lr]\n"
    "  .if \\C >= 4\n"
    "  strb r3, [lr, r11]\n"
    "  .endif\n"
    "  .if \\C >= 5\n"
    "  add lr, lr, r11, lsl #1\n"
    "  strb r4, [lr]\n"
    "  .endif\n"
    "  .if \\C >= 6\n"
    "  strb r5, [lr, r11]\n"
    "  .endif\n"
    "  bne 1b\n"
    "  add sp, sp, #24\n"
    "  pop {r4-r11, pc}\n"
    "  .size \\name, .-\\name\n"
    "  .popsection\n"
    "  .endm\n"
    "  S16W_FN soi_s16w_c3, 3\n"
    "  S16W_FN soi_s16w_c4, 4\n"
    "  S16W_FN soi_s16w_c5, 5\n"
    "  S16W_FN soi_s16w_c6, 6\n"
    "  .purgem S16W_FN\n"
    "  .purgem S16W_RQ\n"
    "  .purgem S16W_LANE\n"
    "  .purgem S16W_USE\n"
    "  .purgem S16W_LDX\n"
    "  .purgem S16W_LDW\n"
    "  .purgem S16W_SMLAD\n"
    "  .popsection\n");
#endif
