/* Profiling markers. The QEMU cycle plugin is given the addresses of these functions (read from
 * the ELF's symbols) and snapshots its instruction and cycle counters each time one is entered;
 * the firmware itself needs no cycle counter (QEMU does not model DWT->CYCCNT). */
#ifndef SOI_PROFILE_H
#define SOI_PROFILE_H

void soi_mark_begin(void);
void soi_mark_end(void);
void soi_mark_pre_begin(void);
void soi_mark_pre_end(void);

/* Stack high-water mark in bytes, from the pattern painted by the reset handler. */
unsigned soi_stack_peak_bytes(void);
/* Whether the guard words at the bottom of the stack still hold the paint: 0 once the stack has reached
 * its end (and so overwritten the data below it). Checked by the harness after every step. */
int soi_stack_guard_intact(void);

#endif
