/* Minimal Cortex-M startup for the simulation harness: vector table, .data/.bss set-up, stack
 * painting (for the high-water mark), FPU enable, and a fault handler that reports over
 * semihosting or the UART (soi_io.h) instead of hanging. */
#include <stdint.h>

#include "soi_io.h"

extern uint32_t __data_load__, __data_start__, __data_end__;
extern uint32_t __bss_start__, __bss_end__;
extern uint32_t __stack_limit__, __stack_top__;

int main(void);
void Reset_Handler(void);
void Fault_Handler(void);

#define SOI_STACK_PAINT 0xA5C3A5C3u
/* The lowest 64 bytes of the stack are its guard (STACK_GUARD_BYTES in soi_mcu/target/harness_output.py). */
#define SOI_STACK_GUARD_WORDS 16u

__attribute__((naked, noreturn)) void Reset_Handler(void)
{
    /* Paint the stack below the current SP before anything else uses it. The loop runs on
     * registers only, so no stack word is written while it paints. */
    __asm__ volatile(
        "ldr r0, =__stack_limit__\n"
        "mov r1, sp\n"
        "sub r1, r1, #64\n"
        "ldr r2, =0xA5C3A5C3\n"
        "1: cmp r0, r1\n"
        "bhs 2f\n"
        "str r2, [r0], #4\n"
        "b 1b\n"
        "2: b soi_c_start\n");
}

__attribute__((used, noreturn)) void soi_c_start(void);
__attribute__((used, noreturn)) void soi_c_start(void)
{
#if defined(__ARM_FP) || defined(__ARM_FEATURE_MVE)
    /* CPACR: full access to CP10/CP11 so that FPU and MVE (Helium) instructions do not fault with a
     * NOCP UsageFault. On Armv8.1-M, MVE is gated by CP10/CP11 like the FPU, so integer-only MVE builds
     * (e.g. -mcpu=cortex-m55+nofp, where __ARM_FP is undefined) need it too. On the TrustZone cores
     * (M33, M55) QEMU starts in Secure state and this writes the Secure CPACR, which is all that
     * Secure-only firmware needs (NSACR only matters for Non-secure code). The loop/branch cache
     * enable CCR.LOB is left at its reset value: WLS/DLS/LE execute either way. This comes first,
     * before any C loop that the compiler might vectorize or turn into a library call. */
    volatile uint32_t *cpacr = (volatile uint32_t *)0xE000ED88u;
    *cpacr |= (0xFu << 20);
    __asm__ volatile("dsb\n isb" ::: "memory");
#endif
    uint32_t *src = &__data_load__;
    for (uint32_t *dst = &__data_start__; dst < &__data_end__;) {
        *dst++ = *src++;
    }
    for (uint32_t *dst = &__bss_start__; dst < &__bss_end__;) {
        *dst++ = 0u;
    }
    soi_io_exit(main());
}

/* Naked, so that no prologue moves SP before the exception frame is located: the frame's address is
 * taken from MSP or PSP (EXC_RETURN bit 2) and handed to the C reporter in r0. */
__attribute__((naked, noreturn)) void Fault_Handler(void)
{
    __asm__ volatile(
        "tst lr, #4\n"
        "ite eq\n"
        "mrseq r0, msp\n"
        "mrsne r0, psp\n"
        "b soi_fault_report\n");
}

__attribute__((used, noreturn)) void soi_fault_report(const uint32_t *frame);
__attribute__((used, noreturn)) void soi_fault_report(const uint32_t *frame)
{
    /* Report the stacked PC (word 6 of the basic and of the extended frame) and the fault status
     * registers; the toolkit maps PC to a symbol. */
    static char line[128];
    char *p = line;
    const char *tag = "SOI_FAULT pc=";
    while (*tag) *p++ = *tag++;
    p = soi_fmt_u32(p, frame[6]);
    const char *tag2 = " cfsr=";
    while (*tag2) *p++ = *tag2++;
    p = soi_fmt_u32(p, *(volatile uint32_t *)0xE000ED28u);
    const char *tag3 = " hfsr=";
    while (*tag3) *p++ = *tag3++;
    p = soi_fmt_u32(p, *(volatile uint32_t *)0xE000ED2Cu);
    /* Where the stack was, and whether it ran past its end: the stack sits above .bss, so an overflow
     * first corrupts the model's data and the fault shows up inside a kernel. The exception frame's
     * address is the SP at the fault; guard=0 means the painted guard words at the bottom of the stack
     * were overwritten (the stack reached its end, even if SP has come back up since). */
    const char *tag4 = " sp=";
    while (*tag4) *p++ = *tag4++;
    p = soi_fmt_u32(p, (uint32_t)(uintptr_t)frame);
    const char *tag5 = " guard=";
    while (*tag5) *p++ = *tag5++;
    uint32_t intact = 1u;
    /* through an integer: the guard is memory after the linker symbol, not an array the compiler knows */
    const volatile uint32_t *guard = (const volatile uint32_t *)(uintptr_t)&__stack_limit__;
    for (unsigned i = 0; i < SOI_STACK_GUARD_WORDS; i++) {
        intact &= (guard[i] == SOI_STACK_PAINT);
    }
    *p++ = intact ? '1' : '0';
    *p++ = '\n';
    *p = '\0';
    soi_io_write(line);
    soi_io_exit(3);
}

typedef void (*soi_vector)(void);

__attribute__((section(".vectors"), used)) const soi_vector soi_vector_table[16] = {
    (soi_vector)(uintptr_t)&__stack_top__,
    Reset_Handler,
    Fault_Handler, /* NMI */
    Fault_Handler, /* HardFault */
    Fault_Handler, /* MemManage */
    Fault_Handler, /* BusFault */
    Fault_Handler, /* UsageFault */
    Fault_Handler, /* SecureFault (v8-M) */
    0, 0, 0,
    Fault_Handler, /* SVC */
    Fault_Handler, /* DebugMon */
    0,
    Fault_Handler, /* PendSV */
    Fault_Handler, /* SysTick */
};
