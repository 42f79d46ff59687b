/* arm_elementwise_mul_s8: TFLite int8 MulElementwise (no broadcasting), CMSIS-NN's API.
 *
 * Fast path (offsets within +-256, a positive multiplier with a right shift 1..22: every int8 MUL that
 * TFLite's converter writes for tensors of similar scale): the product p = (x1 + o1) * (x2 + o2) has
 * |p| < 2^18, so requant(p) + out_offset is SMMLAR(2p, mult, k - [p < 0]) >> r (soi_nn_elementwise.h).
 * DSP: four values per iteration, two per packed register; SXTAB16 adds the offsets (o1 doubled and the
 * byte added twice: the product comes out as 2p), SMULBB / SMULTT form the products. MVE: four 32-bit
 * lanes, VRMULH is SMMULR per lane. Anything else takes the generic loop (TFLite's arithmetic). */
#include "arm_nnfunctions.h"
#include "soi_nn_elementwise.h"

/* One output from twice the product. */
static inline __attribute__((always_inline)) int8_t soi_mul_out(int32_t twice_p, int32_t mult, int32_t r, int32_t k,
                                                                int32_t lo, int32_t hi)
{
    const int32_t y = soi_smmlar(twice_p, mult, k + (twice_p >> 31)) >> r;
    return (int8_t)(lo == -128 && hi == 127 ? soi_ew_sat8(y) : soi_ew_clamp(y, lo, hi));
}

static inline __attribute__((always_inline)) void soi_mul_fast(const int8_t *in1, const int8_t *in2, int32_t o1,
                                                               int32_t o2, int8_t *out, int32_t mult, int32_t r,
                                                               int32_t k, int32_t lo, int32_t hi, int32_t n)
{
#if defined(SOI_NN_MVE)
    const int32x4_t vmult = vdupq_n_s32(mult), vlo = vdupq_n_s32(lo), vhi = vdupq_n_s32(hi);
    for (int32_t i = 0; i < n; i += 4)
    {
        const mve_pred16_t pr = vctp32q((uint32_t)(n - i));
        const int32x4_t a = vaddq_n_s32(vldrbq_z_s32(in1 + i, pr), o1);
        const int32x4_t b = vaddq_n_s32(vldrbq_z_s32(in2 + i, pr), o2);
        const int32x4_t p2 = vshlq_n_s32(vmulq_s32(a, b), 1);
        /* VRMULH: (2p * mult + 2^31) >> 32 per lane, i.e. SMMULR; then k - [p < 0] and the right shift */
        int32x4_t y = vaddq_s32(vrmulhq_s32(p2, vmult), vaddq_n_s32(vshrq_n_s32(p2, 31), k));
        y = vminq_s32(vmaxq_s32(vshlq_r_s32(y, -r), vlo), vhi);
        vstrbq_p_s32(out + i, y, pr);
    }
#else
    int32_t i = 0;
#if defined(SOI_NN_DSP)
    const uint32_t o1p = soi_pack16(2 * o1, 2 * o1), o2p = soi_pack16(o2, o2);
    for (; i + 4 <= n; i += 4)
    {
        const uint32_t x1 = soi_read_u32(in1 + i), x2 = soi_read_u32(in2 + i);
        const uint32_t a02 = soi_sxtab16(soi_sxtab16(o1p, x1), x1);
        const uint32_t a13 = soi_sxtab16_ror8(soi_sxtab16_ror8(o1p, x1), x1);
        const uint32_t b02 = soi_sxtab16(o2p, x2), b13 = soi_sxtab16_ror8(o2p, x2);
        out[i] = soi_mul_out(soi_smulbb(a02, b02), mult, r, k, lo, hi);
        out[i + 1] = soi_mul_out(soi_smulbb(a13, b13), mult, r, k, lo, hi);
        out[i + 2] = soi_mul_out(soi_smultt(a02, b02), mult, r, k, lo, hi);
        out[i + 3] = soi_mul_out(soi_smultt(a13, b13), mult, r, k, lo, hi);
    }
#endif
    for (; i < n; i++)
    {
        out[i] = soi_mul_out(2 * (in1[i] + o1) * (in2[i] + o2), mult, r, k, lo, hi);
    }
#endif
}

arm_cmsis_nn_status arm_elementwise_mul_s8(const int8_t *input_1_vect,
                                           const int8_t *input_2_vect,
                                           const int32_t input_1_offset,
                                           const int32_t input_2_offset,
                                           int8_t *output,
                                           const int32_t out_offset,
                                           const int32_t out_mult,
                                           const int32_t out_shift,
                                           const int32_t out_activation_min,
                                           const int32_t out_activation_max,
                                           const int32_t block_size)
{
    if (soi_ew_fast_shift(out_mult, out_shift) && input_1_offset >= -256 && input_1_offset <= 256 &&
        input_2_offset >= -256 && input_2_offset <= 256 && out_offset >= -256 && out_offset <= 256)
    {
        const int32_t k = soi_ew_round_const(-out_shift, out_offset);
        if (out_activation_min == -128 && out_activation_max == 127) /* constant bounds: SSAT in the loop */
        {
            soi_mul_fast(input_1_vect, input_2_vect, input_1_offset, input_2_offset, output, out_mult, -out_shift, k,
                         -128, 127, block_size);
        }
        else
        {
            soi_mul_fast(input_1_vect, input_2_vect, input_1_offset, input_2_offset, output, out_mult, -out_shift, k,
                         out_activation_min, out_activation_max, block_size);
        }
        return ARM_CMSIS_NN_SUCCESS;
    }
    for (int32_t i = 0; i < block_size; i++)
    {
        const int32_t prod = (input_1_vect[i] + input_1_offset) * (input_2_vect[i] + input_2_offset);
        output[i] = soi_nn_clamp_s8(soi_nn_requantize(prod, out_mult, out_shift) + out_offset, out_activation_min,
                                    out_activation_max);
    }
    return ARM_CMSIS_NN_SUCCESS;
}
