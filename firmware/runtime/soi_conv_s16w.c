/* soi_conv_s16w_s8 (see the header): direct convolution over blocks of C output columns (C = 3..6).
 *
 * For one block, every input value of the window is converted once to int16 into the block layout: lane
 * k = (ky, g, l) in the stream's order holds C + 2 words, word i = input column ix0 - pad + i, channels
 * (4g + l, 4g + l + 2) as an int16 pair (-input_offset where the column is padding, which the offset folded
 * into the stream's start value turns into 0). One lane of one output channel is then, per column j,
 * acc[j] += SMLAD(tap0, x[j]) + SMLAD(tap1, x[j+1]) + SMLAD(tap2, x[j+2]): 3C SMLAD for C + 2 input words
 * and 3 tap words.
 *
 * Cycle budget of a lane on the Cortex-M4 (TRM: a run of n back-to-back LDRs costs n + 1): registers
 * r0..r(C-1) hold the accumulators, the next 3 the taps, the rest up to r11 (9 - C) input words, r12 the
 * stream pointer and lr the block pointer. The taps and the first input words load in one run, so C = 6
 * costs 18 SMLAD + 11 loads in 3 runs = 32 cycles per 36 MACs (1.125 MAC/cycle), C = 5 27 per 30,
 * C = 4 23 per 24, C = 3 18 per 18. Blocks are 6 wide, the last ones 5, 4 or 3 (see block_cols).
 * Around the lanes, each output channel of a block costs about 75 cycles at C = 6 and 48 lanes (start
 * values, the entry jump, loop tests, requantization, stores), which is why everything that can be is computed at generation time. */
#include "soi_conv_s16w.h"

#include <string.h>

#if defined(__ARM_FEATURE_DSP)
#include <arm_acle.h>
#endif

#define S16W_MAX_COLS 6
/* Lanes per pass of the unrolled loop. A pass costs 5 cycles of loop test; the first pass enters part
 * way through (lanes % S16W_GROUP lanes), so no lane count needs a tail loop. */
#define S16W_GROUP 12
#define S16W_STR2(v) #v
#define S16W_STR(v) S16W_STR2(v)
#define S16W_GROUP_STR S16W_STR(S16W_GROUP)

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

/* Fewer than 4 input channels (an input spectrogram's 1, say): the filter rows are folded into the
 * channels, virtual channel v = ky * cin + c of a single row, padded with zero taps to a multiple of 4
 * (soi_mcu/kernel_layout.py does the same with the filter). */
#define S16W_MAX_FOLDED 16

static int folded(const cmsis_nn_dims *in)
{
    return in->c % 4 != 0;
}

/* Lanes of one block: 2 per 4 (virtual) channels of each filter row. */
static int32_t lanes_of(const cmsis_nn_dims *in, const cmsis_nn_dims *f)
{
    return folded(in) ? (f->h * in->c + 3) / 4 * 2 : f->h * in->c / 2;
}

static int supported(const cmsis_nn_conv_params *p, const cmsis_nn_dims *in, const cmsis_nn_dims *f)
{
    /* a 1-wide filter runs as a 3-wide one with zero outer taps (s16w_stream), its window one column wider
     * on each side than the unpadded input */
    const int width_ok = f->w == 3 || (f->w == 1 && p->padding.w == 0);
    return width_ok && f->c == in->c && in->c > 0 && (in->c % 4 == 0 || f->h * in->c <= S16W_MAX_FOLDED) &&
           f->h >= 1 && f->h <= 16 && p->stride.w == 1 && p->dilation.w == 1 && p->stride.h >= 1 &&
           p->dilation.h >= 1;
}

int32_t soi_conv_s16w_s8_get_buffer_size(const cmsis_nn_conv_params *conv_params,
                                         const cmsis_nn_dims *input_dims,
                                         const cmsis_nn_dims *filter_dims)
{
    if (!supported(conv_params, input_dims, filter_dims))
    {
        return 0;
    }
    /* the block layout, plus alignment */
    return lanes_of(input_dims, filter_dims) * (S16W_MAX_COLS + 2) * 4 + 4;
}

#if defined(__ARM_FEATURE_DSP) && !defined(SOI_NN_NO_ASM)
#define S16W_ASM 1
void soi_s16w_c3(const s16w_args *a);
void soi_s16w_c4(const s16w_args *a);
void soi_s16w_c5(const s16w_args *a);
void soi_s16w_c6(const s16w_args *a);
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

static inline uint32_t rd32(const void *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

static inline int32_t smlad(uint32_t a, uint32_t b, int32_t acc)
{
#if defined(__ARM_FEATURE_DSP)
    return __smlad(a, b, acc);
#else
    const int32_t p0 = (int32_t)(int16_t)(a & 0xFFFFu) * (int16_t)(b & 0xFFFFu);
    const int32_t p1 = (int32_t)(int16_t)(a >> 16) * (int16_t)(b >> 16);
    return (int32_t)((uint32_t)acc + (uint32_t)p0 + (uint32_t)p1);
#endif
}

/* The stream's requantization: acc is 2x the TFLite accumulator, so SMMULR(acc, mult) = (acc/2 * mult +
 * 2^30) >> 31 = h, TFLite's rounding doubling high multiply (exact: s16w_stream keeps |acc/2| < 2^30);
 * the rounding divide by 2^r (halves away from zero) and the output offset fold into
 * (h - [h < 0] + 2^(r-1) + output_offset * 2^r) >> r, then saturation to int8. The assembly takes
 * [acc < 0] for [h < 0] (SMMLAR then adds the whole constant): with mult >= 0 they differ only where
 * h = 0, and there both give (2^(r-1) - 1 or 2^(r-1)) >> r = 0. */
static inline int32_t requantize(int32_t acc, const int32_t *rq)
{
#if defined(__ARM_FEATURE_DSP)
    int32_t h;
    __asm__("smmulr %0, %1, %2" : "=r"(h) : "r"(acc), "r"(rq[0]));
#else
    const int32_t h = (int32_t)(((int64_t)acc * rq[0] + 0x80000000LL) >> 32);
#endif
    const int32_t v = (h + (h >> 31) + rq[1]) >> rq[2];
    return v < -128 ? -128 : (v > 127 ? 127 : v);
}

/* The lane kernels in C (hosts, cores without DSP, blocks wider than the frame): every output channel of
 * a block of cols columns, the first n stored. */
static void lanes_c(const s16w_args *a, int32_t cols, int32_t n)
{
    const int32_t *s = a->s;
    for (int32_t m = 0; m < a->nchan; m++)
    {
        int32_t acc[S16W_MAX_COLS];
        for (int32_t j = 0; j < cols; j++)
        {
            acc[j] = s[0];
        }
        const uint32_t *w = (const uint32_t *)(const void *)(s + 1);
        const uint32_t *x = a->x;
        for (int32_t k = 0; k < a->lanes; k++, w += 3, x += cols + 2)
        {
            for (int32_t j = 0; j < cols; j++)
            {
                acc[j] = smlad(w[2], x[j + 2], smlad(w[1], x[j + 1], smlad(w[0], x[j], acc[j])));
            }
        }
        const int32_t *rq = (const int32_t *)(const void *)w;
        int8_t *d = a->out + m;
        for (int32_t j = 0; j < n; j++, d += a->step)
        {
            *d = (int8_t)requantize(acc[j], rq);
        }
        s = rq + 3;
    }
}

/* int8 -> int16 pairs (bytes 0 and 2, bytes 1 and 3). */
static inline uint32_t pair_even(uint32_t v)
{
#if defined(__ARM_FEATURE_DSP)
    return (uint32_t)__sxtb16(v);
#else
    return ((uint32_t)(int32_t)(int8_t)(v & 0xFFu) & 0xFFFFu) | ((uint32_t)(int32_t)(int8_t)((v >> 16) & 0xFFu) << 16);
#endif
}

static inline uint32_t pair_odd(uint32_t v)
{
#if defined(__ARM_FEATURE_DSP)
    uint32_t r;
    __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(v));
    return r;
#else
    return pair_even(v >> 8);
#endif
}

/* Converts columns [i0, i1) of `nch` channels (a multiple of 4, at most 16) starting at src (columns cin
 * bytes apart) into the lanes at d (lane k at d + k * wl; word i of a lane at d + i). */
static inline __attribute__((always_inline)) void convert_columns(uint32_t *d,
                                                                 const int8_t *src,
                                                                 int32_t cin,
                                                                 int32_t nch,
                                                                 int32_t i0,
                                                                 int32_t i1,
                                                                 int32_t wl)
{
    d += i0;
    for (int32_t i = i0; i < i1; i++, src += cin, d++)
    {
        const uint32_t v0 = rd32(src);
        d[0] = pair_even(v0);
        d[wl] = pair_odd(v0);
        if (nch >= 8)
        {
            const uint32_t v1 = rd32(src + 4);
            d[2 * wl] = pair_even(v1);
            d[3 * wl] = pair_odd(v1);
        }
        if (nch >= 16)
        {
            const uint32_t v2 = rd32(src + 8), v3 = rd32(src + 12);
            d[4 * wl] = pair_even(v2);
            d[5 * wl] = pair_odd(v2);
            d[6 * wl] = pair_even(v3);
            d[7 * wl] = pair_odd(v3);
        }
    }
}

/* Fills the block layout for input columns ix0 .. ix0 + wl - 1 (wl = C + 2 words per lane) of the rows
 * iy[0..kh) (-1: a padding row): 16 channels per pass over the columns, so that the lane offsets are
 * immediates (wl is a constant in each instance below). pad: the padding word. */
static inline __attribute__((always_inline)) void build_block(uint32_t *x,
                                                             const int8_t *in_b,
                                                             int32_t in_w,
                                                             int32_t cin,
                                                             int32_t kh,
                                                             const int32_t *iy,
                                                             int32_t ix0,
                                                             uint32_t pad,
                                                             int32_t wl)
{
    const int32_t row_words = cin / 2 * wl;
    const int32_t i0 = ix0 < 0 ? -ix0 : 0; /* valid columns: [i0, i1) */
    const int32_t i1 = in_w - ix0 < wl ? in_w - ix0 : wl;
    for (int32_t ky = 0; ky < kh; ky++, x += row_words)
    {
        if (iy[ky] < 0 || i0 >= i1)
        {
            for (int32_t k = 0; k < row_words; k++)
            {
                x[k] = pad;
            }
            continue;
        }
        for (int32_t i = 0; i < wl; i++) /* padding columns at the edges */
        {
            if (i == i0)
            {
                i = i1 - 1;
                continue;
            }
            for (uint32_t *d = x + i; d < x + row_words; d += wl)
            {
                *d = pad;
            }
        }
        const int8_t *src = in_b + (iy[ky] * in_w + ix0 + i0) * cin;
        int32_t c = 0;
        for (; c + 16 <= cin; c += 16)
        {
            convert_columns(x + c / 2 * wl, src + c, cin, 16, i0, i1, wl);
        }
        if (c + 8 <= cin)
        {
            convert_columns(x + c / 2 * wl, src + c, cin, 8, i0, i1, wl);
            c += 8;
        }
        if (c < cin)
        {
            convert_columns(x + c / 2 * wl, src + c, cin, 4, i0, i1, wl);
        }
    }
}

/* build_block for folded rows: lane k = (g, l) holds virtual channels (4g + l, 4g + l + 2), one word per
 * input column; a virtual channel past kh * cin has zero taps (any value will do), padding holds
 * -input_offset. Small (lanes <= 8), so plain C. */
static void build_block_folded(uint32_t *x, const int8_t *in_b, int32_t in_w, int32_t cin, int32_t kh,
                               const int32_t *iy, int32_t ix0, uint32_t pad, int32_t wl, int32_t lanes)
{
    for (int32_t k = 0; k < lanes; k++, x += wl)
    {
        const int32_t v0 = 4 * (k / 2) + k % 2;
        for (int32_t i = 0; i < wl; i++)
        {
            const int32_t col = ix0 + i;
            uint32_t word = 0u;
            for (int32_t h = 0; h < 2; h++)
            {
                const int32_t v = v0 + 2 * h, ky = v / cin;
                uint32_t half = pad & 0xFFFFu;
                if (ky < kh && iy[ky] >= 0 && col >= 0 && col < in_w)
                {
                    half = (uint32_t)(int32_t)in_b[(iy[ky] * in_w + col) * cin + v % cin] & 0xFFFFu;
                }
                word |= half << (16 * h);
            }
            x[i] = word;
        }
    }
}

#define S16W_BUILD(W)                                                                                          \
    static __attribute__((noinline)) void build_block_##W(uint32_t *x, const int8_t *in_b, int32_t in_w,       \
                                                          int32_t cin, int32_t kh, const int32_t *iy,          \
                                                          int32_t ix0, uint32_t pad)                           \
    {                                                                                                          \
        build_block(x, in_b, in_w, cin, kh, iy, ix0, pad, W);                                                  \
    }
S16W_BUILD(5)
S16W_BUILD(6)
S16W_BUILD(7)
S16W_BUILD(8)
#undef S16W_BUILD

typedef void (*s16w_build_fn)(uint32_t *, const int8_t *, int32_t, int32_t, int32_t, const int32_t *, int32_t,
                              uint32_t);

/* Clamps n bytes to the activation range [lo, hi] (the kernels only saturate to int8); 4 at a time with
 * SSUB8 + SEL on the DSP cores. */
static void clamp_span(int8_t *o, int32_t n, int32_t lo, int32_t hi)
{
#if defined(__ARM_FEATURE_DSP)
    const uint32_t lo4 = (uint32_t)(uint8_t)lo * 0x01010101u, hi4 = (uint32_t)(uint8_t)hi * 0x01010101u;
    for (; n >= 4; n -= 4, o += 4)
    {
        uint32_t v = rd32(o), t;
        /* GE[i] where v[i] >= lo: keep v[i], else lo; then GE[i] where hi >= v[i]: keep v[i], else hi */
        __asm__("ssub8 %0, %1, %2\n\tsel %1, %1, %2" : "=&r"(t), "+r"(v) : "r"(lo4) : "cc");
        __asm__("ssub8 %0, %2, %1\n\tsel %1, %1, %2" : "=&r"(t), "+r"(v) : "r"(hi4) : "cc");
        memcpy(o, &v, 4);
    }
#endif
    for (; n > 0; n--, o++)
    {
        *o = (int8_t)(*o < lo ? lo : (*o > hi ? hi : *o));
    }
}

/* Output columns of the next block given how many are left: 6 wide, and the last 7..11 split as 4+3,
 * 5+3, 5+4, 5+5, 6+5, which the cycle budget above favours over a 6 followed by a narrow rest. Fewer than
 * 3 left (a frame narrower than 3): a 3-wide block whose extra columns are computed on padding and not
 * stored. */
static int32_t block_cols(int32_t left)
{
    if (left >= 11 || left == 6)
    {
        return 6;
    }
    if (left >= 8)
    {
        return 5;
    }
    if (left == 7)
    {
        return 4;
    }
    return left >= 3 ? left : 3;
}

/* The stream's header matches the call. */
static int stream_matches(const int32_t *s, const cmsis_nn_conv_params *p, int32_t cout, int32_t lanes)
{
    return s[0] == SOI_S16W_MAGIC && s[1] == cout && s[2] == lanes && s[3] == p->input_offset &&
           s[4] == p->output_offset;
}

arm_cmsis_nn_status soi_conv_s16w_s8(const cmsis_nn_context *ctx,
                                     const cmsis_nn_conv_params *conv_params,
                                     const cmsis_nn_dims *input_dims,
                                     const int8_t *input,
                                     const cmsis_nn_dims *filter_dims,
                                     const int32_t *stream,
                                     const cmsis_nn_dims *output_dims,
                                     int8_t *output)
{
    const cmsis_nn_conv_params *p = conv_params;
    const int32_t need = soi_conv_s16w_s8_get_buffer_size(p, input_dims, filter_dims);
    const int32_t cin = input_dims->c, cout = output_dims->c, kh = filter_dims->h;
    const int32_t lanes = need == 0 ? 0 : lanes_of(input_dims, filter_dims);
    const int fold = folded(input_dims);
    const int32_t pad_w = filter_dims->w == 1 ? 1 : p->padding.w;
    if (need == 0 || ctx == NULL || ctx->buf == NULL || ctx->size < need || filter_dims->n != cout ||
        stream == NULL || ((uintptr_t)stream & 3u) != 0u || !stream_matches(stream, p, cout, lanes))
    {
        return ARM_CMSIS_NN_ARG_ERROR;
    }
    uint32_t *x = (uint32_t *)(((uintptr_t)ctx->buf + 3u) & ~(uintptr_t)3u);
    const uint32_t pad = ((uint32_t)-p->input_offset & 0xFFFFu) * 0x00010001u;
    const int clamp = p->activation.min > -128 || p->activation.max < 127;
    int32_t iy[16];
    s16w_args a;
    a.s = stream + SOI_S16W_HEADER_WORDS;
    a.x = x;
    a.lanes = lanes;
    a.nchan = cout;
    a.step = cout;
    for (int32_t b = 0; b < input_dims->n; b++)
    {
        const int8_t *in_b = input + b * input_dims->h * input_dims->w * cin;
        for (int32_t oy = 0; oy < output_dims->h; oy++)
        {
            for (int32_t ky = 0; ky < kh; ky++)
            {
                const int32_t y = oy * p->stride.h - p->padding.h + ky * p->dilation.h;
                iy[ky] = y >= 0 && y < input_dims->h ? y : -1;
            }
            int8_t *out_row = output + (b * output_dims->h + oy) * output_dims->w * cout;
            for (int32_t ox0 = 0; ox0 < output_dims->w;)
            {
                const int32_t left = output_dims->w - ox0;
                const int32_t cols = block_cols(left);
                const int32_t n = left < cols ? left : cols;
                static const s16w_build_fn build[4] = {build_block_5, build_block_6, build_block_7, build_block_8};
                if (fold)
                {
                    build_block_folded(x, in_b, input_dims->w, cin, kh, iy, ox0 - pad_w, pad, cols + 2, lanes);
                }
                else
                {
                    build[cols - 3](x, in_b, input_dims->w, cin, kh, iy, ox0 - pad_w, pad);
                }
                a.out = out_row + ox0 * cout;
                ox0 += n;
#if defined(S16W_ASM)
                if (n == cols)
                {
                    static void (*const lanes_asm[4])(const s16w_args *) = {soi_s16w_c3, soi_s16w_c4, soi_s16w_c5,
                                                                           soi_s16w_c6};
                    lanes_asm[cols - 3](&a);
                    continue;
                }
#endif
                lanes_c(&a, cols, n);
            }
            if (clamp)
            {
                clamp_span(out_row, output_dims->w * cout, p->activation.min, p->activation.max);
            }
        }
    }
    return ARM_CMSIS_NN_SUCCESS;
}
