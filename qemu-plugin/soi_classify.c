/* SPDX-License-Identifier: GPL-2.0-or-later (it is built against QEMU's GPL plugin header)
 *
 * soi_classify.c: decodes one guest instruction into a timing class for the soi_cycles
 * plugin. Mnemonics come from capstone's disassembly (qemu_plugin_insn_disas), with the
 * condition, flag-setting 's' and '.suffix' stripped; register lists give LDM/STM/VLDM
 * transfer counts. Armv8.1-M encodings that capstone 4 cannot decode (MVE, low-overhead
 * branches) are classified from their bytes. Only decoding lives here: what a class costs
 * is in soi_timing.c, and summing costs per block is in soi_account.c.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <qemu-plugin.h>

#include "soi_classify.h"

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

struct insn_class soi_classify(struct qemu_plugin_insn *insn, bool v81m, FILE *dump)
{
    struct insn_class c = { K_OTHER, 1, false, false, -1, -1 };
    const uint8_t *bytes = qemu_plugin_insn_data(insn);
    size_t size = qemu_plugin_insn_size(insn);
    if (v81m && v81m_classify(bytes, size, &c.k, &c.branch)) {
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
    if (!c.known && dump) {
        fprintf(dump, "unclassified: '%s'\n", dis);
    }
    free(dis);
    return c;
}

