/* arm_convolve_1_x_n_s8: convolution of a 1-row input with a 1xN filter (any stride, padding and
 * dilation in w). Unlike CMSIS-NN's MVE variant it has no right-edge special case: it is the general
 * core, so every stride gives the reference result. */
#include "arm_nnfunctions.h"
#include "soi_nn_support.h"

arm_cmsis_nn_status arm_convolve_1_x_n_s8(const cmsis_nn_context *ctx,
                                          const cmsis_nn_conv_params *conv_params,
                                          const cmsis_nn_per_channel_quant_params *quant_params,
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
    if (input_dims->h != 1 || filter_dims->h != 1 || output_dims->h != 1)
    {
        return ARM_CMSIS_NN_ARG_ERROR;
    }
    if (ctx == NULL || ctx->buf == NULL)
    {
        return ARM_CMSIS_NN_ARG_ERROR;
    }
    return soi_nn_conv_core(ctx,
                            conv_params,
                            quant_params,
                            input_dims,
                            input_data,
                            filter_dims,
                            filter_data,
                            bias_data,
                            output_dims,
                            output_data);
}
