/* soi_conv_s16w_s8 (see the header): direct convolution over blocks of C output columns (C = 3..6).
 *
 * For one block, every input value of the window is converted once to int16 (+ input offset) into the
 * block layout: lane k = (ky, g, l) in the filter's order holds C + 2 words, word i = input column
 * ix0 - pad + i, channels (4g + l, 4g + l + 2) as an int16 pair (0 where the column is padding). One lane
 * of one output channel is then, per column j, acc[j] += SMLAD(tap0, x[j]) + SMLAD(tap1, x[j+1]) +
 * SMLAD(tap2, x[j+2]): 3C SMLAD for C + 2 input words and 3 tap words.
 *
 * Cycle budget of a lane on the Cortex-M4 (TRM: a run of n back-to-back LDRs costs n + 1): registers
 * r0..r(C-1) hold the accumulators, the next 3 the taps, the rest up to r11 (9 - C) input words, r12 the
 * filter pointer and lr the block pointer. The taps and the first input words load in one run, so C = 6
 * costs 18 SMLAD + 11 loads in 3 runs = 32 cycles per 36 MACs (1.125 MAC/cycle), C = 5 27 per 30,
 * C = 4 23 per 24, C = 3 18 per 18. Blocks are 6 wide, the last ones 5, 4 or 3 (see block_cols). */
#include "soi_conv_s16w.h"

#include <string.h>

#if defined(__ARM_FEATURE_DSP)
#include <arm_acle.h>
#endif

#define S16W_MAX_COLS 6

/* Per output channel, the fast requantization's constants (see requant_table). */
typedef struct
{
    int32_t mult;
    int32_t add; /* 2^(r-1) + output_offset * 2^r */
    int32_t r;   /* right shift, 1..21 */
} s16w_rq;

/* One call of a lane kernel: every output channel of one block of C columns. The field order is what
 * the assembly loads (ldm). */
typedef struct
{
    const int16_t *w;     /* filter of the first output channel, 4-byte aligned */
    const uint32_t *x;    /* block layout */
    const s16w_rq *rq;    /* nchan entries (assembly) */
    const int32_t *bias;  /* nchan values */
    int32_t lanes;        /* kh * cin / 2 (even) */
    int32_t nchan;
    int8_t *out;          /* column 0 of channel 0; column j of channel m at out + j * step + m */
    int32_t lo, hi, step; /* activation range, bytes between columns (cout) */
    int32_t *acc;         /* C path: nchan x C accumulators */
} s16w_args;

static int supported(const cmsis_nn_conv_params *p, const cmsis_nn_dims *in, const cmsis_nn_dims *f)
{
    return f->w == 3 && f->c == in->c && in->c > 0 && in->c % 4 == 0 && f->h >= 1 && p->stride.w == 1 &&
           p->dilation.w == 1 && p->stride.h >= 1 && p->dilation.h >= 1;
}

int32_t soi_conv_s16w_s8_get_buffer_size(const cmsis_nn_conv_params *conv_params,
                                         const cmsis_nn_dims *input_dims,
                                         const cmsis_nn_dims *filter_dims)
{
    if (!supported(conv_params, input_dims, filter_dims))
    {
        return 0;
    }
    const int32_t lanes = filter_dims->h * input_dims->c / 2;
    /* block layout + requantization table + accumulators of every output channel (C path) + alignment */
    return lanes * (S16W_MAX_COLS + 2) * 4 + filter_dims->n * (3 + S16W_MAX_COLS) * 4 + 4;
}

#if defined(__ARM_FEATURE_DSP) && !defined(SOI_NN_NO_ASM)
#define S16W_ASM 1
void soi_s16w_c3(const s16w_args *a);
void soi_s16w_c4(const s16w_args *a);
void soi_s16w_c5(const s16w_args *a);
void soi_s16w_c6(const s16w_args *a);
/* The lane schedule is written once as assembler macros over C; %(expr) (altmacro) turns the register
 * arithmetic into register names. Per output channel: accumulators = bias, groups of 12 lanes, then pairs
 * of lanes, then the C outputs requantized in registers and stored. The loop tests compare lr with ends
 * kept on the stack, loaded in the last load run of a group ([sp]: block, [sp+4]: requantization table,
 * [sp+8]: bias, [sp+12]: channels left, [sp+16]: end, [sp+20]: end of the groups of 12, [sp+24]:
 * activation minimum, [sp+32]: step, [sp+36]: output of the channel). */
__asm__(
    "  .pushsection .text.soi_s16w_macros,\"ax\",%progbits\n"
    "  .syntax unified\n"
    "  .thumb\n"
    "  .macro S16W_SMLAD ra, rw, rx\n"
    "  smlad r\\ra, r\\rw, r\\rx, r\\ra\n"
    "  .endm\n"
    "  .macro S16W_LDW rn\n"
    "  ldr r\\rn, [r12], #4\n"
    "  .endm\n"
    "  .macro S16W_LDX rn\n"
    "  ldr r\\rn, [lr], #4\n"
    "  .endm\n"
    "  .macro S16W_LDSP rn, offs\n"
    "  ldr r\\rn, [sp, #\\offs]\n"
    "  .endm\n"
    "  .macro S16W_CMP rn\n"
    "  cmp lr, r\\rn\n"
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
    /* One lane: taps and the first 9 - C input words in one load run, then the rest in runs of 9 - C. */
    "  .macro S16W_LANE C, endoff=-1\n"
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
    "  .if \\endoff >= 0 && s16w_s + 9 - \\C >= \\C + 2\n"
    "  S16W_LDSP 11, \\endoff\n"
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

    "  .macro S16W_RQ rj\n"
    "  lsl r\\rj, r\\rj, #1\n"
    "  smmulr r\\rj, r\\rj, r7\n"
    "  add r\\rj, r\\rj, r\\rj, asr #31\n"
    "  add r\\rj, r\\rj, r8\n"
    "  asr r\\rj, r\\rj, r9\n"
    "  ssat r\\rj, #8, r\\rj\n"
    "  cmp r\\rj, r6\n"
    "  it lt\n"
    "  movlt r\\rj, r6\n"
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
    "  sub sp, sp, #40\n"
    "  ldm r0, {r1-r10}\n"
    "  str r2, [sp]\n"
    "  str r3, [sp, #4]\n"
    "  str r4, [sp, #8]\n"
    "  str r6, [sp, #12]\n"
    "  str r8, [sp, #24]\n"
    "  str r10, [sp, #32]\n"
    "  str r7, [sp, #36]\n"
    "  mov r12, r1\n"
    "  movs r1, #((\\C + 2) * 4)\n"
    "  mul r11, r5, r1\n"
    "  add r11, r2, r11\n"
    "  str r11, [sp, #16]\n"
    "  movs r0, #12\n"
    "  udiv r0, r5, r0\n"
    "  movs r3, #(12 * (\\C + 2) * 4)\n"
    "  mul r0, r0, r3\n"
    "  add r0, r2, r0\n"
    "  str r0, [sp, #20]\n"
    "1:\n"
    "  ldr r7, [sp, #8]\n"
    "  ldr r0, [r7], #4\n"
    "  str r7, [sp, #8]\n"
    "  .irp j, 1, 2, 3, 4, 5\n"
    "  .if \\j < \\C\n"
    "  mov r\\j, r0\n"
    "  .endif\n"
    "  .endr\n"
    "  ldr lr, [sp]\n"
    "  ldr r7, [sp, #20]\n"
    "  cmp lr, r7\n"
    "  beq 3f\n"
    "  .altmacro\n"
    "2:\n"
    "  .rept 11\n"
    "  S16W_LANE \\C\n"
    "  .endr\n"
    "  S16W_LANE \\C, 20\n"
    "  cmp lr, r11\n"
    "  bne 2b\n"
    "3:\n"
    "  S16W_LDSP %(\\C), 16\n"
    "  S16W_CMP %(\\C)\n"
    "  beq 5f\n"
    "4:\n"
    "  S16W_LANE \\C\n"
    "  S16W_LANE \\C, 16\n"
    "  cmp lr, r11\n"
    "  bne 4b\n"
    "  .noaltmacro\n"
    "5:\n"
    "  ldr r6, [sp, #4]\n"
    "  ldm r6!, {r7, r8, r9}\n"
    "  str r6, [sp, #4]\n"
    "  ldr lr, [sp, #36]\n"
    "  adds r6, lr, #1\n"
    "  str r6, [sp, #36]\n"
    "  ldr r6, [sp, #24]\n"
    "  ldr r11, [sp, #32]\n"
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
    "  ldr r7, [sp, #12]\n"
    "  subs r7, r7, #1\n"
    "  str r7, [sp, #12]\n"
    "  bne 1b\n"
    "  add sp, sp, #40\n"
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
    "  .purgem S16W_CMP\n"
    "  .purgem S16W_LDSP\n"
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

/* The lane kernels' accumulation in C (hosts, cores without DSP, shapes the assembly does not take). */
static void lanes_c(const s16w_args *a, int32_t cols)
{
    const uint32_t *w = (const uint32_t *)(const void *)a->w;
    int32_t *acc = a->acc;
    for (int32_t m = 0; m < a->nchan; m++, acc += cols)
    {
        for (int32_t j = 0; j < cols; j++)
        {
            acc[j] = a->bias[m];
        }
        const uint32_t *x = a->x;
        for (int32_t k = 0; k < a->lanes; k++, w += 3, x += cols + 2)
        {
            for (int32_t j = 0; j < cols; j++)
            {
                acc[j] = smlad(w[2], x[j + 2], smlad(w[1], x[j + 1], smlad(w[0], x[j], acc[j])));
            }
        }
    }
}

/* int8 -> int16 pairs (bytes 0 and 2, bytes 1 and 3) plus the input offset in each half. */
static inline uint32_t pair_even(uint32_t v, uint32_t off2)
{
#if defined(__ARM_FEATURE_DSP)
    return (uint32_t)__sadd16(__sxtb16(v), off2);
#else
    const uint32_t lo = (uint32_t)((int32_t)(int8_t)(v & 0xFFu) + (int32_t)(int16_t)(off2 & 0xFFFFu)) & 0xFFFFu;
    const uint32_t hi = (uint32_t)((int32_t)(int8_t)((v >> 16) & 0xFFu) + (int32_t)(int16_t)(off2 >> 16)) & 0xFFFFu;
    return lo | (hi << 16);
#endif
}

static inline uint32_t pair_odd(uint32_t v, uint32_t off2)
{
#if defined(__ARM_FEATURE_DSP)
    uint32_t r;
    __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(v));
    return (uint32_t)__sadd16(r, off2);
#else
    return pair_even(v >> 8, off2);
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
                                                                 uint32_t off2,
                                                                 int32_t wl)
{
    d += i0;
    for (int32_t i = i0; i < i1; i++, src += cin, d++)
    {
        const uint32_t v0 = rd32(src);
        d[0] = pair_even(v0, off2);
        d[wl] = pair_odd(v0, off2);
        if (nch >= 8)
        {
            const uint32_t v1 = rd32(src + 4);
            d[2 * wl] = pair_even(v1, off2);
            d[3 * wl] = pair_odd(v1, off2);
        }
        if (nch >= 16)
        {
            const uint32_t v2 = rd32(src + 8), v3 = rd32(src + 12);
            d[4 * wl] = pair_even(v2, off2);
            d[5 * wl] = pair_odd(v2, off2);
            d[6 * wl] = pair_even(v3, off2);
            d[7 * wl] = pair_odd(v3, off2);
        }
    }
}

/* Fills the block layout for input columns ix0 .. ix0 + wl - 1 (wl = C + 2 words per lane) of the rows
 * iy[0..kh) (-1: a padding row): 16 channels per pass over the columns, so that the lane offsets are
 * immediates (wl is a constant in each instance below). */
static inline __attribute__((always_inline)) void build_block(uint32_t *x,
                                                             const int8_t *in_b,
                                                             int32_t in_w,
                                                             int32_t cin,
                                                             int32_t kh,
                                                             const int32_t *iy,
                                                             int32_t ix0,
                                                             int32_t in_off,
                                                             int32_t wl)
{
    const uint32_t off2 = ((uint32_t)in_off & 0xFFFFu) | ((uint32_t)in_off << 16);
    const int32_t row_words = cin / 2 * wl;
    const int32_t i0 = ix0 < 0 ? -ix0 : 0; /* valid columns: [i0, i1) */
    const int32_t i1 = in_w - ix0 < wl ? in_w - ix0 : wl;
    for (int32_t ky = 0; ky < kh; ky++, x += row_words)
    {
        if (iy[ky] < 0 || i0 >= i1)
        {
            memset(x, 0, (size_t)row_words * 4u);
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
                *d = 0u;
            }
        }
        const int8_t *src = in_b + (iy[ky] * in_w + ix0 + i0) * cin;
        int32_t c = 0;
        for (; c + 16 <= cin; c += 16)
        {
            convert_columns(x + c / 2 * wl, src + c, cin, 16, i0, i1, off2, wl);
        }
        if (c + 8 <= cin)
        {
            convert_columns(x + c / 2 * wl, src + c, cin, 8, i0, i1, off2, wl);
            c += 8;
        }
        if (c < cin)
        {
            convert_columns(x + c / 2 * wl, src + c, cin, 4, i0, i1, off2, wl);
        }
    }
}

#define S16W_BUILD(W)                                                                                          \
    static __attribute__((noinline)) void build_block_##W(uint32_t *x, const int8_t *in_b, int32_t in_w,       \
                                                          int32_t cin, int32_t kh, const int32_t *iy,          \
                                                          int32_t ix0, int32_t in_off)                         \
    {                                                                                                          \
        build_block(x, in_b, in_w, cin, kh, iy, ix0, in_off, W);                                               \
    }
S16W_BUILD(5)
S16W_BUILD(6)
S16W_BUILD(7)
S16W_BUILD(8)
#undef S16W_BUILD

typedef void (*s16w_build_fn)(uint32_t *, const int8_t *, int32_t, int32_t, int32_t, const int32_t *, int32_t,
                              int32_t);

#if defined(S16W_ASM)
/* Caps the outputs of a block at the activation maximum (the assembly clamps to [min, 127]). */
static void clamp_max(int8_t *o, int32_t n, int32_t step, int32_t cout, int32_t hi)
{
    for (int32_t j = 0; j < n; j++, o += step)
    {
        for (int32_t m = 0; m < cout; m++)
        {
            o[m] = (int8_t)(o[m] > hi ? hi : o[m]);
        }
    }
}
#endif

/* TFLite's MultiplyByQuantizedMultiplier: x * 2^max(shift, 0), rounding doubling high multiply by the
 * Q31 multiplier ((x * m + 2^30) >> 31), rounding divide by 2^max(-shift, 0) with halves away from zero. */
static int32_t requantize(int32_t val, int32_t mult, int32_t shift)
{
    const int32_t left = shift > 0 ? shift : 0;
    const int32_t right = shift > 0 ? 0 : -shift;
    const int32_t x = (int32_t)((uint32_t)val << left);
    const int32_t hi = (int32_t)(((int64_t)x * mult + (1LL << 30)) >> 31);
    if (right == 0)
    {
        return hi;
    }
    const int32_t mask = (int32_t)((1u << right) - 1u);
    const int32_t threshold = (mask >> 1) + (hi < 0 ? 1 : 0);
    return (hi >> right) + ((hi & mask) > threshold ? 1 : 0);
}

/* The fast requantization, exact where requant_table allows it: with |acc| < 2^30, SMMULR(2 acc, m) =
 * (acc * m + 2^30) >> 31 = h; for a right shift 1 <= r <= 21 the rounding divide (halves away from zero)
 * and the output offset fold into (h - [h < 0] + 2^(r-1) + off * 2^r) >> r, with no overflow since
 * |h| <= |acc| < 2^30 and |2^(r-1) + off * 2^r| < 2^29. */
static inline int32_t requantize_fast(int32_t acc, const s16w_rq *t)
{
#if defined(__ARM_FEATURE_DSP)
    int32_t h;
    __asm__("smmulr %0, %1, %2" : "=r"(h) : "r"((int32_t)((uint32_t)acc << 1)), "r"(t->mult));
#else
    const int32_t h = (int32_t)(((int64_t)acc * 2 * t->mult + 0x80000000LL) >> 32);
#endif
    return (h + (h >> 31) + t->add) >> t->r;
}

/* Fills the fast requantization's constants for every output channel; 0 where a channel needs the
 * reference formula (a left shift or no shift, a shift above 21, a bias or a filter that could take
 * |acc| to 2^30: |acc| <= |bias| + taps * 255 * 128 for int8 inputs plus offset and int8 weights). */
static int requant_table(s16w_rq *t, const cmsis_nn_per_channel_quant_params *q, const int32_t *bias,
                         int32_t cout, int32_t taps, int32_t off)
{
    if (taps > (1 << 29) / (255 * 128))
    {
        return 0;
    }
    for (int32_t m = 0; m < cout; m++)
    {
        const int32_t r = -q->shift[m];
        if (r < 1 || r > 21 || bias[m] <= -(1 << 29) || bias[m] >= (1 << 29))
        {
            return 0;
        }
        t[m].mult = q->multiplier[m];
        t[m].add = (int32_t)(1u << (r - 1)) + (int32_t)((uint32_t)off << r);
        t[m].r = r;
    }
    return 1;
}

/* C path: requantizes the accumulators of each channel and stores the first n of its cols columns. */
static void requant_store(const s16w_args *a, int32_t cols, int32_t n, const s16w_rq *t,
                          const cmsis_nn_per_channel_quant_params *q, int32_t off)
{
    const int32_t *acc = a->acc;
    for (int32_t m = 0; m < a->nchan; m++, acc += cols)
    {
        int8_t *d = a->out + m;
        for (int32_t j = 0; j < n; j++, d += a->step)
        {
            int32_t v = t != NULL ? requantize_fast(acc[j], t + m)
                                  : requantize(acc[j], q->multiplier[m], q->shift[m]) + off;
            v = v < a->lo ? a->lo : v;
            *d = (int8_t)(v > a->hi ? a->hi : v);
        }
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

arm_cmsis_nn_status soi_conv_s16w_s8(const cmsis_nn_context *ctx,
                                     const cmsis_nn_conv_params *conv_params,
                                     const cmsis_nn_per_channel_quant_params *quant_params,
                                     const cmsis_nn_dims *input_dims,
                                     const int8_t *input,
                                     const cmsis_nn_dims *filter_dims,
                                     const int16_t *filter,
                                     const int32_t *bias,
                                     const cmsis_nn_dims *output_dims,
                                     int8_t *output)
{
    const cmsis_nn_conv_params *p = conv_params;
    const int32_t need = soi_conv_s16w_s8_get_buffer_size(p, input_dims, filter_dims);
    if (need == 0 || ctx == NULL || ctx->buf == NULL || ctx->size < need || filter_dims->n != output_dims->c ||
        ((uintptr_t)filter & 3u) != 0u || filter_dims->h > 16 || bias == NULL)
    {
        return ARM_CMSIS_NN_ARG_ERROR;
    }
    const int32_t cin = input_dims->c, cout = output_dims->c, kh = filter_dims->h;
    const int32_t lanes = kh * cin / 2;
    uint32_t *x = (uint32_t *)(((uintptr_t)ctx->buf + 3u) & ~(uintptr_t)3u);
    /* after the block: the requantization table, then (C path) the accumulators */
    s16w_rq *table = (s16w_rq *)(void *)(x + lanes * (S16W_MAX_COLS + 2));
    const int fast = requant_table(table, quant_params, bias, cout, kh * 3 * cin, p->output_offset);
    int32_t iy[16];
    s16w_args a;
    a.w = filter;
    a.x = x;
    a.rq = table;
    a.bias = bias;
    a.lanes = lanes;
    a.nchan = cout;
    a.lo = p->activation.min;
    a.hi = p->activation.max;
    a.step = cout;
    a.acc = fast ? (int32_t *)(void *)(table + cout) : (int32_t *)(void *)table;
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
                build[cols - 3](x, in_b, input_dims->w, cin, kh, iy, ox0 - p->padding.w, p->input_offset);
                a.out = out_row + ox0 * cout;
#if defined(S16W_ASM)
                if (fast && n == cols)
                {
                    switch (cols)
                    {
                    case 3:
                        soi_s16w_c3(&a);
                        break;
                    case 4:
                        soi_s16w_c4(&a);
                        break;
                    case 5:
                        soi_s16w_c5(&a);
                        break;
                    default:
                        soi_s16w_c6(&a);
                        break;
                    }
                    if (a.hi < 127)
                    {
                        clamp_max(a.out, n, cout, cout, a.hi);
                    }
                    ox0 += n;
                    continue;
                }
#endif
                lanes_c(&a, cols);
                requant_store(&a, cols, n, fast ? table : NULL, quant_params, p->output_offset);
                ox0 += n;
            }
        }
    }
    return ARM_CMSIS_NN_SUCCESS;
}
