/* Polled UART transmit for the Renode boards: the harness's report lines go to the console UART that
 * the board file names (boards/<board>.toml, [uart]), where Renode's terminal tester reads them.
 *
 * Built with exactly one register layout, chosen by CMake from the board file (-DSOI_UART=...):
 *   SOI_UART_STM32_USART_V1  STM32F1/F2/F4 USART: SR 0x00, DR 0x04, BRR 0x08, CR1 0x0C (Renode STM32_UART)
 *   SOI_UART_STM32_USART_V2  STM32F0/F3/F7/L4/H7 USART: CR1 0x00, BRR 0x0C, ISR 0x1C, TDR 0x28 (Renode STM32F7_USART)
 *   SOI_UART_NRF_UARTE       nRF52 UARTE (EasyDMA): ENABLE 0x500, TXD.PTR 0x544, TXD.MAXCNT 0x548 (Renode
 *                            NRF52840_UART with easyDMA: true, as in platforms/cpus/nrf52840.repl)
 * and the peripheral's base address -DSOI_UART_BASE=0x...u.
 *
 * This is a simulation console, not a driver: clocks and pins stay as after reset (Renode's UART models
 * need neither); on silicon an application uses its own console. */
#ifndef SOI_UART_H
#define SOI_UART_H

/* Send a NUL-terminated string; returns when the last byte has been handed to the UART. The UART is
 * enabled on the first call. */
void soi_uart_write(const char *text);

/* Report the end of the run as a line `SOI_EXIT <code>` and stop (wait for interrupts forever). */
void soi_uart_exit(int code) __attribute__((noreturn));

#endif
