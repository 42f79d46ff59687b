#include "soi_semihost.h"

#define SYS_WRITE0 0x04
#define SYS_EXIT_EXTENDED 0x20
#define ADP_STOPPED_APPLICATION_EXIT 0x20026

static int semihost_call(int op, const void *arg)
{
    register int r0 __asm__("r0") = op;
    register const void *r1 __asm__("r1") = arg;
    __asm__ volatile("bkpt 0xAB" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}

void soi_sh_write0(const char *text) { semihost_call(SYS_WRITE0, text); }

void soi_sh_exit(int code)
{
    /* Extended exit: a two-word block (reason, subcode) so the exit code reaches the host. */
    static volatile uint32_t block[2];
    block[0] = ADP_STOPPED_APPLICATION_EXIT;
    block[1] = (uint32_t)code;
    semihost_call(SYS_EXIT_EXTENDED, (const void *)block);
    for (;;) {
    }
}

char *soi_fmt_u32(char *dst, uint32_t value)
{
    char tmp[10];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + value % 10u);
        value /= 10u;
    } while (value != 0u);
    while (n > 0) {
        *dst++ = tmp[--n];
    }
    *dst = '\0';
    return dst;
}

char *soi_fmt_hex8(char *dst, const int8_t *bytes, uint32_t count)
{
    static const char digits[] = "0123456789abcdef";
    for (uint32_t i = 0; i < count; i++) {
        const uint8_t b = (uint8_t)bytes[i];
        *dst++ = digits[b >> 4];
        *dst++ = digits[b & 0xFu];
    }
    *dst = '\0';
    return dst;
}
