/* soi_lstm_step_s8: one time step of TFLite's full-integer UNIDIRECTIONAL_SEQUENCE_LSTM (int8
 * activations and weights, int16 cell state; no peephole, projection, layer norm or CIFG), bit-exact
 * with LiteRT's kernel (lstm_eval.cc, LstmStepInteger8x8_16). The firmware streams one frame a step,
 * the hidden and cell states persisting between calls. */
#ifndef SOI_LSTM_H
#define SOI_LSTM_H

#include <stdint.h>

#include "arm_nn_types.h"

/* Gate order i (input), f (forget), g (cell), o (output), as in TFLite and PyTorch. The multipliers
 * and shifts are TFLite's effective scales (weight scale x input or hidden scale / 2^-12: the gates
 * are Q3.12 before their activations); the biases already hold the zero points times the weights'
 * row sums (TFLite's precomputed effective biases). */
typedef struct {
    int32_t input_size;
    int32_t hidden_size;
    int32_t input_multiplier[4];
    int32_t input_shift[4];
    int32_t recurrent_multiplier[4];
    int32_t recurrent_shift[4];
    int32_t hidden_multiplier; /* o * tanh(c) (Q0.15 x Q0.15) to the int8 hidden state */
    int32_t hidden_shift;
    int32_t hidden_offset;     /* the hidden state's zero point */
    int32_t cell_scale_log2;   /* the int16 cell state's scale is 2^cell_scale_log2 (-30..-9) */
    int32_t cell_clip;         /* |cell| <= cell_clip (0: no clip) */
} soi_lstm_params;

/* input: `batches` vectors of input_size int8 (one per frequency bin, channels fastest);
 * input_weights: 4 matrices hidden_size x input_size, recurrent_weights: 4 hidden_size x hidden_size,
 * input_bias, recurrent_bias: 4 x hidden_size effective biases;
 * hidden (int8) and cell (int16): batches x hidden_size, the state, updated in place: after the call
 * `hidden` is the step's output frame; scratch: 4 x hidden_size int16. */
arm_cmsis_nn_status soi_lstm_step_s8(const soi_lstm_params *params, const int8_t *input, int32_t batches,
                                     const int8_t *input_weights, const int32_t *input_bias,
                                     const int8_t *recurrent_weights, const int32_t *recurrent_bias,
                                     int8_t *hidden, int16_t *cell, int16_t *scratch);

#endif
