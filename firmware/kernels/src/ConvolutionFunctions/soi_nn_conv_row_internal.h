/* Private to soi_nn_conv_row.c (the direct KW = 3 convolution, its layout described there) and
 * soi_nn_conv_row_asm.c (its DSP kernels in assembly): the block geometry, the kernels' argument block,
 * and the assembly kernels where they are built. */
#ifndef SOI_NN_CONV_ROW_INTERNAL_H
#define SOI_NN_CONV_ROW_INTERNAL_H

#include "soi_nn_support.h"

#if defined(SOI_NN_DSP)

#define SOI_ROW_COLS 8
#define SOI_ROW_WORDS (SOI_ROW_COLS + 2)
/* stride_w 2: 4 columns (9 input words per lane), the most that fits the stride-1 scratch. */
#define SOI_ROW_COLS_S2 4
#define SOI_ROW_WORDS_S2 (2 * SOI_ROW_COLS_S2 + 1)
/* Output channels per kernel call (accumulators kept on the stack: 8 x 8 int32). */
#define SOI_ROW_CH 8

typedef struct
{
    const int8_t *w;     /* filter of the first channel: [m][ky][kx][c], 4-byte aligned for the asm */
    const uint32_t *x;   /* block layout (soi_nn_conv_row.c) */
    int32_t *acc;        /* out: nm x 8 accumulators */
    const int32_t *bias; /* nm values */
    int32_t cin;
    int32_t kh;
    int32_t nm;
    int32_t stride; /* 1: 8 columns, 10 words per lane; 2: 4 columns, 9 words per lane */
} soi_row_args;

#if defined(__ARM_FEATURE_DSP) && defined(__ARM_FP) && !defined(SOI_NN_NO_ASM)
#define SOI_ROW_ASM 1
/* r0-r7: accumulators of the 8 columns, r8-r10: the 3 taps (int16 pairs), r11/r12: input words,
 * lr: input pointer. s0..s(3G-1): raw filter words of a chunk of 4G input channels (tap 0: s0..s(G-1),
 * tap 1: s(G)..s(2G-1), tap 2: s(2G)..s(3G-1)); s24-s29: loop state; [sp]: per-channel state.
 * One channel pair (lane) of one filter row: 3 VMOV + 3 SXTB16 + 10 LDR (5 pairs) + 24 SMLAD.
 * soi_nn_row8_g2 takes C_IN % 8 == 0, _g4 C_IN % 16 == 0, _g8 C_IN % 32 == 0 (fewer chunk switches). */
void soi_nn_row8_g2(const soi_row_args *a);
void soi_nn_row8_g4(const soi_row_args *a);
void soi_nn_row8_g8(const soi_row_args *a);
void soi_nn_row4s2_g2(const soi_row_args *a);
void soi_nn_row4s2_g4(const soi_row_args *a);
void soi_nn_row4s2_g8(const soi_row_args *a);
#endif

#endif

#endif
