/* SPDX-License-Identifier: GPL-2.0-or-later (it is built against QEMU's GPL plugin header)
 *
 * soi_cycles: a QEMU TCG plugin (plugin API 1, QEMU 7.2) that counts executed guest
 * instructions and estimates Cortex-M cycles from per-core timing tables.
 *
 * This file is the plugin's entry: qemu_plugin_install parses the arguments and registers
 * the translation and exit callbacks, which hand every translated block to the accounting.
 * The rest is split by concern: soi_timing.{h,c} (per-core timing tables),
 * soi_classify.{h,c} (instruction -> timing class) and soi_account.{h,c} (pricing blocks,
 * run-time counters, the results file). See README.md for the tables and every approximation.
 *
 * Args: out=PATH  marks=0xADDR:0xADDR  core=cortex-m4|m3|m7|m33|m55  limit=N  dump=PATH
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <qemu-plugin.h>

#include "soi_account.h"
#include "soi_timing.h"

QEMU_PLUGIN_EXPORT int qemu_plugin_version = QEMU_PLUGIN_VERSION;

static const struct core_timing *core;
static char *out_path;
static char *dump_path;
static FILE *dump_file;
static uint64_t *marks;
static size_t n_marks;
static uint64_t limit;

static bool is_mark(uint64_t addr)
{
    for (size_t i = 0; i < n_marks; i++) {
        if (marks[i] == addr) {
            return true;
        }
    }
    return false;
}

static void tb_trans(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
    (void)id;
    struct tb_info *t = soi_account_price_tb(tb, is_mark(qemu_plugin_tb_vaddr(tb)), dump_file);
    qemu_plugin_register_vcpu_tb_exec_cb(tb, soi_account_tb_exec, QEMU_PLUGIN_CB_NO_REGS, t);
}

static void at_exit(qemu_plugin_id_t id, void *p)
{
    (void)id;
    (void)p;
    soi_account_write(out_path);
    if (dump_file) {
        fclose(dump_file);
        dump_file = NULL;
    }
}

static bool parse_marks(const char *s)
{
    while (*s) {
        char *end;
        uint64_t v = strtoull(s, &end, 0);
        if (end == s) {
            return false;
        }
        marks = realloc(marks, (n_marks + 1) * sizeof(*marks));
        if (!marks) {
            return false;
        }
        marks[n_marks++] = v & ~(uint64_t)1;    /* Thumb bit: TBs start at even addresses */
        s = *end == ':' ? end + 1 : end;
        if (*end && *end != ':') {
            return false;
        }
    }
    return true;
}

QEMU_PLUGIN_EXPORT int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info,
                                           int argc, char **argv)
{
    (void)info;
    core = soi_core_default();
    for (int i = 0; i < argc; i++) {
        char *arg = argv[i];
        char *eq = strchr(arg, '=');
        if (!eq) {
            fprintf(stderr, "soi_cycles: argument '%s' is not key=value\n", arg);
            return -1;
        }
        *eq = 0;
        const char *val = eq + 1;
        if (strcmp(arg, "out") == 0) {
            out_path = strdup(val);
        } else if (strcmp(arg, "dump") == 0) {
            dump_path = strdup(val);
        } else if (strcmp(arg, "marks") == 0) {
            if (!parse_marks(val)) {
                fprintf(stderr, "soi_cycles: bad marks '%s' (want 0xADDR:0xADDR)\n", val);
                return -1;
            }
        } else if (strcmp(arg, "limit") == 0) {
            limit = strtoull(val, NULL, 0);
        } else if (strcmp(arg, "core") == 0) {
            core = soi_core_by_name(val);
            if (!core) {
                fprintf(stderr, "soi_cycles: unknown core '%s' (cortex-m3/m4/m7/m33/m55)\n", val);
                return -1;
            }
        } else {
            fprintf(stderr, "soi_cycles: unknown argument '%s'\n", arg);
            return -1;
        }
    }
    if (dump_path) {
        dump_file = fopen(dump_path, "w");
        if (!dump_file) {
            fprintf(stderr, "soi_cycles: cannot write %s\n", dump_path);
            return -1;
        }
    }
    soi_account_setup(core, limit);
    qemu_plugin_register_vcpu_tb_trans_cb(id, tb_trans);
    qemu_plugin_register_atexit_cb(id, at_exit, NULL);
    return 0;
}
