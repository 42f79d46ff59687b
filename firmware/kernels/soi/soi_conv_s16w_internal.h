/* Private to soi_conv_s16w_s8's sources (not installed as an API): its constants, the lane kernels'
 * argument block, the helpers its files share, and the functions one file calls in another.
 *   soi_conv_s16w.c        the public functions: the shapes it takes and the scratch size; the driver
 *                          (blocks of output columns, the C lanes, the activation clamp)
 *   soi_conv_s16w_asm.c    the lane kernels in assembly (DSP cores)
 *   soi_conv_s16w_block.c  the block layout builders
 *
 * Which code each core runs. S16W_DSP: the DSP forms of the kernel (the 4-byte activation clamp), chosen
 * like the CMSIS-style kernels' DSP path (SOI_NN_DSP, soi_nn_isa.h: the DSP cores, and the host under
 * SOI_NN_EMULATE_DSP with a C model of the instructions), and also on the MVE cores: they have the DSP
 * extension, and SOI_NN_DSP is left undefined there only because the CMSIS-style kernels take their MVE
 * path instead; this kernel has no MVE path. The single instructions (SMLAD, SXTB16, SMMULR, SSUB8/SEL)
 * and the assembly lanes need the hardware itself, so they test __ARM_FEATURE_DSP, not S16W_DSP: under
 * SOI_NN_EMULATE_DSP the host compiles their C forms (same results), as it does without it. */
#ifndef SOI_CONV_S16W_INTERNAL_H
#define SOI_CONV_S16W_INTERNAL_H

#include <stdint.h>
#include <string.h>

#include "soi_conv_s16w.h"
#include "soi_nn_isa.h"

#if defined(__ARM_FEATURE_DSP)
#include <arm_acle.h>
#endif

#if defined(SOI_NN_DSP) || defined(SOI_NN_MVE)
#define S16W_DSP 1
#endif

#define S16W_MAX_COLS 6

/* One call of a lane kernel: every output channel of one block of C columns. The field order is what
 * the assembly loads (ldm). */
typedef struct
{
    const int32_t *s;  /* the stream at the first channel's start value */
    const uint32_t *x; /* block layout */
    int32_t lanes;     /* kh * cin / 2 (folded: the virtual channels / 2) */
    int32_t nchan;
    int8_t *out;       /* column 0 of channel 0; column j of channel m at out + j * step + m */
    int32_t step;      /* bytes between columns (cout) */
} s16w_args;

static inline uint32_t rd32(const void *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

/* soi_conv_s16w_block.c: the block layout for C = W - 2 output columns (W words per lane) from input
 * column ix0 of the rows iy[0..kh) (-1: a padding row), pad the padding word; the driver calls them
 * through a table indexed by C - 3. */
typedef void (*s16w_build_fn)(uint32_t *, const int8_t *, int32_t, int32_t, int32_t, const int32_t *, int32_t,
                              uint32_t);
void soi_s16w_build_block_5(uint32_t *x, const int8_t *in_b, int32_t in_w, int32_t cin, int32_t kh,
                            const int32_t *iy, int32_t ix0, uint32_t pad);
void soi_s16w_build_block_6(uint32_t *x, const int8_t *in_b, int32_t in_w, int32_t cin, int32_t kh,
                            const int32_t *iy, int32_t ix0, uint32_t pad);
void soi_s16w_build_block_7(uint32_t *x, const int8_t *in_b, int32_t in_w, int32_t cin, int32_t kh,
                            const int32_t *iy, int32_t ix0, uint32_t pad);
void soi_s16w_build_block_8(uint32_t *x, const int8_t *in_b, int32_t in_w, int32_t cin, int32_t kh,
                            const int32_t *iy, int32_t ix0, uint32_t pad);

/* soi_conv_s16w_asm.c: the lane kernels for C = 3..6 columns, where the assembly can run. */
#if defined(__ARM_FEATURE_DSP) && !defined(SOI_NN_NO_ASM)
#define S16W_ASM 1
void soi_s16w_c3(const s16w_args *a);
void soi_s16w_c4(const s16w_args *a);
void soi_s16w_c5(const s16w_args *a);
void soi_s16w_c6(const s16w_args *a);
#endif

#endif
