/* SPDX-License-Identifier: GPL-2.0-or-later (it is built against QEMU's GPL plugin header)
 *
 * soi_cycles: a QEMU TCG plugin (plugin API 1, QEMU 7.2) that counts executed guest
 * instructions and estimates Cortex-M cycles from per-core timing tables.
 *
 * Every translated block (TB) is classified once, at translation: instruction count, base
 * cycles, and whether it ends in a branch. At run time one callback per executed TB adds
 * those to 64-bit counters and charges a pipeline refill P when the previous TB ended in a
 * branch and this TB does not start at that branch's fall-through address (branch taken).
 * Totals are kept for P = 1, 2, 3 (Cortex-M4 TRM: taken branch = 1 + P, P = 1..3).
 * See README.md for the tables and every approximation.
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

QEMU_PLUGIN_EXPORT int qemu_plugin_version = QEMU_PLUGIN_VERSION;

/* Timing classes. K_LDM/K_STM/K_FP_LDM cost their table value plus one per register. */
enum klass {
    K_ALU, K_MUL, K_MLA, K_MULL, K_MLAL, K_DIV, K_DSP,
    K_LDR, K_STR, K_LDRD, K_STRD, K_LDM, K_STM,
    K_BRANCH, K_TBB, K_IT,
    K_FP, K_FP_MAC, K_FP_DIV, K_FP_LDR, K_FP_STR, K_FP_LDM,
    K_MVE, K_LOB_END, K_BARRIER, K_ISB, K_SYS, K_OTHER,
    K_COUNT
};

static const char *const klass_names[K_COUNT] = {
    "alu", "mul", "mla", "mull", "mlal", "div", "dsp",
    "ldr", "str", "ldrd", "strd", "ldm", "stm",
    "branch", "tbb", "it",
    "fp", "fp_mac", "fp_div", "fp_ldr", "fp_str", "fp_ldm",
    "mve", "lob_end", "barrier", "isb", "sys", "other",
};

struct core_timing {
    const char *name;
    uint8_t cost[K_COUNT];
    uint8_t refill[3];     /* cycles charged per refill for the low / estimate / high column */
    bool ldr_pipeline;     /* LDR after a single LDR costs one cycle less (M3/M4 TRM) */
    bool dual_issue;       /* M7: pairs of simple instructions issue together */
    bool v81m;             /* decode MVE and low-overhead-branch encodings (Armv8.1-M) */
};

/* Column order follows enum klass. */
#define M4_COMMON \
    /* alu mul mla mull mlal div dsp */  1, 1, 1, 1, 1, 7, 1, \
    /* ldr str ldrd strd ldm stm     */  2, 1, 3, 3, 1, 1, \
    /* branch tbb it                 */  1, 2, 1, \
    /* fp mac div ldr str ldm        */  1, 3, 14, 2, 2, 1

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

/* Mnemonic (condition, flag-setting 's' and '.suffix' stripped) -> class. */
struct mnem { const char *name; enum klass k; };
static const struct mnem mnems[] = {
    {"add", K_ALU}, {"adc", K_ALU}, {"sub", K_ALU}, {"sbc", K_ALU}, {"rsb", K_ALU},
    {"addw", K_ALU}, {"subw", K_ALU}, {"adr", K_ALU}, {"mov", K_ALU}, {"movw", K_ALU},
    {"movt", K_ALU}, {"mvn", K_ALU}, {"neg", K_ALU}, {"cpy", K_ALU}, {"and", K_ALU},
    {"orr", K_ALU}, {"orn", K_ALU}, {"eor", K_ALU}, {"bic", K_ALU}, {"tst", K_ALU},
    {"teq", K_ALU}, {"cmp", K_ALU}, {"cmn", K_ALU}, {"lsl", K_ALU}, {"lsr", K_ALU},
    {"asr", K_ALU}, {"ror", K_ALU}, {"rrx", K_ALU}, {"clz", K_ALU}, {"rbit", K_ALU},
    {"rev", K_ALU}, {"rev16", K_ALU}, {"revsh", K_ALU}, {"bfi", K_ALU}, {"bfc", K_ALU},
    {"sbfx", K_ALU}, {"ubfx", K_ALU}, {"sxtb", K_ALU}, {"sxth", K_ALU}, {"uxtb", K_ALU},
    {"uxth", K_ALU}, {"ssat", K_ALU}, {"usat", K_ALU}, {"nop", K_ALU}, {"yield", K_ALU},
    {"csel", K_ALU}, {"csinc", K_ALU}, {"csinv", K_ALU}, {"csneg", K_ALU}, {"cset", K_ALU},
    {"csetm", K_ALU}, {"cinc", K_ALU}, {"cinv", K_ALU}, {"cneg", K_ALU},
    {"mul", K_MUL}, {"mla", K_MLA}, {"mls", K_MLA},
    {"umull", K_MULL}, {"smull", K_MULL}, {"umlal", K_MLAL}, {"smlal", K_MLAL},
    {"umaal", K_MLAL}, {"sdiv", K_DIV}, {"udiv", K_DIV},
    /* DSP extension: all single-cycle on M4/M7/M33/M55, absent on M3. */
    {"sadd16", K_DSP}, {"sadd8", K_DSP}, {"ssub16", K_DSP}, {"ssub8", K_DSP},
    {"sasx", K_DSP}, {"ssax", K_DSP}, {"qadd16", K_DSP}, {"qadd8", K_DSP},
    {"qsub16", K_DSP}, {"qsub8", K_DSP}, {"qasx", K_DSP}, {"qsax", K_DSP},
    {"shadd16", K_DSP}, {"shadd8", K_DSP}, {"shsub16", K_DSP}, {"shsub8", K_DSP},
    {"shasx", K_DSP}, {"shsax", K_DSP}, {"uadd16", K_DSP}, {"uadd8", K_DSP},
    {"usub16", K_DSP}, {"usub8", K_DSP}, {"uasx", K_DSP}, {"usax", K_DSP},
    {"uqadd16", K_DSP}, {"uqadd8", K_DSP}, {"uqsub16", K_DSP}, {"uqsub8", K_DSP},
    {"uqasx", K_DSP}, {"uqsax", K_DSP}, {"uhadd16", K_DSP}, {"uhadd8", K_DSP},
    {"uhsub16", K_DSP}, {"uhsub8", K_DSP}, {"uhasx", K_DSP}, {"uhsax", K_DSP},
    {"qadd", K_DSP}, {"qsub", K_DSP}, {"qdadd", K_DSP}, {"qdsub", K_DSP},
    {"sel", K_DSP}, {"usad8", K_DSP}, {"usada8", K_DSP}, {"ssat16", K_DSP},
    {"usat16", K_DSP}, {"sxtb16", K_DSP}, {"uxtb16", K_DSP}, {"sxtab16", K_DSP},
    {"uxtab16", K_DSP}, {"sxtab", K_DSP}, {"sxtah", K_DSP}, {"uxtab", K_DSP},
    {"uxtah", K_DSP}, {"pkhbt", K_DSP}, {"pkhtb", K_DSP},
    {"smlabb", K_DSP}, {"smlabt", K_DSP}, {"smlatb", K_DSP}, {"smlatt", K_DSP},
    {"smlawb", K_DSP}, {"smlawt", K_DSP}, {"smulbb", K_DSP}, {"smulbt", K_DSP},
    {"smultb", K_DSP}, {"smultt", K_DSP}, {"smulwb", K_DSP}, {"smulwt", K_DSP},
    {"smlad", K_DSP}, {"smladx", K_DSP}, {"smlsd", K_DSP}, {"smlsdx", K_DSP},
    {"smuad", K_DSP}, {"smuadx", K_DSP}, {"smusd", K_DSP}, {"smusdx", K_DSP},
    {"smmul", K_DSP}, {"smmulr", K_DSP}, {"smmla", K_DSP}, {"smmlar", K_DSP},
    {"smmls", K_DSP}, {"smmlsr", K_DSP},
    {"smlalbb", K_MLAL}, {"smlalbt", K_MLAL}, {"smlaltb", K_MLAL}, {"smlaltt", K_MLAL},
    {"smlald", K_MLAL}, {"smlaldx", K_MLAL}, {"smlsld", K_MLAL}, {"smlsldx", K_MLAL},
    /* Single loads and stores (exclusive/acquire/unprivileged variants alike). */
    {"ldr", K_LDR}, {"ldrb", K_LDR}, {"ldrh", K_LDR}, {"ldrsb", K_LDR}, {"ldrsh", K_LDR},
    {"ldrt", K_LDR}, {"ldrbt", K_LDR}, {"ldrht", K_LDR}, {"ldrsbt", K_LDR},
    {"ldrsht", K_LDR}, {"ldrex", K_LDR}, {"ldrexb", K_LDR}, {"ldrexh", K_LDR},
    {"lda", K_LDR}, {"ldab", K_LDR}, {"ldah", K_LDR}, {"ldaex", K_LDR},
    {"ldaexb", K_LDR}, {"ldaexh", K_LDR},
    {"str", K_STR}, {"strb", K_STR}, {"strh", K_STR}, {"strt", K_STR}, {"strbt", K_STR},
    {"strht", K_STR}, {"strex", K_STR}, {"strexb", K_STR}, {"strexh", K_STR},
    {"stl", K_STR}, {"stlb", K_STR}, {"stlh", K_STR}, {"stlex", K_STR},
    {"stlexb", K_STR}, {"stlexh", K_STR},
    {"ldrd", K_LDRD}, {"strd", K_STRD},
    {"ldm", K_LDM}, {"ldmia", K_LDM}, {"ldmfd", K_LDM}, {"ldmdb", K_LDM}, {"pop", K_LDM},
    {"stm", K_STM}, {"stmia", K_STM}, {"stmea", K_STM}, {"stmdb", K_STM},
    {"stmfd", K_STM}, {"push", K_STM},
    {"b", K_BRANCH}, {"bl", K_BRANCH}, {"bx", K_BRANCH}, {"blx", K_BRANCH},
    {"bxns", K_BRANCH}, {"blxns", K_BRANCH}, {"cbz", K_BRANCH}, {"cbnz", K_BRANCH},
    {"tbb", K_TBB}, {"tbh", K_TBB},
    {"vmla", K_FP_MAC}, {"vmls", K_FP_MAC}, {"vnmla", K_FP_MAC}, {"vnmls", K_FP_MAC},
    {"vfma", K_FP_MAC}, {"vfms", K_FP_MAC}, {"vfnma", K_FP_MAC}, {"vfnms", K_FP_MAC},
    {"vdiv", K_FP_DIV}, {"vsqrt", K_FP_DIV}, {"vldr", K_FP_LDR}, {"vstr", K_FP_STR},
    {"vldm", K_FP_LDM}, {"vldmia", K_FP_LDM}, {"vldmdb", K_FP_LDM}, {"vpop", K_FP_LDM},
    {"vstm", K_FP_LDM}, {"vstmia", K_FP_LDM}, {"vstmdb", K_FP_LDM}, {"vpush", K_FP_LDM},
    {"dmb", K_BARRIER}, {"dsb", K_BARRIER}, {"isb", K_ISB},
    {"wfi", K_SYS}, {"wfe", K_SYS}, {"sev", K_SYS}, {"bkpt", K_SYS}, {"svc", K_SYS},
    {"udf", K_SYS}, {"cpsid", K_SYS}, {"cpsie", K_SYS}, {"mrs", K_SYS}, {"msr", K_SYS},
    {"pld", K_SYS}, {"pli", K_SYS}, {"clrex", K_SYS}, {"sg", K_SYS}, {"tt", K_SYS},
    {"ttt", K_SYS}, {"tta", K_SYS}, {"ttat", K_SYS},
};

static const char *const conds[] = {
    "eq", "ne", "cs", "hs", "cc", "lo", "mi", "pl", "vs", "vc", "hi", "ls", "ge", "lt",
    "gt", "le", "al",
};

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

static const struct core_timing *core = &cores[0];
static char *out_path;
static char *dump_path;
static FILE *dump_file;
static uint64_t *marks;
static size_t n_marks;
static uint64_t limit;
static bool limit_hit;

/* Run-time state: a single vCPU (Cortex-M boards have one), so plain globals suffice. */
static uint64_t n_insns, base_cycles, n_refills, n_taken, n_unclassified;
static bool prev_ends_branch;
static uint64_t prev_fallthrough;
static struct hit *hits;
static size_t n_hits, cap_hits;

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

static void write_results(void)
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

static void tb_exec(unsigned int vcpu_index, void *udata)
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

/* ---- classification -------------------------------------------------------------------- */

static bool lookup(const char *name, enum klass *k)
{
    for (size_t i = 0; i < sizeof(mnems) / sizeof(mnems[0]); i++) {
        if (strcmp(mnems[i].name, name) == 0) {
            *k = mnems[i].k;
            return true;
        }
    }
    return false;
}

static bool strip_cond(char *m)
{
    size_t n = strlen(m);
    if (n < 3) {
        return false;
    }
    for (size_t i = 0; i < sizeof(conds) / sizeof(conds[0]); i++) {
        if (strcmp(m + n - 2, conds[i]) == 0) {
            m[n - 2] = 0;
            return true;
        }
    }
    return false;
}

/* Classify a bare mnemonic: exact, then without condition, without 's', without both. */
static bool classify_mnemonic(const char *mnemonic, enum klass *k)
{
    char m[32], t[32];
    snprintf(m, sizeof(m), "%s", mnemonic);
    char *dot = strchr(m, '.');
    if (dot) {
        *dot = 0;   /* .w/.n width, .f32/.i8 data type */
    }
    if (lookup(m, k)) {
        return true;
    }
    if (m[0] == 'i' && m[1] == 't' && strlen(m) <= 4 && strspn(m + 2, "te") == strlen(m + 2)) {
        *k = K_IT;
        return true;
    }
    snprintf(t, sizeof(t), "%s", m);
    if (strip_cond(t) && lookup(t, k)) {
        return true;
    }
    size_t n = strlen(m);
    if (n > 1 && m[n - 1] == 's') {
        snprintf(t, sizeof(t), "%.*s", (int)(n - 1), m);
        if (lookup(t, k)) {
            return true;
        }
    }
    snprintf(t, sizeof(t), "%s", m);
    if (strip_cond(t)) {
        n = strlen(t);
        if (n > 1 && t[n - 1] == 's') {
            t[n - 1] = 0;
            if (lookup(t, k)) {
                return true;
            }
        }
    }
    /* Remaining VFP data processing (vadd, vmul, vcvt*, vrint*, vsel*, vmov, vcmp, ...). */
    if (m[0] == 'v') {
        *k = K_FP;
        return true;
    }
    return false;
}

/* Register number of a name at s ("r3", "sp", "ip", ...), or -1. */
static int reg_num(const char *s)
{
    static const char *const alias[] = {"sb", "sl", "fp", "ip", "sp", "lr", "pc"};
    if (s[0] == 'r' && s[1] >= '0' && s[1] <= '9') {
        return atoi(s + 1);
    }
    for (int i = 0; i < 7; i++) {
        if (strncmp(s, alias[i], 2) == 0) {
            return 9 + i;
        }
    }
    return -1;
}

/* Registers in "{r4, r5, lr}" or "{d8-d11}"; d registers count as two 32-bit transfers. */
static int reglist_words(const char *ops, bool *has_pc)
{
    const char *p = strchr(ops, '{');
    int words = 0;
    *has_pc = false;
    if (!p) {
        return 1;
    }
    p++;
    while (*p && *p != '}') {
        while (*p == ' ' || *p == ',') {
            p++;
        }
        if (*p == '}' || !*p) {
            break;
        }
        /* FP registers are s<n>/d<n>; "sb", "sl", "sp" are core register aliases. */
        bool fp = (*p == 'd' || *p == 's') && p[1] >= '0' && p[1] <= '9';
        bool dreg = fp && *p == 'd';
        int a = fp ? atoi(p + 1) : reg_num(p);
        int b = a;
        const char *end = p + strcspn(p, ",}");
        const char *dash = memchr(p, '-', (size_t)(end - p));
        if (dash) {
            b = fp ? atoi(dash + 2) : reg_num(dash + 1);
        }
        if (!fp && (a == 15 || b == 15)) {
            *has_pc = true;
        }
        int count = (b >= a && a >= 0) ? b - a + 1 : 1;
        words += dreg ? 2 * count : count;
        p = end;
    }
    return words ? words : 1;
}

/* Armv8.1-M encodings that capstone 4 does not know: MVE and low-overhead branches. */
static bool v81m_classify(const uint8_t *b, size_t size, enum klass *k, bool *branch)
{
    if (size != 4) {
        return false;
    }
    uint16_t hw1 = (uint16_t)(b[0] | b[1] << 8), hw2 = (uint16_t)(b[2] | b[3] << 8);
    if ((hw1 & 0xff80) == 0xf000 && (hw2 & 0xf001) == 0xc001) {
        if ((hw1 & 0xf) == 0xf) {   /* LE/LETP: loop end, assumed served by the loop cache */
            *k = K_LOB_END;
            *branch = false;
        } else {                    /* WLS/WLSTP: skips the loop when the count is zero */
            *k = K_BRANCH;
            *branch = true;
        }
        return true;
    }
    if ((hw1 & 0xff80) == 0xf000 && hw2 == 0xe001) {  /* DLS/DLSTP */
        *k = K_ALU;
        return true;
    }
    unsigned top = hw1 >> 8, cp = (hw2 >> 8) & 0xf;
    bool vec_dp = (top & 0xef) == 0xef;                       /* 0xEF/0xFF: vector data processing */
    bool coproc = (top & 0xec) == 0xec && (cp == 0xe || cp == 0xf); /* 0xEC-0xEF/0xFC-0xFF, cp14/15 */
    if (vec_dp || coproc) {
        *k = K_MVE;
        return true;
    }
    return false;
}

struct insn_class {
    enum klass k;
    int words;          /* registers transferred (LDM/STM) */
    bool branch;        /* may write pc */
    bool known;
    int load_dest;      /* single loads: destination register */
    int base;           /* single loads/stores: base register */
};

static struct insn_class classify(struct qemu_plugin_insn *insn)
{
    struct insn_class c = { K_OTHER, 1, false, false, -1, -1 };
    const uint8_t *bytes = qemu_plugin_insn_data(insn);
    size_t size = qemu_plugin_insn_size(insn);
    if (core->v81m && v81m_classify(bytes, size, &c.k, &c.branch)) {
        c.known = true;
        return c;
    }
    char *dis = qemu_plugin_insn_disas(insn);
    if (!dis) {
        return c;
    }
    char mnemonic[32] = "";
    sscanf(dis, "%31s", mnemonic);
    const char *ops = dis + strcspn(dis, " ");
    ops += strspn(ops, " ");
    c.known = classify_mnemonic(mnemonic, &c.k);
    bool has_pc = false;
    switch (c.k) {
    case K_LDM:
    case K_STM:
    case K_FP_LDM:
        c.words = reglist_words(ops, &has_pc);
        c.branch = has_pc && c.k == K_LDM;
        break;
    case K_BRANCH:
    case K_TBB:
        c.branch = true;
        break;
    case K_FP: {
        /* VMOV between two core registers and a D register or two S registers ("r0, r1, d0",
         * "s0, s1, r0, r1"): two transfers, 2 cycles in the Cortex-M4 TRM (one register: 1). */
        int commas = 0;
        for (const char *q = ops; *q; q++) {
            commas += *q == ',';
        }
        c.words = strncmp(mnemonic, "vmov", 4) == 0 && commas >= 2 ? 2 : 1;
        break;
    }
    case K_ALU:
        c.branch = reg_num(ops) == 15;      /* mov pc, rX / add pc, rX */
        break;
    case K_LDR:
    case K_STR: {
        c.load_dest = c.k == K_LDR ? reg_num(ops) : -1;
        const char *br = strchr(ops, '[');
        c.base = br ? reg_num(br + 1) : -1;
        c.branch = c.load_dest == 15;       /* ldr pc, [...]: 2 + P */
        break;
    }
    default:
        break;
    }
    if (!c.known && dump_file) {
        fprintf(dump_file, "unclassified: '%s'\n", dis);
    }
    free(dis);
    return c;
}

static bool pairable(enum klass k)
{
    return k == K_ALU || k == K_MUL || k == K_MLA || k == K_DSP || k == K_LDR ||
           k == K_STR || k == K_FP || k == K_IT;
}

/* M7 cannot pair two memory accesses, two multiplies or two FP operations (one unit each). */
static int pipe_of(enum klass k)
{
    if (k == K_LDR || k == K_STR) {
        return 1;
    }
    if (k == K_MUL || k == K_MLA || k == K_DSP) {
        return 2;
    }
    return k == K_FP ? 3 : 0;
}

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
    struct tb_info *t = calloc(1, sizeof(*t));
    if (!t) {
        fprintf(stderr, "soi_cycles: out of memory\n");
        exit(1);
    }
    size_t n = qemu_plugin_tb_n_insns(tb);
    t->start = qemu_plugin_tb_vaddr(tb);
    t->insns = (uint32_t)n;
    t->is_mark = is_mark(t->start);
    /* Pipelining state within this TB (a TB boundary conservatively breaks it). */
    int prev_load_dest = -2;    /* -2: previous instruction was not a single load */
    bool prev_unpaired = false;
    enum klass prev_k = K_OTHER;
    for (size_t i = 0; i < n; i++) {
        struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, i);
        struct insn_class c = classify(insn);
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
            if (prev_unpaired && pairable(c.k) && (pipe_of(c.k) == 0 || pipe_of(c.k) != pipe_of(prev_k))) {
                cost = 0;
                prev_unpaired = false;
            } else {
                prev_unpaired = pairable(c.k) && !c.branch;
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
        if (dump_file) {
            char *dis = qemu_plugin_insn_disas(insn);
            fprintf(dump_file, "0x%08" PRIx64 " %-7s %2u%s  %s\n", qemu_plugin_insn_vaddr(insn),
                    klass_names[c.k], cost, c.branch ? " br" : "   ", dis ? dis : "?");
            free(dis);
        }
    }
    if (dump_file) {
        fprintf(dump_file, "-- tb 0x%08" PRIx64 " insns=%u cycles=%u refills=%u%s\n", t->start,
                t->insns, t->cycles, t->refills, t->ends_branch ? " ends-branch" : "");
        fflush(dump_file);
    }
    qemu_plugin_register_vcpu_tb_exec_cb(tb, tb_exec, QEMU_PLUGIN_CB_NO_REGS, t);
}

static void at_exit(qemu_plugin_id_t id, void *p)
{
    (void)id;
    (void)p;
    write_results();
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
            size_t j, n = sizeof(cores) / sizeof(cores[0]);
            for (j = 0; j < n && strcmp(cores[j].name, val) != 0; j++) {
            }
            if (j == n) {
                fprintf(stderr, "soi_cycles: unknown core '%s' (cortex-m3/m4/m7/m33/m55)\n", val);
                return -1;
            }
            core = &cores[j];
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
    qemu_plugin_register_vcpu_tb_trans_cb(id, tb_trans);
    qemu_plugin_register_atexit_cb(id, at_exit, NULL);
    return 0;
}
