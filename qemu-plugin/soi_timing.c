/* SPDX-License-Identifier: GPL-2.0-or-later (it is built against QEMU's GPL plugin header)
 *
 * soi_timing.c: the per-core timing tables of the soi_cycles plugin (cycles per timing class,
 * refill columns, pipelining flags), their lookup by core name, and the M7 pairing rules.
 * Data only, no QEMU calls: see soi_timing.h for why it is a file of its own, and README.md
 * for where each number comes from.
 */
#include <stddef.h>
#include <string.h>

#include "soi_timing.h"

static const char *const klass_names[K_COUNT] = {
    "alu", "mul", "mla", "mull", "mlal", "div", "dsp",
    "ldr", "str", "ldrd", "strd", "ldm", "stm",
    "branch", "tbb", "it",
    "fp", "fp_mac", "fp_div", "fp_ldr", "fp_str", "fp_ldm",
    "mve", "lob_end", "barrier", "isb", "sys", "other",
};

/* Column order follows enum klass. */
#define M4_COMMON \
    /* alu mul mla mull mlal div dsp */  1, 1, 1, 1, 1, 7, 1, \
    /* ldr str ldrd strd ldm stm     */  2, 1, 3, 3, 1, 1, \
    /* branch tbb it                 */  1, 2, 1, \
    /* fp mac div ldr str ldm        */  1, 3, 14, 2, 2, 1

/* The first entry is the default core. */
static const struct core_timing cores[] = {
    { "cortex-m4",
      { M4_COMMON, /* mve lob_end barrier isb sys other */ 1, 0, 1, 1, 1, 1 },
      { 1, 2, 3 }, true, false, false },
    { "cortex-m33",
      { M4_COMMON, 1, 0, 1, 1, 1, 1 },
      { 1, 2, 3 }, true, false, false },
    { "cortex-m55",
      /* MVE: 4 beats per vector instruction, 2 beats per cycle. */
      { M4_COMMON, 2, 0, 1, 1, 1, 1 },
      { 1, 2, 3 }, true, false, true },
    { "cortex-m3",
      { /* alu mul mla mull mlal div dsp */ 1, 1, 2, 4, 5, 7, 1,
        /* ldr str ldrd strd ldm stm     */ 2, 1, 3, 3, 1, 1,
        /* branch tbb it                 */ 1, 2, 1,
        /* fp mac div ldr str ldm (none) */ 1, 1, 1, 1, 1, 1,
        /* mve lob_end barrier isb sys other */ 1, 0, 1, 1, 1, 1 },
      { 1, 2, 3 }, true, false, false },
    { "cortex-m7",
      { /* alu mul mla mull mlal div dsp */ 1, 1, 1, 1, 1, 7, 1,
        /* ldr str ldrd strd ldm stm     */ 1, 1, 2, 2, 1, 1,
        /* branch tbb it                 */ 1, 2, 1,
        /* fp mac div ldr str ldm        */ 1, 1, 14, 1, 1, 1,
        /* mve lob_end barrier isb sys other */ 1, 0, 1, 1, 1, 1 },
      /* Branch prediction hides most refills: 0..2 instead of 1..3. */
      { 0, 1, 2 }, false, true, false },
};

const struct core_timing *soi_core_default(void)
{
    return &cores[0];
}

const struct core_timing *soi_core_by_name(const char *name)
{
    for (size_t j = 0; j < sizeof(cores) / sizeof(cores[0]); j++) {
        if (strcmp(cores[j].name, name) == 0) {
            return &cores[j];
        }
    }
    return NULL;
}

const char *soi_klass_name(enum klass k)
{
    return klass_names[k];
}

bool soi_pairable(enum klass k)
{
    return k == K_ALU || k == K_MUL || k == K_MLA || k == K_DSP || k == K_LDR ||
           k == K_STR || k == K_FP || k == K_IT;
}

/* M7 cannot pair two memory accesses, two multiplies or two FP operations (one unit each). */
int soi_pipe_of(enum klass k)
{
    if (k == K_LDR || k == K_STR) {
        return 1;
    }
    if (k == K_MUL || k == K_MLA || k == K_DSP) {
        return 2;
    }
    return k == K_FP ? 3 : 0;
}
