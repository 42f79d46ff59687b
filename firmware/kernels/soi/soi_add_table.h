/* soi_add_table_s8: TFLite's int8 ADD (and SUB) from two generation-time tables, one per input, indexed by
 * the input byte (as unsigned: values 0..127, then -128..-1): out = sat8((t1[a] + t2[b]) >> shift), then the
 * fused activation's clamp. soi_mcu/ops/add_table.py builds the tables (each input's share of the output
 * requantization in fixed point with `shift` fractional bits, the output offset in t1) and checks them
 * against TFLite's arithmetic on all 65536 input pairs; a layer where they do not match keeps
 * arm_elementwise_add_s8. Two loads from the inputs, two from the tables, an add and an SSAT per value,
 * instead of three requantizations. The tables are 2 KB of flash per layer. */
#ifndef SOI_ADD_TABLE_H
#define SOI_ADD_TABLE_H

#include <stdint.h>

#include "arm_nn_types.h"

/* The shift of the assembly loop (other shifts, 0..30, run the C loop). */
#define SOI_ADD_TABLE_FAST_SHIFT 18

/* The field order is what the assembly loads (t2 last: into r12). */
typedef struct
{
    const int32_t *t1; /* 256 entries for input 1 */
    int32_t shift;     /* fractional bits of the entries: 0..30 */
    int32_t act_min, act_max;
    int32_t size;      /* values per call */
    const int32_t *t2; /* 256 entries for input 2 */
} soi_add_table_params;

/* p->size values of in1 and in2 (either may be the output: each value is read before it is written).
 * p and its tables must be valid (the assembly path, a few cycles of a 32-value add, does not test them
 * for null; the C path returns ARM_CMSIS_NN_ARG_ERROR). Returns ARM_CMSIS_NN_ARG_ERROR for a shift out of
 * range. */
arm_cmsis_nn_status soi_add_table_s8(const soi_add_table_params *p, const int8_t *in1, const int8_t *in2, int8_t *out);

#endif
