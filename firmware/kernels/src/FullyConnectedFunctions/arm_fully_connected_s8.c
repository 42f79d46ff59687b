/* arm_fully_connected_s8: out[b][r] = requant(sum_j (x[b][j] + in_off) * (w[r][j] + w_off) + bias[r]).
 * Batches are the columns of soi_nn_vec_mat_s8 (up to 4 per pass so MVE shares filter loads). */
#include "arm_nnfunctions.h"
#include "soi_nn_support.h"

arm_cmsis_nn_status arm_fully_connected_s8(const cmsis_nn_context *ctx,
                                           const cmsis_nn_fc_params *fc_params,
                                           const cmsis_nn_per_tensor_quant_params *quant_params,
                                           const cmsis_nn_dims *input_dims,
                                           const int8_t *input_data,
                                           const cmsis_nn_dims *filter_dims,
                                           const int8_t *filter_data,
                                           const cmsis_nn_dims *bias_dims,
                                           const int32_t *bias_data,
                                           const cmsis_nn_dims *output_dims,
                                           int8_t *output_data)
{
    (void)bias_dims;
    const int32_t k = filter_dims->n, rows = output_dims->c;
    const soi_nn_out_stage os = {&quant_params->multiplier, &quant_params->shift, 0, fc_params->output_offset,
                                 fc_params->activation.min, fc_params->activation.max};
    const int32_t *base = bias_data;
    int32_t sums = 0;
#if defined(SOI_NN_MVE)
    /* CMSIS-NN convention on MVE: a non-NULL buffer holds the kernel sums from arm_vector_sum_s8. */
    if (ctx != NULL && ctx->buf != NULL)
    {
        base = (const int32_t *)ctx->buf;
        sums = 1;
    }
#else
    (void)ctx;
#endif
    const int8_t *cols[4];
    int8_t *outs[4];
    for (int32_t b = 0; b < input_dims->n; b += 4)
    {
        const int32_t n = input_dims->n - b < 4 ? input_dims->n - b : 4;
        for (int32_t j = 0; j < n; j++)
        {
            cols[j] = input_data + (b + j) * k;
            outs[j] = output_data + (b + j) * rows;
        }
        soi_nn_vec_mat_s8(filter_data, cols, n, k, rows, fc_params->input_offset, fc_params->filter_offset, base,
                          sums, &os, outs);
    }
    return ARM_CMSIS_NN_SUCCESS;
}

int32_t arm_fully_connected_s8_get_buffer_size_dsp(const cmsis_nn_dims *filter_dims)
{
    (void)filter_dims;
    return 0;
}

int32_t arm_fully_connected_s8_get_buffer_size_mve(const cmsis_nn_dims *filter_dims)
{
    return filter_dims->c * (int32_t)sizeof(int32_t);
}

int32_t arm_fully_connected_s8_get_buffer_size(const cmsis_nn_dims *filter_dims)
{
#if defined(SOI_NN_MVE)
    return arm_fully_connected_s8_get_buffer_size_mve(filter_dims);
#else
    return arm_fully_connected_s8_get_buffer_size_dsp(filter_dims);
#endif
}
