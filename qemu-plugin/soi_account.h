/* SPDX-License-Identifier: GPL-2.0-or-later (it is built against QEMU's GPL plugin header)
 *
 * soi_account.h: cycle accounting for the soi_cycles plugin. At translation a block is
 * priced once (instructions, base cycles, whether it ends in a branch); at run time one
 * callback per executed block adds that to 64-bit counters, counts taken branches and
 * records marker hits; at exit the totals are written out. Decoding (soi_classify) and the
 * cost of each class (soi_timing) are separate files; this one only sums.
 */
#ifndef SOI_ACCOUNT_H
#define SOI_ACCOUNT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <qemu-plugin.h>

#include "soi_timing.h"

struct tb_info;     /* one priced translated block, owned by the accounting */

/* Select the timing table and the instruction limit (0: none) before any block is priced. */
QEMU_PLUGIN_LOCAL void soi_account_setup(const struct core_timing *core, uint64_t limit);
/* Price a translated block; is_mark: it starts a marker function. dump: listing or NULL. */
QEMU_PLUGIN_LOCAL struct tb_info *soi_account_price_tb(struct qemu_plugin_tb *tb, bool is_mark,
                                                       FILE *dump);
/* The per-execution callback; udata is the block's struct tb_info. */
QEMU_PLUGIN_LOCAL void soi_account_tb_exec(unsigned int vcpu_index, void *udata);
/* Write the totals and marker hits to out_path, or to QEMU's log when it is NULL. */
QEMU_PLUGIN_LOCAL void soi_account_write(const char *out_path);

#endif
