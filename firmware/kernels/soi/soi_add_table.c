/* soi_add_table_s8 (see the header).
 *
 * Thumb-2 assembly (any core with SSAT and BFI: M3 and up) for the common case: the size a multiple of 4,
 * no activation clamp and the shift SOI_ADD_TABLE_FAST_SHIFT, SSAT's immediate (the shift and the
 * saturation in one instruction; soi_mcu/ops/add_table.py tries that shift first). Groups of 4 values, four
 * per pass of the loop (the first pass enters at the group that leaves a multiple of 4), each group the 8
 * input bytes and then the 8 table words in one run of loads, 4 ADD, 4 SSAT, 3 BFI and one word store.
 * Cortex-M4 budget (plugin timing table: a run of n loads costs n + 1): 17 + 12 cycles per group and 4 per
 * pass for the loop test, 7.5 cycles per value, and about 50 to enter and leave. A C loop of the same arithmetic compiled to ~11
 * per value (GCC interleaves the adds with the loads, which breaks the runs, and packs the bytes with
 * shifts and masks); it does the other cases, and everything on hosts. */
#include "soi_add_table.h"

#include <stddef.h>

#if defined(__ARM_FEATURE_SAT) && defined(__thumb2__) && !defined(SOI_NN_NO_ASM)
#define ADD_TABLE_ASM 1
#define SOI_ADD_STR2(v) #v
#define SOI_ADD_STR(v) SOI_ADD_STR2(v)

arm_cmsis_nn_status soi_add_table_c(const soi_add_table_params *p, const int8_t *in1, const int8_t *in2, int8_t *out);

/* soi_add_table_s8 itself: the common case in the loop below, anything else in soi_add_table_c (a tail
 * jump with the arguments untouched). */
__asm__(
    "  .syntax unified\n"
    "  .thumb\n"
    /* r0 t1, r12 t2, r1 input 1, r2 input 2, r3 output, lr end of input 1; r4..r11 data */
    "  .macro SOI_ADD_GROUP\n"
    "  ldrb r4, [r1], #1\n"
    "  ldrb r5, [r1], #1\n"
    "  ldrb r6, [r1], #1\n"
    "  ldrb r7, [r1], #1\n"
    "  ldrb r8, [r2], #1\n"
    "  ldrb r9, [r2], #1\n"
    "  ldrb r10, [r2], #1\n"
    "  ldrb r11, [r2], #1\n"
    "  ldr r4, [r0, r4, lsl #2]\n"
    "  ldr r5, [r0, r5, lsl #2]\n"
    "  ldr r6, [r0, r6, lsl #2]\n"
    "  ldr r7, [r0, r7, lsl #2]\n"
    "  ldr r8, [r12, r8, lsl #2]\n"
    "  ldr r9, [r12, r9, lsl #2]\n"
    "  ldr r10, [r12, r10, lsl #2]\n"
    "  ldr r11, [r12, r11, lsl #2]\n"
    "  add r4, r4, r8\n"
    "  add r5, r5, r9\n"
    "  add r6, r6, r10\n"
    "  add r7, r7, r11\n"
    "  ssat r4, #8, r4, asr #" SOI_ADD_STR(SOI_ADD_TABLE_FAST_SHIFT) "\n"
    "  ssat r5, #8, r5, asr #" SOI_ADD_STR(SOI_ADD_TABLE_FAST_SHIFT) "\n"
    "  ssat r6, #8, r6, asr #" SOI_ADD_STR(SOI_ADD_TABLE_FAST_SHIFT) "\n"
    "  ssat r7, #8, r7, asr #" SOI_ADD_STR(SOI_ADD_TABLE_FAST_SHIFT) "\n"
    "  bfi r4, r5, #8, #8\n"
    "  bfi r4, r6, #16, #8\n"
    "  bfi r4, r7, #24, #8\n"
    "  str r4, [r3], #4\n"
    "  .endm\n"
    "  .pushsection .text.soi_add_table_s8,\"ax\",%progbits\n"
    "  .align 2\n"
    "  .global soi_add_table_s8\n"
    "  .type soi_add_table_s8, %function\n"
    "  .thumb_func\n"
    "soi_add_table_s8:\n" /* r0 p, r1 in1, r2 in2, r3 out */
    "  push {r4-r11, lr}\n"
    "  mov r4, r0\n"
    /* t1, shift, act_min, act_max, size, t2 (p and the tables are not tested for null here, as
     * CMSIS-NN's kernels do not test their pointers: the header asks for valid ones; the C path tests) */
    "  ldm r0, {r0, r6-r9, r12}\n"
    /* the fast case: the shift, no clamp, a size > 0 and a multiple of 4 */
    "  cmp r6, #" SOI_ADD_STR(SOI_ADD_TABLE_FAST_SHIFT) "\n"
    "  it eq\n"
    "  cmneq r7, #128\n"
    "  it eq\n"
    "  cmpeq r8, #127\n"
    "  bne.w 8f\n"
    "  lsls r10, r9, #30\n"
    "  bne.w 8f\n"
    "  cmp r9, #0\n"
    "  ble.w 8f\n"
    "  add lr, r1, r9\n"
    /* 4 groups per pass; the first pass runs (groups % 4) of them (all 4 when 0): the group count's low
     * bits are bits 2 and 3 of the size, N and C after LSLS #29 */
    "  lsls r10, r9, #29\n"
    "  bcs 5f\n"
    "  bmi 4f\n"
    "1:\n"
    "  SOI_ADD_GROUP\n"
    "2:\n"
    "  SOI_ADD_GROUP\n"
    "3:\n"
    "  SOI_ADD_GROUP\n"
    "4:\n"
    "  SOI_ADD_GROUP\n"
    "  cmp r1, lr\n"
    "  bne 1b\n"
    "  movs r0, #0\n"
    "  pop {r4-r11, pc}\n"
    "5:\n" /* groups % 4 is 2 or 3 */
    "  bmi 2b\n"
    "  b 3b\n"
    "8:\n" /* the general case in C, with the caller's arguments (p back in r0, r1..r3 untouched) */
    "  mov r0, r4\n"
    "  pop {r4-r11, lr}\n"
    "  b.w soi_add_table_c\n"
    "  .size soi_add_table_s8, .-soi_add_table_s8\n"
    "  .popsection\n"
    "  .purgem SOI_ADD_GROUP\n");
#define SOI_ADD_TABLE_C soi_add_table_c
#else
#define SOI_ADD_TABLE_C soi_add_table_s8
#endif

/* The general case (any size and shift, the activation clamp), and the whole kernel without the assembly. */
arm_cmsis_nn_status SOI_ADD_TABLE_C(const soi_add_table_params *p, const int8_t *in1, const int8_t *in2, int8_t *out)
{
    if (p == NULL || p->t1 == NULL || p->t2 == NULL || p->shift < 0 || p->shift > 30)
    {
        return ARM_CMSIS_NN_ARG_ERROR;
    }
    const uint8_t *a = (const uint8_t *)in1, *b = (const uint8_t *)in2;
    const int32_t lo = p->act_min, hi = p->act_max;
    for (int32_t i = 0; i < p->size; i++)
    {
        /* the sum cannot overflow: add_table.py bounds |t1| + |t2| below 2^31 */
        const int32_t v = (p->t1[a[i]] + p->t2[b[i]]) >> p->shift;
        const int32_t s = v < -128 ? -128 : (v > 127 ? 127 : v);
        out[i] = (int8_t)(s < lo ? lo : (s > hi ? hi : s));
    }
    return ARM_CMSIS_NN_SUCCESS;
}
