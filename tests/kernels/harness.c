/* Test harness for the soi-mcu kernels: runs every case of the generated cases.c through the public
 * API and prints one line per case: "R <index> <status> <output hex>" or "E <index> <message>".
 * The same source runs on the host (SOI_HOST: stdout) and on Cortex-M under QEMU (semihosting).
 * It also checks that the kernels stay inside the scratch size they asked for (canary bytes), that
 * misaligned scratch buffers work, and that get_buffer_size agrees with its _dsp / _mve twin. */
#include <string.h>

#include "arm_nnfunctions.h"
#include "cases.h"

#if defined(SOI_HOST)
#include <stdio.h>
static void emit(const char *s) { fputs(s, stdout); }
#else
#include "soi_semihost.h"
static void emit(const char *s) { soi_sh_write0(s); }
#endif

#define CANARY 0xA5u

static uint8_t scratch[SOI_T_SCRATCH + 64];
static int8_t output[SOI_T_MAX_OUT];
static char line[2 * SOI_T_MAX_OUT + 64];

static char *put_str(char *p, const char *s)
{
    while (*s)
    {
        *p++ = *s++;
    }
    return p;
}

static char *put_int(char *p, int32_t v)
{
    char tmp[12];
    int n = 0;
    uint32_t u = v < 0 ? (uint32_t)(-(int64_t)v) : (uint32_t)v;
    if (v < 0)
    {
        *p++ = '-';
    }
    do
    {
        tmp[n++] = (char)('0' + u % 10u);
        u /= 10u;
    } while (u != 0u);
    while (n > 0)
    {
        *p++ = tmp[--n];
    }
    return p;
}

static void report_error(int32_t idx, const char *msg)
{
    char *p = put_str(line, "E ");
    p = put_int(p, idx);
    p = put_str(p, " ");
    p = put_str(p, msg);
    p = put_str(p, "\n");
    *p = '\0';
    emit(line);
}

/* Twin size function for the ISA this harness is compiled for (pure C shares the DSP layout). */
static int32_t twin_size(const cmsis_nn_conv_params *cp, const cmsis_nn_dims *in, const cmsis_nn_dims *f,
                         const cmsis_nn_dims *out)
{
#if defined(__ARM_FEATURE_MVE) && (__ARM_FEATURE_MVE & 1)
    return arm_convolve_wrapper_s8_get_buffer_size_mve(cp, in, f, out);
#else
    return arm_convolve_wrapper_s8_get_buffer_size_dsp(cp, in, f, out);
#endif
}

static int32_t run_case(int32_t idx, const soi_test_case *t, int32_t *size)
{
    const int32_t *d = t->d;
    cmsis_nn_context ctx = {NULL, 0};
    /* Misalign the scratch start on purpose (kernels must cope with any alignment). */
    uint8_t *buf = scratch + (idx & 3);
    cmsis_nn_dims bias_dims = {1, 1, 1, 0};
    if (t->kind <= SOI_T_CONV_1XN)
    {
        const cmsis_nn_conv_params cp = {d[16], d[17], {d[11], d[10]}, {d[13], d[12]}, {d[15], d[14]}, {d[18], d[19]}};
        const cmsis_nn_per_channel_quant_params q = {(int32_t *)t->mult, (int32_t *)t->shift};
        const cmsis_nn_dims in = {d[0], d[1], d[2], d[3]};
        const cmsis_nn_dims f = {d[9], d[4], d[5], d[6]};
        const cmsis_nn_dims out = {d[0], d[7], d[8], d[9]};
        bias_dims.c = d[9];
        if (t->kind == SOI_T_CONV_WRAPPER)
        {
            *size = arm_convolve_wrapper_s8_get_buffer_size(&cp, &in, &f, &out);
            if (*size != twin_size(&cp, &in, &f, &out))
            {
                report_error(idx, "twin_size_mismatch");
            }
        }
        else if (t->kind == SOI_T_CONV_1XN)
        {
            *size = arm_convolve_1_x_n_s8_get_buffer_size(&cp, &in, &f, &out);
        }
        else if (t->kind == SOI_T_CONV_1X1_NOBUF)
        {
            *size = 0;
            buf = NULL;
        }
        else
        {
            *size = arm_convolve_s8_get_buffer_size(&in, &f);
        }
        if (*size > SOI_T_SCRATCH)
        {
            return -100;
        }
        ctx.buf = *size > 0 ? buf : NULL;
        ctx.size = *size;
        switch (t->kind)
        {
        case SOI_T_CONV_WRAPPER:
            return arm_convolve_wrapper_s8(&ctx, &cp, &q, &in, t->in, &f, t->w, &bias_dims, t->bias, &out, output);
        case SOI_T_CONV_S8:
            return arm_convolve_s8(&ctx, &cp, &q, &in, t->in, &f, t->w, &bias_dims, t->bias, NULL, &out, output);
        case SOI_T_CONV_1X1_NOBUF:
            return arm_convolve_1x1_s8_fast(&ctx, &cp, &q, &in, t->in, &f, t->w, &bias_dims, t->bias, &out, output);
        default:
            return arm_convolve_1_x_n_s8(&ctx, &cp, &q, &in, t->in, &f, t->w, &bias_dims, t->bias, &out, output);
        }
    }
    if (t->kind == SOI_T_DW)
    {
        const cmsis_nn_dw_conv_params dp = {d[16], d[17], d[6], {d[11], d[10]}, {d[13], d[12]}, {d[15], d[14]},
                                            {d[18], d[19]}};
        const cmsis_nn_per_channel_quant_params q = {(int32_t *)t->mult, (int32_t *)t->shift};
        const cmsis_nn_dims in = {d[0], d[1], d[2], d[3]};
        const cmsis_nn_dims f = {1, d[4], d[5], d[9]};
        const cmsis_nn_dims out = {d[0], d[7], d[8], d[9]};
        bias_dims.c = d[9];
        *size = arm_depthwise_conv_wrapper_s8_get_buffer_size(&dp, &in, &f, &out);
        ctx.buf = *size > 0 ? buf : NULL;
        ctx.size = *size;
        return arm_depthwise_conv_wrapper_s8(&ctx, &dp, &q, &in, t->in, &f, t->w, &bias_dims, t->bias, &out, output);
    }
    if (t->kind == SOI_T_FC)
    {
        const cmsis_nn_fc_params fp = {d[3], d[4], d[5], {d[6], d[7]}};
        const cmsis_nn_per_tensor_quant_params q = {d[8], d[9]};
        const cmsis_nn_dims in = {d[0], 1, 1, d[1]};
        const cmsis_nn_dims f = {d[1], 1, 1, d[2]};
        const cmsis_nn_dims out = {d[0], 1, 1, d[2]};
        bias_dims.c = d[2];
        *size = arm_fully_connected_s8_get_buffer_size(&f);
        if (*size > 0)
        {
            /* Kernel sums (MVE), as TFLM prepares them; int32 data, so keep this buffer aligned. */
            ctx.buf = scratch;
            ctx.size = *size;
            arm_vector_sum_s8((int32_t *)ctx.buf, d[1], d[2], t->w, d[3], d[4], t->bias);
        }
        return arm_fully_connected_s8(&ctx, &fp, &q, &in, t->in, &f, t->w, &bias_dims, t->bias, &out, output);
    }
    *size = 0;
    if (t->kind == SOI_T_MUL)
    {
        return arm_elementwise_mul_s8(t->in, t->in2, d[1], d[2], output, d[3], d[4], d[5], d[6], d[7], d[0]);
    }
    return arm_elementwise_add_s8(t->in, t->in2, d[1], d[2], d[3], d[4], d[5], d[6], d[7], output, d[8], d[9], d[10],
                                  d[11], d[12], d[0]);
}

int main(void)
{
    for (int32_t i = 0; i < SOI_T_NUM_CASES; i++)
    {
        const soi_test_case *t = &soi_test_cases[i];
        int32_t size = 0;
        memset(scratch, (int)CANARY, sizeof(scratch));
        memset(output, 0, sizeof(output));
        const int32_t status = run_case(i, t, &size);
        /* Bytes after the reported size must be untouched (start offset as used in run_case). */
        const int32_t start = (t->kind == SOI_T_FC) ? 0 : (i & 3);
        for (int32_t b = start + size; b < (int32_t)sizeof(scratch); b++)
        {
            if (scratch[b] != CANARY)
            {
                report_error(i, "scratch_overrun");
                break;
            }
        }
        char *p = put_str(line, "R ");
        p = put_int(p, i);
        p = put_str(p, " ");
        p = put_int(p, status);
        p = put_str(p, " ");
        static const char digits[] = "0123456789abcdef";
        for (int32_t j = 0; j < t->out_len; j++)
        {
            const uint8_t v = (uint8_t)output[j];
            *p++ = digits[v >> 4];
            *p++ = digits[v & 15u];
        }
        p = put_str(p, "\n");
        *p = '\0';
        emit(line);
    }
    emit("DONE\n");
    return 0;
}
