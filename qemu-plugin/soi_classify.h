/* SPDX-License-Identifier: GPL-2.0-or-later (it is built against QEMU's GPL plugin header)
 *
 * soi_classify.h: instruction classification for the soi_cycles plugin. One call per
 * translated instruction turns its disassembly (or, for Armv8.1-M MVE and low-overhead
 * branches, its bytes) into a timing class plus the operand facts that timing needs.
 * Kept apart from the timing tables (soi_timing) and the counters (soi_account) so that
 * decoding fixes never touch the cycle numbers of a class.
 */
#ifndef SOI_CLASSIFY_H
#define SOI_CLASSIFY_H

#include <stdbool.h>
#include <stdio.h>

#include <qemu-plugin.h>

#include "soi_timing.h"

struct insn_class {
    enum klass k;
    int words;          /* registers transferred (LDM/STM) */
    bool branch;        /* may write pc */
    bool known;
    int load_dest;      /* single loads: destination register */
    int base;           /* single loads/stores: base register */
};

/* Classify one instruction. v81m: also decode MVE/low-overhead-branch encodings from the
 * bytes (Cortex-M55). dump: when not NULL, an unclassified instruction is noted there. */
QEMU_PLUGIN_LOCAL struct insn_class soi_classify(struct qemu_plugin_insn *insn, bool v81m,
                                                 FILE *dump);

#endif
