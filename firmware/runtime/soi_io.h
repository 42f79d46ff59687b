/* Where the harness and the fault reporter write their lines, and how a run ends: semihosting on the
 * QEMU boards (the default), the board's console UART on the Renode boards (SOI_IO_UART, which CMake
 * defines for -DSOI_IO=uart together with the UART's layout and base address from the board file). */
#ifndef SOI_IO_H
#define SOI_IO_H

#include "soi_semihost.h" /* soi_fmt_* (both ways), the semihosting calls */

#if defined(SOI_IO_UART)
#include "soi_uart.h"
static inline void soi_io_write(const char *text) { soi_uart_write(text); }
__attribute__((noreturn)) static inline void soi_io_exit(int code) { soi_uart_exit(code); }
#else
static inline void soi_io_write(const char *text) { soi_sh_write0(text); }
__attribute__((noreturn)) static inline void soi_io_exit(int code) { soi_sh_exit(code); }
#endif

#endif
