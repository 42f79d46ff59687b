/* arm_convolve_s8: general int8 convolution (padding, stride, dilation, groups, batches).
 * Work is done by soi_nn_conv_core (im2col + blocked matrix kernel). */
#include "arm_nnfunctions.h"
#include "soi_nn_support.h"

arm_cmsis_nn_status arm_convolve_s8(const cmsis_nn_context *ctx,
                                    const cmsis_nn_conv_params *conv_params,
                                    const cmsis_nn_per_channel_quant_params *quant_params,
                                    const cmsis_nn_dims *input_dims,
                                    const int8_t *input_data,
                                    const cmsis_nn_dims *filter_dims,
                                    const int8_t *filter_data,
                                    const cmsis_nn_dims *bias_dims,
                                    const int32_t *bias_data,
                                    const cmsis_nn_dims *upscale_dims,
                                    const cmsis_nn_dims *output_dims,
                                    int8_t *output_data)
{
    (void)bias_dims;
    if (upscale_dims != NULL)
    {
        /* Upscaling (used by CMSIS-NN's transpose conv) is not implemented here. */
        return ARM_CMSIS_NN_NO_IMPL_ERROR;
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
