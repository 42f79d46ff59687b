/* Scratch sizes of the convolution kernels. The _dsp / _mve twins give the size for that ISA whatever
 * the compile target, so a host tool can size buffers for another target; the plain versions give the
 * size for the target being compiled. */
#include "arm_nnfunctions.h"
#include "soi_nn_support.h"

/* Same conditions as the dispatch in arm_convolve_wrapper_s8.c. */
static int32_t wrapper_size(soi_nn_isa isa,
                            const cmsis_nn_conv_params *p,
                            const cmsis_nn_dims *in,
                            const cmsis_nn_dims *f)
{
    const int is_1x1 = p->padding.w == 0 && p->padding.h == 0 && f->w == 1 && f->h == 1 &&
                       p->dilation.w == 1 && p->dilation.h == 1 && in->c == f->c;
    if (is_1x1)
    {
        return soi_nn_conv_buffer_size(isa, in->c, 1);
    }
    const int32_t col = soi_nn_conv_buffer_size(isa, f->h * f->w * f->c, 0);
    if (isa == SOI_NN_ISA_MVE || in->c != f->c)
    {
        return col;
    }
    /* C / DSP: the direct KW = 3 kernel may take the layer (C and DSP share the size, see the twins). */
    const int32_t row = soi_nn_conv_row_buffer_size(f->h, f->w, f->c);
    return row > col ? row : col;
}

int32_t arm_convolve_s8_get_buffer_size(const cmsis_nn_dims *input_dims, const cmsis_nn_dims *filter_dims)
{
    /* Enough for the im2col layout of every ISA (C / DSP: 2 x K int16 + 4 alignment bytes, MVE: 2 x K int8)
     * and for the direct KW = 3 kernel of the DSP path. */
    const int32_t col = 4 * filter_dims->h * filter_dims->w * filter_dims->c + 4;
    const int32_t row = input_dims->c == filter_dims->c
                            ? soi_nn_conv_row_buffer_size(filter_dims->h, filter_dims->w, filter_dims->c)
                            : 0;
    return row > col ? row : col;
}

int32_t arm_convolve_1x1_s8_fast_get_buffer_size(const cmsis_nn_dims *input_dims)
{
    return soi_nn_conv_buffer_size(SOI_NN_ISA_TARGET, input_dims->c, 1);
}

int32_t arm_convolve_1_x_n_s8_get_buffer_size(const cmsis_nn_conv_params *conv_params,
                                              const cmsis_nn_dims *input_dims,
                                              const cmsis_nn_dims *filter_dims,
                                              const cmsis_nn_dims *output_dims)
{
    (void)conv_params;
    (void)output_dims;
    return arm_convolve_s8_get_buffer_size(input_dims, filter_dims);
}

int32_t arm_convolve_wrapper_s8_get_buffer_size(const cmsis_nn_conv_params *conv_params,
                                                const cmsis_nn_dims *input_dims,
                                                const cmsis_nn_dims *filter_dims,
                                                const cmsis_nn_dims *output_dims)
{
    (void)output_dims;
    return wrapper_size(SOI_NN_ISA_TARGET, conv_params, input_dims, filter_dims);
}

int32_t arm_convolve_wrapper_s8_get_buffer_size_dsp(const cmsis_nn_conv_params *conv_params,
                                                    const cmsis_nn_dims *input_dims,
                                                    const cmsis_nn_dims *filter_dims,
                                                    const cmsis_nn_dims *output_dims)
{
    (void)output_dims;
    return wrapper_size(SOI_NN_ISA_DSP, conv_params, input_dims, filter_dims);
}

int32_t arm_convolve_wrapper_s8_get_buffer_size_mve(const cmsis_nn_conv_params *conv_params,
                                                    const cmsis_nn_dims *input_dims,
                                                    const cmsis_nn_dims *filter_dims,
                                                    const cmsis_nn_dims *output_dims)
{
    (void)output_dims;
    return wrapper_size(SOI_NN_ISA_MVE, conv_params, input_dims, filter_dims);
}
