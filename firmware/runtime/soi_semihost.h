/* Semihosting calls used by the simulation harness (ARMv7-M / ARMv8-M, BKPT 0xAB). */
#ifndef SOI_SEMIHOST_H
#define SOI_SEMIHOST_H

#include <stdint.h>

/* Print a NUL-terminated string on the host's stdout (SYS_WRITE0). */
void soi_sh_write0(const char *text);

/* End the simulation; QEMU exits with `code` (SYS_EXIT_EXTENDED). Never returns. */
void soi_sh_exit(int code) __attribute__((noreturn));

/* Small formatting helpers so that the harness needs no printf (and no heap). */
char *soi_fmt_u32(char *dst, uint32_t value);
char *soi_fmt_hex8(char *dst, const int8_t *bytes, uint32_t count);

#endif
