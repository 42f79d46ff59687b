#include "soi_profile.h"

#include <stdint.h>

/* noipa: the markers must stay real calls at fixed addresses, whatever the optimiser proves. */
__attribute__((noipa, noinline)) void soi_mark_begin(void) { __asm__ volatile("" ::: "memory"); }
__attribute__((noipa, noinline)) void soi_mark_end(void) { __asm__ volatile("" ::: "memory"); }
__attribute__((noipa, noinline)) void soi_mark_pre_begin(void) { __asm__ volatile("" ::: "memory"); }
__attribute__((noipa, noinline)) void soi_mark_pre_end(void) { __asm__ volatile("" ::: "memory"); }

extern uint32_t __stack_limit__;
extern uint32_t __stack_top__;
#define SOI_STACK_PAINT 0xA5C3A5C3u

unsigned soi_stack_peak_bytes(void)
{
    const uint32_t *p = &__stack_limit__;
    while (p < &__stack_top__ && *p == SOI_STACK_PAINT) {
        p++;
    }
    return (unsigned)((uintptr_t)&__stack_top__ - (uintptr_t)p);
}

/* The lowest 64 bytes of the stack are its guard (STACK_GUARD_BYTES in soi_mcu/target/harness_output.py):
 * painted at reset and never used by a stack that fits. */
#define SOI_STACK_GUARD_WORDS 16u

int soi_stack_guard_intact(void)
{
    /* through an integer: the guard is memory after the linker symbol, not an array the compiler knows */
    const volatile uint32_t *p = (const volatile uint32_t *)(uintptr_t)&__stack_limit__;
    for (unsigned i = 0; i < SOI_STACK_GUARD_WORDS; i++) {
        if (p[i] != SOI_STACK_PAINT) {
            return 0;
        }
    }
    return 1;
}
