/* One step of TFLite's integer LSTM (8x8_16), bit-exact with LiteRT (see soi_lstm.h).
 *
 * Why not arm_lstm_unidirectional_s8: CMSIS-NN's kernel follows TFLite Micro's LSTM, not LiteRT's:
 * its tanh/sigmoid are arm_nn_activation_s16 (a table interpolation, not gemmlowp's fixed-point
 * functions) and its cell update multiplies through arm_elementwise_mul_s16's requantization instead
 * of LiteRT's rounding shifts, so its outputs differ from LiteRT's in the last bits; it also runs a
 * whole sequence per call, where the firmware steps one frame at a time and keeps the state. */
#include "soi_lstm.h"

#include "soi_q15.h"

static int16_t clamp16(int32_t x)
{
    return (int16_t)(x > INT16_MAX ? INT16_MAX : x < INT16_MIN ? INT16_MIN : x);
}

/* gate[r] = clamp16(requantize(bias[r] + W[r] . x)) + ...: TFLite's MatrixBatchVectorMultiplyAccumulate
 * into int16, saturating after each of the two products (input, then recurrent). */
static void accumulate(const int8_t *vector, int32_t size, const int8_t *weights, const int32_t *bias,
                       int32_t multiplier, int32_t shift, int32_t rows, int16_t *gate)
{
    for (int32_t r = 0; r < rows; r++) {
        const int32_t acc = soi_dot_s8(vector, weights + r * size, size, bias[r]);
        gate[r] = clamp16(soi_requantize(acc, multiplier, shift) + gate[r]);
    }
}

arm_cmsis_nn_status soi_lstm_step_s8(const soi_lstm_params *params, const int8_t *input, int32_t batches,
                                     const int8_t *input_weights, const int32_t *input_bias,
                                     const int8_t *recurrent_weights, const int32_t *recurrent_bias,
                                     int8_t *hidden, int16_t *cell, int16_t *scratch)
{
    const int32_t n_in = params->input_size;
    const int32_t n = params->hidden_size;
    const int32_t tanh_bits = 15 + params->cell_scale_log2; /* integer bits of the cell state */
    if (n_in <= 0 || n <= 0 || tanh_bits > 6 || params->cell_scale_log2 < -30) {
        return ARM_CMSIS_NN_ARG_ERROR;
    }
    for (int32_t b = 0; b < batches; b++) {
        const int8_t *x = input + b * n_in;
        int8_t *h = hidden + b * n;
        int16_t *c = cell + b * n;
        for (int32_t g = 0; g < 4; g++) { /* all four gates read the old hidden state */
            int16_t *gate = scratch + g * n;
            for (int32_t r = 0; r < n; r++) {
                gate[r] = 0;
            }
            accumulate(x, n_in, input_weights + g * n * n_in, input_bias + g * n, params->input_multiplier[g],
                       params->input_shift[g], n, gate);
            accumulate(h, n, recurrent_weights + g * n * n, recurrent_bias + g * n, params->recurrent_multiplier[g],
                       params->recurrent_shift[g], n, gate);
            for (int32_t r = 0; r < n; r++) { /* Q3.12 -> Q0.15: sigmoid, tanh for the cell gate */
                gate[r] = g == 2 ? soi_q15_tanh(gate[r], 3) : soi_q15_logistic(gate[r]);
            }
        }
        const int16_t *in_gate = scratch;
        const int16_t *forget_gate = scratch + n;
        const int16_t *cell_gate = scratch + 2 * n;
        const int16_t *out_gate = scratch + 3 * n;
        for (int32_t r = 0; r < n; r++) {
            /* c = f * c + i * g (UpdateLstmCellInteger: two rounding shifts, a saturating add, the clip) */
            const int16_t kept = (int16_t)soi_q15_rounding_shift((int32_t)forget_gate[r] * c[r], 15);
            const int16_t added = (int16_t)soi_q15_rounding_shift((int32_t)in_gate[r] * cell_gate[r],
                                                                  30 + params->cell_scale_log2);
            int32_t updated = clamp16((int32_t)kept + added);
            if (params->cell_clip > 0) {
                updated = updated > params->cell_clip ? params->cell_clip
                          : updated < -params->cell_clip ? -params->cell_clip : updated;
            }
            c[r] = (int16_t)updated;
            /* h = o * tanh(c), requantized to int8. LiteRT's ApplyTanh does nothing for a cell scale
             * below 2^-15 (negative integer bits: no case of its switch), leaving the buffer it was to
             * fill as it was: holding the input gate. Mirrored, to stay bit-exact. */
            const int16_t t = tanh_bits >= 0 ? soi_q15_tanh(c[r], tanh_bits) : in_gate[r];
            int32_t v = soi_requantize((int32_t)out_gate[r] * t, params->hidden_multiplier, params->hidden_shift);
            v += params->hidden_offset;
            h[r] = (int8_t)(v > 127 ? 127 : v < -128 ? -128 : v);
        }
    }
    return ARM_CMSIS_NN_SUCCESS;
}
