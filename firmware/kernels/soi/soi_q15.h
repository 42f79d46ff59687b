/* Fixed-point helpers shared by the project's recurrent kernels: TFLite's requantization and the int16
 * logistic and tanh its integer LSTM applies to the gates (gemmlowp's fixed-point functions, written
 * out step by step so that every rounding matches: the firmware must equal LiteRT bit for bit). */
#ifndef SOI_Q15_H
#define SOI_Q15_H

#include <stdint.h>

/* TFLite's MultiplyByQuantizedMultiplier (double rounding: a rounding doubling high multiply, then a
 * rounding right shift). */
int32_t soi_q15_requantize(int32_t value, int32_t multiplier, int32_t shift);

/* gemmlowp's RoundingDivideByPOT on int32: x / 2^exponent rounded to nearest, ties away from zero. */
int32_t soi_q15_rounding_shift(int32_t x, int32_t exponent);

/* logistic(x) for x a Q3.12 value, as a Q0.15 value (gemmlowp::logistic on FixedPoint<int16, 3>). */
int16_t soi_q15_logistic(int16_t x);

/* tanh(x) for x with `integer_bits` integer bits (0..6), as a Q0.15 value (gemmlowp::tanh). */
int16_t soi_q15_tanh(int16_t x, int32_t integer_bits);

#endif
