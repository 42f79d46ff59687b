/* soi-mcu kernels: data types of the CMSIS-NN v7 int8 API (same names, field order and enum values,
 * so that code generated for CMSIS-NN compiles and runs unchanged against this implementation).
 * Written from the API description only; no CMSIS-NN source is used. */
#ifndef ARM_NN_TYPES_H
#define ARM_NN_TYPES_H

#include <stddef.h>
#include <stdint.h>

/* Return status of every kernel. */
typedef enum
{
    ARM_CMSIS_NN_SUCCESS = 0,        /* no error */
    ARM_CMSIS_NN_ARG_ERROR = -1,     /* invalid argument (shape, missing buffer, ...) */
    ARM_CMSIS_NN_NO_IMPL_ERROR = -2, /* valid call this implementation does not support */
    ARM_CMSIS_NN_FAILURE = -3,       /* internal failure */
} arm_cmsis_nn_status;

/* 2-D size or step. Note: w is the FIRST field. */
typedef struct
{
    int32_t w;
    int32_t h;
} cmsis_nn_tile;

/* Tensor shape, NHWC order. */
typedef struct
{
    int32_t n;
    int32_t h;
    int32_t w;
    int32_t c;
} cmsis_nn_dims;

/* Output clamp in the int8 output domain (zero point already included). */
typedef struct
{
    int32_t min;
    int32_t max;
} cmsis_nn_activation;

/* Scratch memory handed to a kernel; size in bytes. Any alignment is accepted here. */
typedef struct
{
    void *buf;
    int32_t size;
} cmsis_nn_context;

/* Per output channel requantization: Q31 multiplier in [2^30, 2^31) and shift in [-31, 30] (>0: left). */
typedef struct
{
    int32_t *multiplier;
    int32_t *shift;
} cmsis_nn_per_channel_quant_params;

typedef struct
{
    int32_t multiplier;
    int32_t shift;
} cmsis_nn_per_tensor_quant_params;

typedef struct
{
    int32_t *multiplier;
    int32_t *shift;
    int32_t is_per_channel;
} cmsis_nn_quant_params;

/* input_offset = -input_zp (range [-127, 128]); output_offset = +output_zp (added after requantization). */
typedef struct
{
    int32_t input_offset;
    int32_t output_offset;
    cmsis_nn_tile stride;
    cmsis_nn_tile padding;
    cmsis_nn_tile dilation;
    cmsis_nn_activation activation;
} cmsis_nn_conv_params;

typedef struct
{
    int32_t input_offset;
    int32_t output_offset;
    int32_t ch_mult; /* output channel oc = ic * ch_mult + m */
    cmsis_nn_tile stride;
    cmsis_nn_tile padding;
    cmsis_nn_tile dilation;
    cmsis_nn_activation activation;
} cmsis_nn_dw_conv_params;

typedef struct
{
    int32_t input_offset;
    int32_t output_offset;
    cmsis_nn_tile stride;
    cmsis_nn_tile padding;
    cmsis_nn_tile padding_offsets;
    cmsis_nn_tile dilation;
    cmsis_nn_activation activation;
} cmsis_nn_transpose_conv_params;

typedef struct
{
    cmsis_nn_tile stride;
    cmsis_nn_tile padding;
    cmsis_nn_activation activation;
} cmsis_nn_pool_params;

/* filter_offset = -filter_zp (0 for TFLite int8). */
typedef struct
{
    int32_t input_offset;
    int32_t filter_offset;
    int32_t output_offset;
    cmsis_nn_activation activation;
} cmsis_nn_fc_params;

#endif
