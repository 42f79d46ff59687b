/* Private to soi_dw_s16w*.c: the block kernels' argument block (its field order is what the assembly loads)
 * and their declarations. */
#ifndef SOI_DW_S16W_INTERNAL_H
#define SOI_DW_S16W_INTERNAL_H

#include <stdint.h>

#if defined(__ARM_FEATURE_DSP) && !defined(SOI_NN_NO_ASM)
#define DW16_ASM 1
#endif

/* Tap pairs the assembly of other kernel heights unrolls (kh <= 2 * DW16_MAX_PAIRS + 1). */
#define DW16_MAX_PAIRS 8

typedef struct
{
    int32_t ystep;      /* bytes from one tap's frame to the next (dilation x channels) */
    const int32_t *s;   /* the first block's words */
    const int8_t *x;    /* channel 0 of the window's first frame */
    int8_t *out;        /* channel 0 of the output */
    const int32_t *end; /* the stream's end */
    int32_t npairs;     /* kh / 2 (soi_dw16_taps) */
    int32_t odd;        /* kh % 2 (soi_dw16_taps) */
} dw16_args;

#if defined(DW16_ASM)
void soi_dw16_blocks(const dw16_args *a); /* kh = 3 */
void soi_dw16_taps(const dw16_args *a);   /* other kh */
#endif

#endif
