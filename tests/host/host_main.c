/* Host (x86) driver for the generated model library: runs the generated input frames through
 * soi_model_step and prints each output frame as hex, one line per step. Used by the tests to
 * check the generated C against LiteRT quickly, before any cross build. */
#include <stdio.h>

#include "soi_model.h"

#ifndef SOI_FRAMES
#error "define SOI_FRAMES"
#endif

extern const int8_t soi_inputs[SOI_FRAMES][SOI_MODEL_INPUT_SIZE];

int main(void)
{
    static int8_t output[SOI_MODEL_OUTPUT_SIZE];
    if (soi_model_init() != 0) {
        fprintf(stderr, "init failed\n");
        return 2;
    }
    for (unsigned t = 0; t < SOI_FRAMES; t++) {
        const int status = soi_model_step(soi_inputs[t], output);
        if (status != 0) {
            fprintf(stderr, "step %u failed: %d\n", t, status);
            return 2;
        }
        for (unsigned i = 0; i < SOI_MODEL_OUTPUT_SIZE; i++) {
            printf("%02x", (unsigned)(unsigned char)output[i]);
        }
        printf("\n");
    }
    return 0;
}
