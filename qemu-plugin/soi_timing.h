/* SPDX-License-Identifier: GPL-2.0-or-later (it is built against QEMU's GPL plugin header)
 *
 * soi_timing.h: the timing model of the soi_cycles plugin. It defines the timing classes
 * (enum klass) that classification produces, the per-core timing table (struct core_timing)
 * and the M7 dual-issue pairing rules. The numbers live in soi_timing.c, apart from decoding
 * (soi_classify) and counting (soi_account), so retuning a core touches only that file;
 * README.md cites the source of every value.
 */
#ifndef SOI_TIMING_H
#define SOI_TIMING_H

#include <stdbool.h>
#include <stdint.h>

#include <qemu-plugin.h>    /* QEMU_PLUGIN_LOCAL: keeps these symbols out of the .so's exports */

/* Timing classes. K_LDM/K_STM/K_FP_LDM cost their table value plus one per register. */
enum klass {
    K_ALU, K_MUL, K_MLA, K_MULL, K_MLAL, K_DIV, K_DSP,
    K_LDR, K_STR, K_LDRD, K_STRD, K_LDM, K_STM,
    K_BRANCH, K_TBB, K_IT,
    K_FP, K_FP_MAC, K_FP_DIV, K_FP_LDR, K_FP_STR, K_FP_LDM,
    K_MVE, K_LOB_END, K_BARRIER, K_ISB, K_SYS, K_OTHER,
    K_COUNT
};

struct core_timing {
    const char *name;
    uint8_t cost[K_COUNT];
    uint8_t refill[3];     /* cycles charged per refill for the low / estimate / high column */
    bool ldr_pipeline;     /* LDR after a single LDR costs one cycle less (M3/M4 TRM) */
    bool dual_issue;       /* M7: pairs of simple instructions issue together */
    bool v81m;             /* decode MVE and low-overhead-branch encodings (Armv8.1-M) */
};

/* The core used when no core= argument is given (cortex-m4). */
QEMU_PLUGIN_LOCAL const struct core_timing *soi_core_default(void);
/* The core called `name` ("cortex-m4", ...), or NULL when there is no table for it. */
QEMU_PLUGIN_LOCAL const struct core_timing *soi_core_by_name(const char *name);
/* Short name of a class for the dump= listing ("alu", "ldr", ...). */
QEMU_PLUGIN_LOCAL const char *soi_klass_name(enum klass k);
/* M7 dual issue: whether class k can issue as one of a pair of "simple" instructions. */
QEMU_PLUGIN_LOCAL bool soi_pairable(enum klass k);
/* M7 dual issue: the unit class k needs (0: none); the two of a pair must not share one. */
QEMU_PLUGIN_LOCAL int soi_pipe_of(enum klass k);

#endif
