/* Polled UART transmit for the Renode boards; see soi_uart.h for the register layouts. Register
 * offsets and bits are the ones Renode's models implement (STM32_UART, STM32F7_USART, NRF52840_UART),
 * which are also the reference manuals' ones. */
#include "soi_uart.h"

#include <stdint.h>

#ifndef SOI_UART_BASE
#error "define SOI_UART_BASE: the UART's base address from the board file ([uart] base)"
#endif

#define SOI_REG(offset) (*(volatile uint32_t *)((uintptr_t)(SOI_UART_BASE) + (offset)))

/* USART_BRR for 115200 baud from the 16 MHz HSI that STM32 parts run on after reset. Renode ignores
 * the rate; the value only keeps the configuration coherent. */
#define SOI_STM32_BRR_115200_HSI16 139u

#if defined(SOI_UART_STM32_USART_V1)

#define USART_SR 0x00u
#define USART_DR 0x04u
#define USART_BRR 0x08u
#define USART_CR1 0x0Cu
#define USART_SR_TC (1u << 6)
#define USART_SR_TXE (1u << 7)
#define USART_CR1_TE (1u << 3)
#define USART_CR1_UE (1u << 13)

static void uart_enable(void)
{
    SOI_REG(USART_BRR) = SOI_STM32_BRR_115200_HSI16;
    SOI_REG(USART_CR1) = USART_CR1_UE | USART_CR1_TE;
}

static void uart_send(const char *text)
{
    for (; *text; text++) {
        while ((SOI_REG(USART_SR) & USART_SR_TXE) == 0u) {
        }
        SOI_REG(USART_DR) = (uint8_t)*text;
    }
    while ((SOI_REG(USART_SR) & USART_SR_TC) == 0u) {
    }
}

#elif defined(SOI_UART_STM32_USART_V2)

#define USART_CR1 0x00u
#define USART_BRR 0x0Cu
#define USART_ISR 0x1Cu
#define USART_TDR 0x28u
#define USART_CR1_UE (1u << 0)
#define USART_CR1_TE (1u << 3)
#define USART_ISR_TC (1u << 6)
#define USART_ISR_TXE (1u << 7)

static void uart_enable(void)
{
    SOI_REG(USART_BRR) = SOI_STM32_BRR_115200_HSI16;
    SOI_REG(USART_CR1) = USART_CR1_UE | USART_CR1_TE;
}

static void uart_send(const char *text)
{
    for (; *text; text++) {
        while ((SOI_REG(USART_ISR) & USART_ISR_TXE) == 0u) {
        }
        SOI_REG(USART_TDR) = (uint8_t)*text;
    }
    while ((SOI_REG(USART_ISR) & USART_ISR_TC) == 0u) {
    }
}

#elif defined(SOI_UART_NRF_UARTE)

#define UARTE_TASKS_STARTTX 0x008u
#define UARTE_EVENTS_ENDTX 0x120u
#define UARTE_ENABLE 0x500u
#define UARTE_BAUDRATE 0x524u
#define UARTE_TXD_PTR 0x544u
#define UARTE_TXD_MAXCNT 0x548u
#define UARTE_ENABLE_UARTE 8u
#define UARTE_BAUDRATE_115200 0x01D7E000u

static void uart_enable(void)
{
    SOI_REG(UARTE_BAUDRATE) = UARTE_BAUDRATE_115200;
    SOI_REG(UARTE_ENABLE) = UARTE_ENABLE_UARTE;
}

static void uart_send(const char *text)
{
    /* EasyDMA reads from RAM only, so each chunk is copied to a RAM buffer first. */
    static uint8_t chunk[64];
    while (*text) {
        uint32_t n = 0;
        while (n < sizeof chunk && text[n]) {
            chunk[n] = (uint8_t)text[n];
            n++;
        }
        SOI_REG(UARTE_EVENTS_ENDTX) = 0u;
        SOI_REG(UARTE_TXD_PTR) = (uint32_t)(uintptr_t)chunk;
        SOI_REG(UARTE_TXD_MAXCNT) = n;
        __asm__ volatile("dsb" ::: "memory");
        SOI_REG(UARTE_TASKS_STARTTX) = 1u;
        while (SOI_REG(UARTE_EVENTS_ENDTX) == 0u) {
        }
        text += n;
    }
}

#else
#error "define one of SOI_UART_STM32_USART_V1, SOI_UART_STM32_USART_V2, SOI_UART_NRF_UARTE (board file [uart] kind)"
#endif

void soi_uart_write(const char *text)
{
    static int enabled;
    if (!enabled) {
        uart_enable();
        enabled = 1;
    }
    uart_send(text);
}

void soi_uart_exit(int code)
{
    char line[24] = "SOI_EXIT ";
    char *p = line + 9;
    uint32_t value = (uint32_t)code;
    if (code < 0) {
        *p++ = '-';
        value = 0u - value;
    }
    char digits[10];
    int n = 0;
    do {
        digits[n++] = (char)('0' + value % 10u);
        value /= 10u;
    } while (value != 0u);
    while (n > 0) {
        *p++ = digits[--n];
    }
    *p++ = '\n';
    *p = '\0';
    soi_uart_write(line);
    for (;;) {
        __asm__ volatile("wfi");
    }
}
