/* C / DSP: direct ("sliding window") convolution for KW = 3, stride_w 1, dilation_w 1, no groups and
 * C_IN a multiple of 16, the shape of a streaming step (input H = time window, output H = 1, short W).
 *
 * Instead of an im2col column per output pixel, each input value is converted to int16 (+ input offset)
 * once per block of 8 output columns, and every loaded input word feeds up to 3 output columns (the 3
 * taps of a filter row). Per output channel and channel pair (one SMLAD lane), the 3 tap weights stay in
 * registers while a row of 10 input words streams past 8 accumulators: 24 SMLAD (48 MACs) for 10 input
 * loads. The int8 filter is read in place (CMSIS-NN layout): a chunk of 16 input channels x 3 taps
 * (12 words) is loaded into FPU registers s0-s11 with VLDM and moved to core registers with single
 * VMOVs (1 cycle each), which frees the weight pointer register for the 8th accumulator.
 *
 * Scratch layout for one block (SOI_ROW_WORDS words per filter row and channel pair): for filter row ky,
 * channel group g (channels 4g..4g+3), lane l (0: channels 4g, 4g+2; 1: 4g+1, 4g+3, i.e. SXTB16 of a
 * filter word and SXTB16 ROR 8), word i (0..9) = input column ix0 + i as int16 pair (+ offset; 0 for
 * padding), low half = the lower channel. Blocks past out_w compute on padding and are not stored. */
#include "soi_nn_support.h"

/* Scratch of soi_nn_conv_row for a KH x KW filter (0 where it does not apply); the same for every ISA so
 * that the size functions agree with their twins. */
int32_t soi_nn_conv_row_buffer_size(int32_t kh, int32_t kw, int32_t cin)
{
    if (kw != 3 || kh < 1 || kh > 8 || cin <= 0 || cin % 16 != 0)
    {
        return 0;
    }
    /* Block layout (kh rows x cin/2 lanes x 10 words) + 4 bytes to align it. */
    return kh * (cin / 2) * (8 + 2) * 4 + 4;
}

#if defined(SOI_NN_DSP)

#define SOI_ROW_COLS 8
#define SOI_ROW_WORDS (SOI_ROW_COLS + 2)
/* Output channels per kernel call (accumulators kept on the stack: 8 x 8 int32). */
#define SOI_ROW_CH 8

typedef struct
{
    const int8_t *w;     /* filter of the first channel: [m][ky][kx][c], 4-byte aligned for the asm */
    const uint32_t *x;   /* block layout (see above) */
    int32_t *acc;        /* out: nm x 8 accumulators */
    const int32_t *bias; /* nm values */
    int32_t cin;
    int32_t kh;
    int32_t nm;
} soi_row_args;

#if defined(__ARM_FEATURE_DSP) && defined(__ARM_FP) && !defined(SOI_NN_NO_ASM)
#define SOI_ROW_ASM 1
/* r0-r7: accumulators of the 8 columns, r8-r10: the 3 taps (int16 pairs), r11/r12: input words,
 * lr: input pointer. s0-s11: raw filter words of a chunk (tap 0: s0-s3, tap 1: s4-s7, tap 2: s8-s11),
 * s12-s21: loop state. One channel pair (lane) of one filter row: 3 VMOV + 3 SXTB16 + 10 LDR (5 pairs)
 * + 24 SMLAD. */
void soi_nn_row8_dsp(const soi_row_args *a);
__asm__(
    "  .pushsection .text.soi_nn_row8_dsp,\"ax\",%progbits\n"
    "  .syntax unified\n"
    "  .thumb\n"
    "  .macro SOI_ROW8_LANE sa, sb, sc, rot\n"
    "  vmov r8, \\sa\n"
    "  vmov r9, \\sb\n"
    "  vmov r10, \\sc\n"
    "  .if \\rot\n"
    "  sxtb16 r8, r8, ror #8\n"
    "  sxtb16 r9, r9, ror #8\n"
    "  sxtb16 r10, r10, ror #8\n"
    "  .else\n"
    "  sxtb16 r8, r8\n"
    "  sxtb16 r9, r9\n"
    "  sxtb16 r10, r10\n"
    "  .endif\n"
    "  ldr r11, [lr], #4\n"
    "  ldr r12, [lr], #4\n"
    "  smlad r0, r8, r11, r0\n"
    "  smlad r0, r9, r12, r0\n"
    "  smlad r1, r8, r12, r1\n"
    "  ldr r11, [lr], #4\n"
    "  ldr r12, [lr], #4\n"
    "  smlad r0, r10, r11, r0\n"
    "  smlad r1, r9, r11, r1\n"
    "  smlad r2, r8, r11, r2\n"
    "  smlad r1, r10, r12, r1\n"
    "  smlad r2, r9, r12, r2\n"
    "  smlad r3, r8, r12, r3\n"
    "  ldr r11, [lr], #4\n"
    "  ldr r12, [lr], #4\n"
    "  smlad r2, r10, r11, r2\n"
    "  smlad r3, r9, r11, r3\n"
    "  smlad r4, r8, r11, r4\n"
    "  smlad r3, r10, r12, r3\n"
    "  smlad r4, r9, r12, r4\n"
    "  smlad r5, r8, r12, r5\n"
    "  ldr r11, [lr], #4\n"
    "  ldr r12, [lr], #4\n"
    "  smlad r4, r10, r11, r4\n"
    "  smlad r5, r9, r11, r5\n"
    "  smlad r6, r8, r11, r6\n"
    "  smlad r5, r10, r12, r5\n"
    "  smlad r6, r9, r12, r6\n"
    "  smlad r7, r8, r12, r7\n"
    "  ldr r11, [lr], #4\n"
    "  ldr r12, [lr], #4\n"
    "  smlad r6, r10, r11, r6\n"
    "  smlad r7, r9, r11, r7\n"
    "  smlad r7, r10, r12, r7\n"
    "  .endm\n"
    "  .align 2\n"
    "  .global soi_nn_row8_dsp\n"
    "  .hidden soi_nn_row8_dsp\n"
    "  .type soi_nn_row8_dsp, %function\n"
    "  .thumb_func\n"
    "soi_nn_row8_dsp:\n"
    "  push {r4-r11, lr}\n"
    "  vpush {s16-s21}\n"
    "  ldm r0, {r1-r7}\n"         /* w, x, acc, bias, cin, kh, nm */
    "  vmov s12, r1\n"            /* s12: tap-0 address of the next chunk */
    "  vmov s13, r5\n"            /* s13: cin (bytes between taps) */
    "  vmov s14, r2\n"            /* s14: block layout */
    "  vmov s15, r3\n"            /* s15: accumulator output */
    "  vmov s16, r4\n"            /* s16: bias */
    "  vmov s17, r6\n"            /* s17: kh */
    "  vmov s18, r7\n"            /* s18: channels left */
    "  lsrs r5, r5, #4\n"
    "  vmov s19, r5\n"            /* s19: chunks per filter row */
    "1:\n"                        /* channel loop */
    "  vmov r8, s16\n"
    "  ldr r0, [r8], #4\n"
    "  vmov s16, r8\n"
    "  mov r1, r0\n"
    "  mov r2, r0\n"
    "  mov r3, r0\n"
    "  mov r4, r0\n"
    "  mov r5, r0\n"
    "  mov r6, r0\n"
    "  mov r7, r0\n"
    "  vmov lr, s14\n"
    "  vmov r8, s17\n"
    "  vmov s20, r8\n"            /* s20: filter rows left */
    "2:\n"                        /* filter row loop */
    "  vmov r8, s19\n"
    "  vmov s21, r8\n"            /* s21: chunks left in this row */
    "3:\n"                        /* chunk loop: 16 input channels */
    "  vmov r8, s12\n"
    "  vmov r9, s13\n"
    "  vldmia r8, {s0-s3}\n"
    "  add r10, r8, r9\n"
    "  vldmia r10, {s4-s7}\n"
    "  add r10, r10, r9\n"
    "  vldmia r10, {s8-s11}\n"
    "  adds r8, r8, #16\n"
    "  vmov s12, r8\n"
    "  SOI_ROW8_LANE s0, s4, s8, 0\n"
    "  SOI_ROW8_LANE s0, s4, s8, 1\n"
    "  SOI_ROW8_LANE s1, s5, s9, 0\n"
    "  SOI_ROW8_LANE s1, s5, s9, 1\n"
    "  SOI_ROW8_LANE s2, s6, s10, 0\n"
    "  SOI_ROW8_LANE s2, s6, s10, 1\n"
    "  SOI_ROW8_LANE s3, s7, s11, 0\n"
    "  SOI_ROW8_LANE s3, s7, s11, 1\n"
    "  vmov r8, s21\n"
    "  subs r8, r8, #1\n"
    "  vmov s21, r8\n"
    "  bne 3b\n"
    "  vmov r8, s12\n"            /* next filter row: skip taps 1 and 2 */
    "  vmov r9, s13\n"
    "  add r8, r8, r9, lsl #1\n"
    "  vmov s12, r8\n"
    "  vmov r8, s20\n"
    "  subs r8, r8, #1\n"
    "  vmov s20, r8\n"
    "  bne 2b\n"
    "  vmov r8, s15\n"
    "  stmia r8!, {r0-r7}\n"
    "  vmov s15, r8\n"
    "  vmov r8, s18\n"
    "  subs r8, r8, #1\n"
    "  vmov s18, r8\n"
    "  bne 1b\n"
    "  vpop {s16-s21}\n"
    "  pop {r4-r11, pc}\n"
    "  .size soi_nn_row8_dsp, .-soi_nn_row8_dsp\n"
    "  .purgem SOI_ROW8_LANE\n"
    "  .popsection\n");
#endif

/* The same computation in C (host DSP emulation, -DSOI_NN_NO_ASM, unaligned filters). */
static void row8_c(const soi_row_args *a)
{
    const int32_t cin = a->cin, k = a->kh * 3 * cin;
    for (int32_t m = 0; m < a->nm; m++)
    {
        int32_t acc[SOI_ROW_COLS];
        for (int32_t j = 0; j < SOI_ROW_COLS; j++)
        {
            acc[j] = a->bias[m];
        }
        const uint32_t *x = a->x;
        for (int32_t ky = 0; ky < a->kh; ky++)
        {
            const int8_t *wr = a->w + m * k + ky * 3 * cin;
            for (int32_t g = 0; g < cin / 4; g++)
            {
                const uint32_t r0 = soi_read_u32(wr + 4 * g);
                const uint32_t r1 = soi_read_u32(wr + cin + 4 * g);
                const uint32_t r2 = soi_read_u32(wr + 2 * cin + 4 * g);
                for (int32_t lane = 0; lane < 2; lane++, x += SOI_ROW_WORDS)
                {
                    const uint32_t w0 = lane ? soi_sxtb16_ror8(r0) : soi_sxtb16(r0);
                    const uint32_t w1 = lane ? soi_sxtb16_ror8(r1) : soi_sxtb16(r1);
                    const uint32_t w2 = lane ? soi_sxtb16_ror8(r2) : soi_sxtb16(r2);
                    for (int32_t j = 0; j < SOI_ROW_COLS; j++)
                    {
                        int32_t s = soi_smlad(w0, x[j], acc[j]);
                        s = soi_smlad(w1, x[j + 1], s);
                        acc[j] = soi_smlad(w2, x[j + 2], s);
                    }
                }
            }
        }
        memcpy(a->acc + m * SOI_ROW_COLS, acc, sizeof(acc));
    }
}

/* Fills the block layout for input columns ix0 .. ix0 + 9 of the rows iy[0..kh) (-1: padding row). */
static void build_block(uint32_t *x,
                        const int8_t *in_b,
                        int32_t in_w,
                        int32_t cin,
                        int32_t kh,
                        const int32_t *iy,
                        int32_t ix0,
                        int32_t in_off)
{
    const uint32_t off2 = ((uint32_t)in_off & 0xFFFFu) | ((uint32_t)in_off << 16);
    const int32_t groups = cin / 4;
    const int32_t row_words = groups * 2 * SOI_ROW_WORDS;
    for (int32_t ky = 0; ky < kh; ky++, x += row_words)
    {
        for (int32_t i = 0; i < SOI_ROW_WORDS; i++)
        {
            const int32_t ix = ix0 + i;
            uint32_t *d = x + i;
            if (iy[ky] < 0 || ix < 0 || ix >= in_w)
            {
                for (int32_t g = 0; g < groups; g++, d += 2 * SOI_ROW_WORDS)
                {
                    d[0] = 0u;
                    d[SOI_ROW_WORDS] = 0u;
                }
                continue;
            }
            const int8_t *src = in_b + (iy[ky] * in_w + ix) * cin;
            for (int32_t g = 0; g < groups; g++, d += 2 * SOI_ROW_WORDS, src += 4)
            {
                const uint32_t v = soi_read_u32(src);
                d[0] = soi_sadd16(soi_sxtb16(v), off2);
                d[SOI_ROW_WORDS] = soi_sadd16(soi_sxtb16_ror8(v), off2);
            }
        }
    }
}

/* Requantization with the per-channel constants hoisted (see soi_nn_requantize). */
typedef struct
{
    int32_t mult, left, right, mask, half;
} row_rq;

static inline row_rq row_rq_setup(int32_t mult, int32_t shift)
{
    row_rq q;
    q.mult = mult;
    q.left = shift > 0 ? shift : 0;
    q.right = shift > 0 ? 0 : -shift;
    q.mask = (int32_t)((1u << q.right) - 1u);
    q.half = q.mask >> 1;
    return q;
}

static inline int32_t row_rq_apply(const row_rq *q, int32_t acc)
{
    const int32_t x = (int32_t)((uint32_t)acc << q->left);
    const int32_t hi = (int32_t)(((int64_t)x * q->mult + (1LL << 30)) >> 31);
    const int32_t thr = q->half + (int32_t)((uint32_t)hi >> 31);
    return (hi >> q->right) + ((hi & q->mask) > thr ? 1 : 0);
}

int soi_nn_conv_row(const cmsis_nn_context *ctx,
                    const cmsis_nn_conv_params *p,
                    const cmsis_nn_per_channel_quant_params *q,
                    const cmsis_nn_dims *in_dims,
                    const int8_t *in,
                    const cmsis_nn_dims *f_dims,
                    const int8_t *filter,
                    const int32_t *bias,
                    const cmsis_nn_dims *out_dims,
                    int8_t *out)
{
    const int32_t cin = in_dims->c, cout = out_dims->c, kh = f_dims->h;
    const int32_t need = soi_nn_conv_row_buffer_size(kh, f_dims->w, f_dims->c);
    if (need == 0 || f_dims->c != cin || p->stride.w != 1 || p->dilation.w != 1 || out_dims->w < 4 ||
        ctx == NULL || ctx->buf == NULL || ctx->size < need)
    {
        return 0;
    }
    uint32_t *x = (uint32_t *)(((uintptr_t)ctx->buf + 3u) & ~(uintptr_t)3u);
    const int32_t k = kh * 3 * cin;
    int32_t acc[SOI_ROW_CH * SOI_ROW_COLS];
    int32_t zeros[SOI_ROW_CH] = {0};
    int32_t iy[8];
    soi_row_args a;
    a.x = x;
    a.acc = acc;
    a.cin = cin;
    a.kh = kh;
#if defined(SOI_ROW_ASM)
    const int use_asm = ((uintptr_t)filter & 3u) == 0u;
#endif
    for (int32_t b = 0; b < in_dims->n; b++)
    {
        const int8_t *in_b = in + b * in_dims->h * in_dims->w * cin;
        for (int32_t oy = 0; oy < out_dims->h; oy++)
        {
            for (int32_t ky = 0; ky < kh; ky++)
            {
                const int32_t y = oy * p->stride.h - p->padding.h + ky * p->dilation.h;
                iy[ky] = y >= 0 && y < in_dims->h ? y : -1;
            }
            int8_t *out_row = out + ((b * out_dims->h + oy) * out_dims->w) * cout;
            for (int32_t ox0 = 0; ox0 < out_dims->w; ox0 += SOI_ROW_COLS)
            {
                const int32_t ncols = out_dims->w - ox0 < SOI_ROW_COLS ? out_dims->w - ox0 : SOI_ROW_COLS;
                build_block(x, in_b, in_dims->w, cin, kh, iy, ox0 - p->padding.w, p->input_offset);
                for (int32_t m0 = 0; m0 < cout; m0 += SOI_ROW_CH)
                {
                    const int32_t nm = cout - m0 < SOI_ROW_CH ? cout - m0 : SOI_ROW_CH;
                    a.w = filter + m0 * k;
                    a.bias = bias != NULL ? bias + m0 : zeros;
                    a.nm = nm;
#if defined(SOI_ROW_ASM)
                    if (use_asm)
                    {
                        soi_nn_row8_dsp(&a);
                    }
                    else
#endif
                    {
                        row8_c(&a);
                    }
                    for (int32_t m = 0; m < nm; m++)
                    {
                        const row_rq rq = row_rq_setup(q->multiplier[m0 + m], q->shift[m0 + m]);
                        const int32_t *am = acc + m * SOI_ROW_COLS;
                        int8_t *o = out_row + ox0 * cout + m0 + m;
                        for (int32_t j = 0; j < ncols; j++, o += cout)
                        {
                            *o = soi_nn_clamp_s8(row_rq_apply(&rq, am[j]) + p->output_offset, p->activation.min,
                                                 p->activation.max);
                        }
                    }
                }
            }
        }
    }
    return 1;
}

#endif
