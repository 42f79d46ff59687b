"""Static memory plan: which activation buffers must persist across steps, and an arena shared by
the others with liveness-based reuse.

A buffer is transient when, on every phase it is read, it was written earlier in the same step;
it then carries nothing from one step to the next, and buffers whose live ranges within a step do
not overlap can share arena bytes. Buffers read on steps where they are not written (a frame held
by a duplication, a transposed conv's later frames, deferred work read by the next step) persist.
Reads and writes come from the nodes themselves (typed buffer references), never from C text.
"""

from __future__ import annotations

from dataclasses import dataclass

from soi_mcu.ops.base import BufRef

GROUP_ORDER = ("early", "step", "deferred")  # the order of a step's work (precompute = deferred + early)
ALIGN = 4
NEVER_SHARED = ("input", "soi_input_copy")  # step()'s argument, and the copy deferred work reads


@dataclass(frozen=True)
class MemoryPlan:
    arena_bytes: int
    offsets: dict[str, int]  # transient buffer -> offset in the arena
    persistent: dict[str, int]  # buffer -> bytes, kept in its own static array

    def total(self) -> int:
        return self.arena_bytes + sum(self.persistent.values())


def plan_memory(buffers: dict[str, int], groups: dict, phases: int, output_buffer: BufRef) -> MemoryPlan:
    names = list(buffers)
    writes: dict[str, dict[int, list[int]]] = {n: {} for n in names}
    reads: dict[str, dict[int, list[int]]] = {n: {} for n in names}
    pos = 0
    end_of_step = 0
    for g in GROUP_ORDER:
        for action in groups[g]:
            read = {r.activation_buffer for r in action.node.reads(action.what)}
            written = {w.activation_buffer for w in action.node.writes(action.what)}
            for p in range(phases):
                if action.mask >> p & 1:
                    for n in read & reads.keys():
                        reads[n].setdefault(p, []).append(pos)
                    for n in written & writes.keys():
                        writes[n].setdefault(p, []).append(pos)
            pos += 1
        if g == "step":  # step() copies the output buffer out at its end
            end_of_step = pos
            pos += 1
    if output_buffer.activation_buffer in reads:
        for p in range(phases):
            reads[output_buffer.activation_buffer].setdefault(p, []).append(end_of_step)
    persistent: dict[str, int] = {}
    intervals: list[tuple[int, int, str]] = []
    for n in names:
        transient = bool(writes[n]) and all(
            p in writes[n] and min(writes[n][p]) < min(rs) for p, rs in reads[n].items()
        ) and n not in NEVER_SHARED
        if transient:
            start = min(min(w) for w in writes[n].values())
            end = max([max(r) for r in reads[n].values()] + [max(max(w) for w in writes[n].values())])
            intervals.append((start, end, n))
        else:
            persistent[n] = buffers[n]
    offsets: dict[str, int] = {}
    placed: list[tuple[int, int, int, int]] = []  # (start, end, offset, size)
    for start, end, n in sorted(intervals):
        size = -(-buffers[n] // ALIGN) * ALIGN
        live = sorted((o, s) for (a, b, o, s) in placed if not (b < start or end < a))
        offset = 0
        for o, s in live:  # first fit among the buffers live at the same time
            if offset + size <= o:
                break
            offset = max(offset, o + s)
        offsets[n] = offset
        placed.append((start, end, offset, size))
    arena = max((o + s for (_, _, o, s) in placed), default=0)
    return MemoryPlan(arena, offsets, persistent)
