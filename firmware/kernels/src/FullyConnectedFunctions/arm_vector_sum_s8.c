/* arm_vector_sum_s8: kernel sums for the MVE fully connected path (see arm_nnfunctions.h). */
#include "arm_nnfunctions.h"

arm_cmsis_nn_status arm_vector_sum_s8(int32_t *vector_sum_buf,
                                      const int32_t vector_cols,
                                      const int32_t vector_rows,
                                      const int8_t *vector_data,
                                      const int32_t lhs_offset,
                                      const int32_t rhs_offset,
                                      const int32_t *bias_data)
{
    for (int32_t r = 0; r < vector_rows; r++)
    {
        const int8_t *w = vector_data + r * vector_cols;
        int32_t sum = 0;
        for (int32_t j = 0; j < vector_cols; j++)
        {
            sum += w[j];
        }
        sum += rhs_offset * vector_cols;
        vector_sum_buf[r] = (bias_data != NULL ? bias_data[r] : 0) + lhs_offset * sum;
    }
    return ARM_CMSIS_NN_SUCCESS;
}
