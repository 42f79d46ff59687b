/* SPDX-License-Identifier: GPL-2.0-or-later (it is built against QEMU's GPL plugin header)
 *
 * soi_account.c: the cycle accounting of the soi_cycles plugin. Each translated block (TB)
 * is priced once, at translation: instruction count, base cycles (the timing table's cost
 * per class, with LDR pipelining and M7 dual issue applied within the TB), and whether it
 * ends in a branch. At run time one callback per executed TB adds those to 64-bit counters
 * and charges a pipeline refill P when the previous TB ended in a branch and this TB does
 * not start at that branch's fall-through address (branch taken). Totals are kept for the
 * core's three refill columns (P = 1, 2, 3 on most cores) and written at exit.
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <qemu-plugin.h>

#include "soi_account.h"
#include "soi_classify.h"
#include "soi_timing.h"

/* One translated block, precomputed at translation and read at every execution. */
struct tb_info {
    uint64_t start;
    uint64_t fallthrough;   /* address after the last instruction */
    uint32_t insns;
    uint32_t cycles;        /* base cycles, refills excluded */
    uint32_t refills;       /* refills every execution pays (ISB) */
    uint32_t unclassified;
    bool ends_branch;       /* last instruction may write pc: refill if the next TB is not the fall-through */
    bool is_mark;
};

struct hit { uint64_t addr, insns, cycles[3]; };

static const struct core_timing *core;
static uint64_t limit;
static bool limit_hit;

/* Run-time state: a single vCPU (Cortex-M boards have one), so plain globals suffice. */
static uint64_t n_insns, base_cycles, n_refills, n_taken, n_unclassified;
static bool prev_ends_branch;
static uint64_t prev_fallthrough;
static struct hit *hits;
static size_t n_hits, cap_hits;

void soi_account_setup(const struct core_timing *timing, uint64_t insn_limit)
{
    core = timing;
    limit = insn_limit;
}

static uint64_t cycles_at(int column)
{
    return base_cycles + (uint64_t)core->refill[column] * (n_refills + n_taken);
}

static void record_hit(uint64_t addr)
{
    if (n_hits == cap_hits) {
        cap_hits = cap_hits ? 2 * cap_hits : 256;
        hits = realloc(hits, cap_hits * sizeof(*hits));
        if (!hits) {
            fprintf(stderr, "soi_cycles: out of memory for marker hits\n");
            exit(1);
        }
    }
    struct hit *h = &hits[n_hits++];
    h->addr = addr;
    h->insns = n_insns;
    for (int c = 0; c < 3; c++) {
        h->cycles[c] = cycles_at(c);
    }
}

void soi_account_write(const char *out_path)
{
    FILE *f = out_path ? fopen(out_path, "w") : NULL;
    if (out_path && !f) {
        fprintf(stderr, "soi_cycles: cannot write %s\n", out_path);
        return;
    }
    char line[256];
    snprintf(line, sizeof(line),
             "total insns=%" PRIu64 " cycles_p1=%" PRIu64 " cycles_p2=%" PRIu64
             " cycles_p3=%" PRIu64 " taken=%" PRIu64 " unclassified=%" PRIu64
             " core=%s limit_hit=%d\n",
             n_insns, cycles_at(0), cycles_at(1), cycles_at(2), n_taken, n_unclassified,
             core->name, limit_hit ? 1 : 0);
    f ? (void)fputs(line, f) : qemu_plugin_outs(line);
    for (size_t i = 0; i < n_hits; i++) {
        struct hit *h = &hits[i];
        snprintf(line, sizeof(line),
                 "mark addr=0x%" PRIx64 " insns=%" PRIu64 " cycles_p1=%" PRIu64
                 " cycles_p2=%" PRIu64 " cycles_p3=%" PRIu64 "\n",
                 h->addr, h->insns, h->cycles[0], h->cycles[1], h->cycles[2]);
        f ? (void)fputs(line, f) : qemu_plugin_outs(line);
    }
    if (f) {
        fclose(f);
    }
}

void soi_account_tb_exec(unsigned int vcpu_index, void *udata)
{
    const struct tb_info *t = udata;
    (void)vcpu_index;
    if (prev_ends_branch && t->start != prev_fallthrough) {
        n_taken++;
    }
    /* A hit counts everything before the marker's first instruction, the call's refill included. */
    if (t->is_mark) {
        record_hit(t->start);
    }
    n_insns += t->insns;
    base_cycles += t->cycles;
    n_refills += t->refills;
    n_unclassified += t->unclassified;
    prev_ends_branch = t->ends_branch;
    prev_fallthrough = t->fallthrough;
    if (limit && n_insns >= limit) {
        limit_hit = true;
        fprintf(stderr, "soi_cycles: instruction limit %" PRIu64 " reached; stopping QEMU (exit 124)\n",
                limit);
        fflush(stderr);
        /* exit() runs QEMU's atexit handlers, ours included (results are still written);
         * semihosting SYS_EXIT ends QEMU the same way from this vCPU thread. */
        exit(124);
    }
}

struct tb_info *soi_account_price_tb(struct qemu_plugin_tb *tb, bool is_mark, FILE *dump)
{
    struct tb_info *t = calloc(1, sizeof(*t));
    if (!t) {
        fprintf(stderr, "soi_cycles: out of memory\n");
        exit(1);
    }
    size_t n = qemu_plugin_tb_n_insns(tb);
    t->start = qemu_plugin_tb_vaddr(tb);
    t->insns = (uint32_t)n;
    t->is_mark = is_mark;
    /* Pipelining state within this TB (a TB boundary conservatively breaks it). */
    int prev_load_dest = -2;    /* -2: previous instruction was not a single load */
    bool prev_unpaired = false;
    enum klass prev_k = K_OTHER;
    for (size_t i = 0; i < n; i++) {
        struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, i);
        struct insn_class c = soi_classify(insn, core->v81m, dump);
        uint32_t cost = core->cost[c.k];
        if (c.k == K_LDM || c.k == K_STM || c.k == K_FP_LDM) {
            cost += (uint32_t)c.words;
        }
        if (c.k == K_FP && c.words == 2 && !core->dual_issue) {
            cost++;     /* two-register VMOV (M4/M33/M55 TRMs: 2 cycles; M7 keeps its 1) */
        }
        if (c.k == K_ISB) {
            t->refills++;
        }
        if (core->ldr_pipeline && c.k == K_LDR && !c.branch && prev_load_dest != -2 &&
            prev_load_dest != c.base && cost > 1) {
            cost--;
        }
        if (core->dual_issue) {
            int pipe = soi_pipe_of(c.k);
            if (prev_unpaired && soi_pairable(c.k) && (pipe == 0 || pipe != soi_pipe_of(prev_k))) {
                cost = 0;
                prev_unpaired = false;
            } else {
                prev_unpaired = soi_pairable(c.k) && !c.branch;
            }
        }
        prev_k = c.k;
        prev_load_dest = (c.k == K_LDR && !c.branch) ? c.load_dest : -2;
        t->cycles += cost;
        t->unclassified += c.known ? 0 : 1;
        if (i == n - 1) {
            t->ends_branch = c.branch;
            t->fallthrough = qemu_plugin_insn_vaddr(insn) + qemu_plugin_insn_size(insn);
        }
        if (dump) {
            char *dis = qemu_plugin_insn_disas(insn);
            fprintf(dump, "0x%08" PRIx64 " %-7s %2u%s  %s\n", qemu_plugin_insn_vaddr(insn),
                    soi_klass_name(c.k), cost, c.branch ? " br" : "   ", dis ? dis : "?");
            free(dis);
        }
    }
    if (dump) {
        fprintf(dump, "-- tb 0x%08" PRIx64 " insns=%u cycles=%u refills=%u%s\n", t->start,
                t->insns, t->cycles, t->refills, t->ends_branch ? " ends-branch" : "");
        fflush(dump);
    }
    return t;
}
